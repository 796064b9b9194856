"""lab probe in real labs (root): NodePort and ClusterIP probes on the seed, and
externalTrafficPolicy: Local keeping the client's address on the load-balancer scenario."""

import json
import os
import time

import pytest

from factories import SEED_CLIENT as CLIENT, SEED_CLUSTER_IP as CLUSTER_IP, SEED_NODE_IPS as NODE_IPS
from factories import SEED_POD_MASTER as POD_MASTER, SEED_PODS as PODS
from factories import SCENARIOS, Lab, run_lab, unique_lab_name


def probe(lab_name, *args, timeout=20):
    start = time.monotonic()
    r = run_lab("probe", *args, "--lab", lab_name, "--json", timeout=timeout)
    return json.loads(r.stdout), time.monotonic() - start


def no_connections_left(lab, port):
    out = lab.ip_netns_exec("client", "ss", "-Htn", "state", "syn-sent", "state", "established",
                            f"( dport = :{port} )").stdout
    return out.strip() == ""


def test_nodeport_probe_from_the_client(seed_lab):
    landed = set()
    for _ in range(4):
        report, seconds = probe(seed_lab.name, "nodeport", "client", "node1", "30090")
        assert seconds < 10
        assert report["connection"]["outcome"] == "connected"
        pod = report["landed"]["pod"]
        landed.add(pod)
        pod_ip, pod_node = PODS[pod]
        assert report["landed"] == {"pod": pod, "node": pod_node, "address": f"{pod_ip}:8080"}
        assert report["dnat"]["from"] == "192.168.179.100:30090" and report["dnat"]["to"] == f"{pod_ip}:8080"
        # neither seed pod is on node1: the SYN leaves node1 masqueraded to node1's own address
        assert report["snat"]["to"].startswith("192.168.179.100:") and not report["snat"]["port_only"]
        assert report["snat"]["from"] == f"{CLIENT}:{report['sent']['sport']}"
        hops = [(h["machine"], h["direction"], h["src"], h["dst"], h["dport"]) for h in report["syn"]]
        assert hops == [("client", "out", CLIENT, "192.168.179.100", 30090),
                        ("node1", "in", CLIENT, "192.168.179.100", 30090),
                        ("node1", "out", "192.168.179.100", pod_ip, 8080),
                        (pod_node, "in", "192.168.179.100", pod_ip, 8080),
                        (pod, "in", "192.168.179.100", pod_ip, 8080)]
        # the answer comes back un-NATed, from the address the client called
        last = report["reply"][-1]
        assert (last["machine"], last["src"], last["sport"], last["dst"]) == ("client", "192.168.179.100", 30090,
                                                                              CLIENT)
    assert landed <= set(PODS)
    assert no_connections_left(seed_lab, 30090)

    text = run_lab("probe", "nodeport", "client", "node1", "30090", "--lab", seed_lab.name, timeout=20).stdout
    assert "client eth0 out" in text and "192.168.179.200:" in text and "-> 192.168.179.100:30090   SYN" in text
    assert ("(DNAT: destination rewritten to pod:targetPort; SNAT: source rewritten to node node1's address)"
            in text)


def test_nodeport_probe_to_a_node_with_a_local_pod(seed_lab):
    # master holds one of the two pods: to it, the masquerade source is master's cni0 (10.244.0.1);
    # to the pod on node2, master's LAN address
    for _ in range(4):
        report, _ = probe(seed_lab.name, "nodeport", "client", "master", "30090")
        pod = report["landed"]["pod"]
        expected = "10.244.0.1" if pod == POD_MASTER else "192.168.179.99"
        assert report["snat"]["to"].split(":")[0] == expected
        assert report["dnat"]["to"] == f"{PODS[pod][0]}:8080"


def test_clusterip_probe_from_the_client_gets_nothing(seed_lab):
    report, seconds = probe(seed_lab.name, "clusterip", "client", CLUSTER_IP)
    assert seconds < 10
    target, control = report["arp"]["queries"]
    assert target["target"] == CLUSTER_IP and target["answers"] == []
    assert control["target"] == "192.168.179.1" and len(control["answers"]) == 1
    assert report["arp_answered"] is False
    assert report["connection"]["outcome"] == "timeout" and report["reachable"] is False
    assert report["landed"] is None and report["dnat"] is None
    assert [(h["machine"], h["direction"]) for h in report["syn"]] == [("client", "out"), ("lan", "in")]
    assert no_connections_left(seed_lab, 3000)
    text = run_lab("probe", "clusterip", "client", CLUSTER_IP, "--lab", seed_lab.name, timeout=20).stdout
    assert "(the ClusterIP)" in text and "no answer" in text and "unreachable" in text


def test_clusterip_probe_from_a_node_shows_the_dnat(seed_lab):
    report, _ = probe(seed_lab.name, "clusterip", "node1", CLUSTER_IP)
    assert report["arp_answered"] is False  # no one holds a ClusterIP, not even a node
    assert report["reachable"] is True
    pod = report["landed"]["pod"]
    assert report["dnat"] == {"from": f"{CLUSTER_IP}:3000", "to": f"{PODS[pod][0]}:8080", "pod": pod,
                              "node": PODS[pod][1]}


def test_probe_user_errors(seed_lab):
    r = run_lab("probe", "nodeport", "client", "node9", "30090", "--lab", seed_lab.name, check=False)
    assert r.returncode == 2 and r.stderr.startswith("error: no node named 'node9'") and "Traceback" not in r.stderr
    r = run_lab("probe", "clusterip", "client", "not-an-ip", "--lab", seed_lab.name, check=False)
    assert r.returncode == 2 and "is not an IPv4 address" in r.stderr


@pytest.fixture(scope="module")
def lb_lab():
    lab = Lab(os.path.join(SCENARIOS, "loadbalancer.yml"), unique_lab_name("p"))
    try:
        lab.up()
        yield lab
    finally:
        run_lab("down", lab.name, check=False)


def test_local_policy_keeps_the_client_address(lb_lab):
    services = {s["metadata"]["name"]: s for s in json.loads(lb_lab.get("svc", "-o", "json"))["items"]}
    local_port = services["echo-local"]["spec"]["ports"][0]["nodePort"]
    cluster_port = services["echo-cluster"]["spec"]["ports"][0]["nodePort"]
    assert services["echo-local"]["spec"]["externalTrafficPolicy"] == "Local"
    pods = {p["status"]["hostIP"]: (p["metadata"]["name"], p["status"]["podIP"])
            for p in json.loads(lb_lab.get("pods", "-o", "json"))["items"]}
    node_names = {ip: name for name, ip in NODE_IPS.items()}
    with_pod = [node_names[ip] for ip in sorted(pods)]
    without_pod = [n for n in NODE_IPS if n not in with_pod]
    assert with_pod and without_pod

    node = with_pod[0]
    pod_name, pod_ip = pods[NODE_IPS[node]]
    report, _ = probe(lb_lab.name, "nodeport", "client", node, str(local_port))
    assert report["service"]["external_traffic_policy"] == "Local"
    assert report["landed"] == {"pod": pod_name, "node": node, "address": f"{pod_ip}:8080"}
    assert report["snat"] is None
    arrived = report["syn"][-1]
    assert (arrived["src"], arrived["sport"]) == (CLIENT, report["sent"]["sport"])  # the client's own address
    assert report["dnat"] == {"from": f"{NODE_IPS[node]}:{local_port}", "to": f"{pod_ip}:8080", "pod": pod_name,
                              "node": node}
    text = run_lab("probe", "nodeport", "client", node, str(local_port), "--lab", lb_lab.name, timeout=20).stdout
    assert "no SNAT: the client's address is kept, externalTrafficPolicy: Local" in text

    # a node without a local pod drops Local traffic (bounded by the probe's timeout)
    report, seconds = probe(lb_lab.name, "nodeport", "client", without_pod[0], str(local_port), "--timeout", "1")
    assert report["landed"] is None and report["connection"]["outcome"] == "timeout" and seconds < 10
    assert any("externalTrafficPolicy is Local" in line for line in report["explanation"])

    # the Cluster service on the same node: masqueraded
    report, _ = probe(lb_lab.name, "nodeport", "client", node, str(cluster_port))
    assert report["snat"] is not None and report["snat"]["from"].startswith(CLIENT + ":")
    assert report["syn"][-1]["src"] != CLIENT
