"""lab trace end to end on a seed lab: a NodePort from the client and a ClusterIP from a pod, traced
through the real xtables-monitor, with no TRACE rule (and no raw table) left behind."""

import json
import os
import subprocess

from factories import run_lab


def _raw_tables(lab_name):
    """{netns: (TRACE rules in its raw table, whether it has a raw table at all)} for the lab's namespaces."""
    found = {}
    for ns in sorted(os.listdir("/run/netns")):
        if not ns.startswith(lab_name + "-"):
            continue
        saved = subprocess.run(["ip", "netns", "exec", ns, "iptables-save", "-t", "raw"], capture_output=True,
                               text=True, timeout=30).stdout
        tables = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "tables"], capture_output=True,
                                text=True, timeout=30).stdout
        found[ns] = ([line for line in saved.splitlines() if "TRACE" in line], "table ip raw" in tables.splitlines())
    return found


def _assert_nothing_left(before, after):
    assert {ns: rules for ns, (rules, _) in after.items() if rules} == {}  # no TRACE rule anywhere
    assert after == before  # and no raw table that was not there before


def test_trace_nodeport_from_client(seed_lab):
    before = _raw_tables(seed_lab.name)
    r = run_lab("trace", "client", "http://192.168.179.100:30090", "--lab", seed_lab.name, timeout=60)
    out = r.stdout
    lines = out.splitlines()
    assert f"{seed_lab.name}-node1 (node node1)" in lines
    assert any("nat KUBE-NODEPORTS" in line and "--dport 30090" in line for line in lines)
    svc = [line for line in lines if "-j KUBE-SVC-GFPAJ7EGCNM4QF4H" in line]
    assert svc and all(line.endswith("(default/nodeport-svc:)") for line in svc)
    pods = {"10.244.0.23": "pod-nodeport-6cc49c7999-gdqbg", "10.244.2.14": "pod-nodeport-6cc49c7999-5fjdh"}
    sep = next(line for line in lines if "-j KUBE-SEP-" in line)
    pod_ip = next(ip for ip in pods if ip in sep)
    assert sep.endswith(f"(default/nodeport-svc: -> {pods[pod_ip]} {pod_ip}:8080)")
    assert f"verdict DNAT to {pod_ip}:8080" in [line.strip() for line in lines]
    assert f"answer: You've hit {pods[pod_ip]}" in out
    _assert_nothing_left(before, _raw_tables(seed_lab.name))


def test_trace_json_from_a_pod(seed_lab):
    before = _raw_tables(seed_lab.name)
    r = run_lab("trace", "pod-nodeport-6cc49c7999-gdqbg", "10.105.182.209:3000", "--json", "--lab", seed_lab.name,
                timeout=60)
    report = json.loads(r.stdout)
    assert report["probe"]["result"] == "established"
    names = [ns["netns"] for ns in report["namespaces"]]
    assert names[0] == f"{seed_lab.name}-pod-nodeport-6cc49c7999-gdqbg" and f"{seed_lab.name}-master" in names
    master = next(ns for ns in report["namespaces"] if ns["netns"] == f"{seed_lab.name}-master")
    actions = [s["action"] for hop in master["hops"] for s in hop["steps"]]
    assert any(a in actions for a in ("DNAT to 10.244.0.23:8080", "DNAT to 10.244.2.14:8080"))
    assert report["chains"]["KUBE-SVC-GFPAJ7EGCNM4QF4H"] == "default/nodeport-svc:"
    _assert_nothing_left(before, _raw_tables(seed_lab.name))


def test_trace_bad_input_is_one_line(seed_lab):
    for args in (["nosuchpod", "http://192.168.179.100:30090"], ["client", "nodeport-svc:3000"]):
        r = run_lab("trace", *args, "--lab", seed_lab.name, check=False)
        assert r.returncode == 2 and r.stderr.startswith("error: ") and len(r.stderr.splitlines()) == 1
