"""``lab explain svc|pod`` in real labs: the seed (text, JSON, what the kernel really holds), the
features scenario and a lab in nftables mode. The rule walker itself is tests/unit/test_explain.py."""

import json
import subprocess

import pytest

from factories import lab_fixture, run_lab
from lab.classroom.explain import words


def _flat(steps):
    for s in steps:
        yield s
        yield from _flat(s.get("steps", []))


seed = lab_fixture("seed.yml", "xs")
features = lab_fixture("features.yml", "xf")
nft = lab_fixture("nodeport-nft.yml", "xn")


def _explain(lab, *args, check=True):
    return run_lab("explain", *args, "--lab", lab.name, check=check)


def test_seed_text_names_every_chain(seed):
    out = _explain(seed, "svc", "nodeport-svc").stdout
    assert out.count("== node ") == 3
    for node_ip in ("192.168.179.99", "192.168.179.100", "192.168.179.101"):
        assert f"NodePort {node_ip}:30090/TCP" in out
    assert "-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/nodeport-svc:\" -m tcp --dport 30090 " \
           "-j KUBE-SVC-GFPAJ7EGCNM4QF4H" in out
    assert "KUBE-SEP-TWG53VPX4RADGFC6 = default/nodeport-svc: -> pod-nodeport-6cc49c7999-gdqbg 10.244.0.23:8080" in out
    assert "1/2 of new connections" in out and "the rest = 1/2" in out
    assert "masqueraded always: the pod sees node1's address" in out
    assert "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000" in out


def test_seed_json_per_node(seed):
    report = json.loads(_explain(seed, "svc", "nodeport-svc", "--node", "master", "-o", "json").stdout)
    assert [n["node"] for n in report["nodes"]] == ["master"]
    entries = {e["kind"]: e for e in report["nodes"][0]["entries"]}
    local = [w for w in entries["NodePort"]["words"] if w["pod_node"] == "master"][0]
    assert local["seen_source"].startswith("10.244.0.1") and local["share"] == "1/2"
    rules = [s["rule"] for st in entries["ClusterIP"]["stages"] for s in _flat(st["steps"])]
    assert any(r.startswith("-A KUBE-SEP-TWG53VPX4RADGFC6 -s 10.244.0.23/32") for r in rules)


def test_explain_pod_reads_the_kernel(seed):
    out = _explain(seed, "pod", "pod-nodeport-6cc49c7999-gdqbg").stdout
    report = json.loads(_explain(seed, "pod", "pod-nodeport-6cc49c7999-gdqbg", "-o", "json").stdout)
    assert report["interface"]["addresses"] == ["10.244.0.23/24"]
    assert report["peer"]["master"] == "cni0" and report["peer"]["hairpin"] is True
    assert report["peer"]["name"] == report["expected_host_veth"]
    assert any(r.startswith("default via 10.244.0.1 dev eth0") for r in report["routes"])
    assert "nameserver 10.96.0.10" in report["resolv_conf"]
    assert report["services"] == [{"namespace": "default", "name": "nodeport-svc", "clusterIP": "10.105.182.209",
                                   "endpoint": True}]
    assert "port of bridge cni0, UP, hairpin on" in out and "search default.svc.cluster.local" in out


@pytest.mark.parametrize("args, message", [
    (("svc", "nope"), 'no service "nope" in namespace default'),
    (("pod", "nope"), 'no pod "nope"'),
    (("svc", "nodeport-svc", "--node", "node9"), "no node 'node9'"),
    (("deployment", "x"), "explains svc or pod"),
])
def test_bad_input_is_one_line(seed, args, message):
    r = _explain(seed, *args, check=False)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_shows_what_is_really_there(seed):
    """A student deletes node1's NodePort masquerade rule: explain says node1 no longer masquerades."""
    rule = ["-p", "tcp", "-m", "comment", "--comment", "default/nodeport-svc:", "-m", "tcp", "--dport", "30090",
            "-j", "KUBE-MARK-MASQ"]
    subprocess.run(["ip", "netns", "exec", seed.netns("node1"), "iptables", "-t", "nat", "-D", "KUBE-NODEPORTS",
                    *rule], check=True)
    try:
        report = json.loads(_explain(seed, "svc", "nodeport-svc", "--node", "node1", "-o", "json").stdout)
        nodeport = [e for e in report["nodes"][0]["entries"] if e["kind"] == "NodePort"][0]
        assert [w["masquerade"] for w in nodeport["words"]] == [[words.HAIRPIN]] * 2
    finally:
        subprocess.run(["ip", "netns", "exec", seed.netns("node1"), "iptables", "-t", "nat", "-I", "KUBE-NODEPORTS",
                        "1", *rule], check=True)


def test_features_affinity_and_internal_local(features):
    out = _explain(features, "svc", "sticky", "--node", "node1").stdout
    assert "1/3 of new connections" in out and "1/2 of the rest = 1/3" in out and "the rest = 1/3" in out
    assert "session affinity: -m recent list KUBE-SEP-" in out
    report = json.loads(_explain(features, "svc", "node-local", "-o", "json").stdout)
    for n in report["nodes"]:
        clusterip = n["entries"][0]
        pods_there = [w["pod_node"] for w in clusterip["words"] if w["verdict"] == "DNAT"]
        assert pods_there == [n["node"]], n["node"]  # internalTrafficPolicy Local: the node's own pod only


def test_features_source_ranges_drop_others(features):
    report = json.loads(_explain(features, "svc", "ranges", "--node", "node1", "-o", "json").stdout)
    lb = [e for e in report["nodes"][0]["entries"] if e["kind"] == "LoadBalancer IP"][0]
    allowed = [w for w in lb["words"] if w["verdict"] == "DNAT"]
    assert allowed and all("10.244.0.0/24" in w["conditions"][0] for w in allowed)
    assert [w["verdict"] for w in lb["words"] if w["verdict"] != "DNAT"] == ["DROP"]


def test_nftables_lab(nft):
    out = _explain(nft, "svc", "nodeport-svc", "--node", "node2").stdout
    assert "nft list table ip kube-proxy" in out
    assert "numgen random mod 2 vmap" in out and "1/2 of new connections" in out
    assert "chosen by @service-nodeports element tcp . 30090" in out
    assert "masqueraded always" in out
