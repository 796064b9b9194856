"""A lab in kube-proxy's nftables mode (scenarios/nodeport-nft.yml, up under a unique lab name),
against the iptables suite's reachability checks, and live changes that resync the kube-proxy table.
"""

import collections
import json
import os
import re
import shutil
import time

import pytest

from factories import SCENARIOS, Lab, netns_list, run_lab, unique_lab_name
from lab.kernel.record import find_running
from lab.proxy import names


NODE_IPS = {"master": "192.168.179.99", "node1": "192.168.179.100", "node2": "192.168.179.101"}


def hit(body):
    m = re.fullmatch(r"You've hit (\S+)\n", body or "")
    return m.group(1) if m else None


@pytest.fixture(scope="module")
def nft_lab():
    """scenarios/nodeport-nft.yml, up for the whole module under a unique lab name."""
    if not shutil.which("nft"):
        pytest.skip("loads nftables: nft is not installed")
    lab = Lab(os.path.join(SCENARIOS, "nodeport-nft.yml"), unique_lab_name("n"))
    before = netns_list()
    lab.up()
    try:
        pods = json.loads(lab.get("pods", "-l", "app=myapp", "-o", "json"))["items"]
        lab.pods = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}
        lab.cluster_ip = json.loads(lab.get("svc", "nodeport-svc", "-o", "json"))["spec"]["clusterIP"]
        yield lab
    finally:
        run_lab("down", lab.name, check=False)
        assert not {n for n in netns_list() - before if n.startswith(lab.name + "-")}


def test_client_reaches_every_node_port(nft_lab):
    for node, ip in NODE_IPS.items():
        assert hit(nft_lab.curl("client", f"{ip}:30090")) in nft_lab.pods, node


def test_every_node_reaches_the_cluster_ip(nft_lab):
    for node in NODE_IPS:
        assert hit(nft_lab.curl(node, f"{nft_lab.cluster_ip}:3000")) in nft_lab.pods, node


def test_pods_reach_the_cluster_ip_including_hairpin(nft_lab):
    # a pod lands on itself about half the time: the hairpin path (masqueraded, back out of its port)
    for pod in nft_lab.pods:
        answers = collections.Counter(hit(nft_lab.curl(pod, f"{nft_lab.cluster_ip}:3000")) for _ in range(12))
        assert set(answers) <= set(nft_lab.pods), answers
        assert answers[pod] > 0, f"{pod} never reached itself through the service: {answers}"


def test_pod_to_pod_across_nodes(nft_lab):
    (a, a_ip), (b, b_ip) = sorted(nft_lab.pods.items())
    assert hit(nft_lab.curl(a, f"{b_ip}:8080")) == b
    assert hit(nft_lab.curl(b, f"{a_ip}:8080")) == a


def test_dns_from_a_pod_goes_through_the_nft_rules(nft_lab):
    pod = sorted(nft_lab.pods)[0]
    out = nft_lab.exec(pod, "nslookup", "nodeport-svc").stdout
    assert "Name:\tnodeport-svc.default.svc.cluster.local" in out
    assert f"Address: {nft_lab.cluster_ip}" in out
    table = nft_lab.exec("node1", "nft", "list", "table", "ip", "kube-proxy").stdout
    dns = names.service_chain_base("kube-system", "kube-dns", "udp", "dns")
    assert f"10.96.0.10 . udp . 53 : goto service-{dns}" in table


def test_requests_spread_over_both_pods(nft_lab):
    script = "for i in $(seq 40); do curl -s -m 2 192.168.179.100:30090; done"
    out = nft_lab.exec("client", "sh", "-c", script).stdout
    answers = collections.Counter(hit(line + "\n") for line in out.splitlines())
    assert set(answers) == set(nft_lab.pods), answers
    assert sum(answers.values()) == 40


def test_cluster_ip_is_not_reachable_from_outside(nft_lab):
    assert nft_lab.curl("client", f"{nft_lab.cluster_ip}:3000", timeout=1) is None


def test_nodes_hold_the_kube_proxy_table_and_no_iptables_chains(nft_lab):
    base = names.service_chain_base("default", "nodeport-svc", "tcp", "")
    for node, ip in NODE_IPS.items():
        table = nft_lab.exec(node, "nft", "list", "table", "ip", "kube-proxy").stdout
        assert "map service-ips {" in table and "elements = {" in table.split("map service-ips {")[1]
        assert f"{nft_lab.cluster_ip} . tcp . 3000 : goto service-{base}" in table
        assert f"tcp . 30090 : goto external-{base}" in table
        assert re.search(r"set nodeport-ips \{[^}]*elements = \{ " + re.escape(ip) + " }", table)
        assert "KUBE-" not in nft_lab.exec(node, "iptables-save").stdout
        # no "port opener" since v1.24: nothing listens on the NodePort
        assert ":30090" not in nft_lab.exec(node, "netstat", "-tln").stdout


def test_a_service_without_endpoints_is_refused_at_once(nft_lab, tmp_path):
    manifest = tmp_path / "empty.yml"
    manifest.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: empty}\n"
                        "spec: {type: NodePort, selector: {app: nothing}, ports: [{port: 80, targetPort: 8080, "
                        "nodePort: 30111}]}\n")
    assert "service/empty created" in run_lab("apply", "-f", str(manifest), "--lab", nft_lab.name).stdout
    try:
        cip = json.loads(nft_lab.get("svc", "empty", "-o", "json"))["spec"]["clusterIP"]
        started = time.monotonic()
        # reject-chain answers with ICMP port unreachable: curl says "connection refused" (exit 7)
        assert nft_lab.exec("node1", "curl", "-s", "-m", "5", f"{cip}:80", check=False).returncode == 7
        assert nft_lab.exec(sorted(nft_lab.pods)[0], "curl", "-s", "-m", "5", f"{cip}:80", check=False).returncode == 7
        assert nft_lab.exec("client", "curl", "-s", "-m", "5", "192.168.179.100:30111", check=False).returncode == 7
        assert time.monotonic() - started < 4
        table = nft_lab.exec("node1", "nft", "list", "table", "ip", "kube-proxy").stdout
        assert f'{cip} . tcp . 80 comment "default/empty" : goto reject-chain' in table
        assert 'tcp . 30111 comment "default/empty" : goto reject-chain' in table
    finally:
        run_lab("delete", "svc", "empty", "--lab", nft_lab.name)


def test_added_and_deleted_services_follow(nft_lab, tmp_path):
    manifest = tmp_path / "extra.yml"
    manifest.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: extra}\n"
                        "spec: {type: NodePort, selector: {app: myapp}, sessionAffinity: ClientIP, "
                        "ports: [{port: 80, targetPort: 8080, nodePort: 30112}]}\n")
    run_lab("apply", "-f", str(manifest), "--lab", nft_lab.name)
    base = names.service_chain_base("default", "extra", "tcp", "")
    first = hit(nft_lab.curl("client", "192.168.179.101:30112"))
    assert first in nft_lab.pods
    assert hit(nft_lab.curl("client", "192.168.179.101:30112")) == first  # ClientIP affinity, from the set
    assert f"chain service-{base}" in nft_lab.exec("node2", "nft", "list", "table", "ip", "kube-proxy").stdout
    run_lab("delete", "svc", "extra", "--lab", nft_lab.name)
    assert nft_lab.curl("client", "192.168.179.101:30112", timeout=1) is None
    table = nft_lab.exec("node2", "nft", "list", "table", "ip", "kube-proxy").stdout
    assert "default/extra" not in table  # stale chains and affinity sets removed
    record, _ = find_running(nft_lab.name)
    for node in NODE_IPS:  # every resync was kube-proxy's incremental one, none fell back
        with open(record.path(f"kube-proxy-{node}.log")) as f:
            log = f.read()
        assert "resynced rules" in log and "failed" not in log, log
