"""The seed scenario end to end, in real namespaces, with real curl, netstat and iptables-save."""

import collections
import json
import re

from factories import netns_list

SEED_POD_MASTER = "pod-nodeport-6cc49c7999-gdqbg"
SEED_POD_NODE2 = "pod-nodeport-6cc49c7999-5fjdh"
NODE_IPS = {"master": "192.168.179.99", "node1": "192.168.179.100", "node2": "192.168.179.101"}
CLUSTER_IP = "10.105.182.209"
PODS = {SEED_POD_MASTER: "10.244.0.23", SEED_POD_NODE2: "10.244.2.14"}

# the seed's own output lines, byte for byte
SEED_NODEPORT_LINES = [
    '-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 -j KUBE-MARK-MASQ',
    '-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 '
    '-j KUBE-SVC-GFPAJ7EGCNM4QF4H',
]
SEED_SVC_LINES = [
    '-A KUBE-SVC-GFPAJ7EGCNM4QF4H -m comment --comment "default/nodeport-svc:" -m statistic --mode random '
    '--probability 0.50000000000 -j KUBE-SEP-TWG53VPX4RADGFC6',
    '-A KUBE-SVC-GFPAJ7EGCNM4QF4H -m comment --comment "default/nodeport-svc:" -j KUBE-SEP-YUA4WPOUSEKJIAM2',
]


def hit(body):
    m = re.fullmatch(r"You've hit (\S+)\n", body or "")
    return m.group(1) if m else None


# namespaces and wiring ------------------------------------------------------------------------

def test_namespaces_exist(seed_lab):
    expected = {seed_lab.netns(n) for n in ("master", "node1", "node2", "lan", "client",
                                            SEED_POD_MASTER, SEED_POD_NODE2)}
    assert expected <= netns_list()
    coredns = {n for n in netns_list() if n.startswith(seed_lab.netns("kube-system.coredns-"))}
    assert len(coredns) == 2


def test_pod_wiring(seed_lab):
    out = seed_lab.ip_netns_exec(SEED_POD_NODE2, "ip", "-4", "-o", "addr", "show", "eth0").stdout
    assert "10.244.2.14/24" in out
    routes = seed_lab.ip_netns_exec(SEED_POD_NODE2, "ip", "route").stdout
    assert "default via 10.244.2.1 dev eth0" in routes
    # the pod's veth is a port of the node's cni0 bridge, with hairpin on
    links = seed_lab.ip_netns_exec("node2", "ip", "-d", "link", "show", "master", "cni0").stdout
    assert re.search(r"veth[0-9a-f]{8}@", links)
    assert "hairpin on" in links


def test_node_wiring_and_sysctls(seed_lab):
    addr = seed_lab.ip_netns_exec("node1", "ip", "-4", "-o", "addr").stdout
    assert "192.168.179.100/24" in addr and "10.244.1.1/24" in addr
    routes = seed_lab.ip_netns_exec("node1", "ip", "route").stdout
    assert "default via 192.168.179.1 dev eth0" in routes
    assert "10.244.0.0/24 via 192.168.179.99 dev eth0" in routes
    assert "10.244.2.0/24 via 192.168.179.101 dev eth0" in routes
    for key, value in (("net.ipv4.ip_forward", "1"), ("net.ipv4.conf.all.route_localnet", "1"),
                       ("net.bridge.bridge-nf-call-iptables", "1"), ("net.ipv6.conf.all.disable_ipv6", "1")):
        out = seed_lab.ip_netns_exec("node1", "sysctl", "-n", key).stdout.strip()
        assert out == value, key


# reachability ---------------------------------------------------------------------------------

def test_client_reaches_every_node_port(seed_lab):
    for node, ip in NODE_IPS.items():
        assert hit(seed_lab.curl("client", f"{ip}:30090")) in PODS, node


def test_every_node_reaches_the_cluster_ip(seed_lab):
    for node in NODE_IPS:
        assert hit(seed_lab.curl(node, f"{CLUSTER_IP}:3000")) in PODS, node


def test_pods_reach_the_cluster_ip_including_hairpin(seed_lab):
    # a pod lands on itself about half the time: that is the hairpin path (bridge port back out)
    for pod in PODS:
        answers = collections.Counter(hit(seed_lab.curl(pod, f"{CLUSTER_IP}:3000")) for _ in range(12))
        assert set(answers) <= set(PODS), answers
        assert answers[pod] > 0, f"{pod} never reached itself through the service: {answers}"


def test_pod_to_pod_across_nodes(seed_lab):
    assert hit(seed_lab.curl(SEED_POD_MASTER, "10.244.2.14:8080")) == SEED_POD_NODE2
    assert hit(seed_lab.curl(SEED_POD_NODE2, "10.244.0.23:8080")) == SEED_POD_MASTER


def test_requests_spread_over_both_pods(seed_lab):
    # 40 new connections, p=1/2 each: both pods answer unless something is broken (chance 2^-39)
    script = ("for i in $(seq 40); do curl -s -m 2 192.168.179.100:30090; done")
    out = seed_lab.exec("client", "sh", "-c", script).stdout
    answers = collections.Counter(hit(line + "\n") for line in out.splitlines())
    assert set(answers) == set(PODS), answers
    assert sum(answers.values()) == 40


def test_cluster_ip_is_not_reachable_from_outside(seed_lab):
    assert seed_lab.curl("client", f"{CLUSTER_IP}:3000", timeout=1) is None


# kube-proxy -----------------------------------------------------------------------------------

def test_iptables_save_shows_the_seed_lines(seed_lab):
    for node in NODE_IPS:
        saved = seed_lab.exec(node, "iptables-save", "-t", "nat").stdout.splitlines()
        assert [line for line in saved if "30090" in line] == SEED_NODEPORT_LINES, node
        assert [line for line in saved if line.startswith("-A KUBE-SVC-GFPAJ7EGCNM4QF4H")] == SEED_SVC_LINES


def test_kube_proxy_holds_the_node_port(seed_lab):
    for node in NODE_IPS:
        out = seed_lab.exec(node, "netstat", "-tpln").stdout
        line = next(line for line in out.splitlines() if ":30090" in line)
        assert re.search(r"0\.0\.0\.0:30090\s+0\.0\.0\.0:\*\s+LISTEN\s+\d+/kube-proxy", line), line


def test_pod_listener_belongs_to_kubia(seed_lab):
    out = seed_lab.exec(SEED_POD_MASTER, "ss", "-tlnp").stdout
    assert re.search(r'0\.0\.0\.0:8080 .*users:\(\("kubia"', out), out


# kubectl-like views ---------------------------------------------------------------------------

def test_get_pods_wide_matches_the_seed(seed_lab):
    lines = seed_lab.get("pods", "-o", "wide").splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
                                "READINESS", "GATES"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[SEED_POD_NODE2][1:4] == ["1/1", "Running", "0"]
    assert rows[SEED_POD_NODE2][5:] == ["10.244.2.14", f"{seed_lab.name}-node2", "<none>", "<none>"]
    assert rows[SEED_POD_MASTER][5:7] == ["10.244.0.23", f"{seed_lab.name}-master"]
    # the seed's own command line: kubectl get pod -n default -l app=myapp -o wide
    same = seed_lab.get("pod", "-n", "default", "-l", "app=myapp", "-o", "wide").splitlines()
    without_age = [line.split()[:4] + line.split()[5:] for line in lines]
    assert [line.split()[:4] + line.split()[5:] for line in same] == without_age
    assert "No resources" in seed_lab.lab("get", "pods", "-l", "app=other", "--lab", seed_lab.name).stderr


def test_get_svc_matches_the_seed(seed_lab):
    lines = seed_lab.get("svc").splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert lines[1].split()[:5] == ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]
    assert lines[2].split()[:5] == ["nodeport-svc", "NodePort", CLUSTER_IP, "<none>", "3000:30090/TCP"]
    # columns line up as kubectl's do
    assert lines[0].index("CLUSTER-IP") == lines[2].index(CLUSTER_IP)


def test_get_endpoints_and_nodes(seed_lab):
    ep = seed_lab.get("endpoints").splitlines()
    assert ep[2].split()[:2] == ["nodeport-svc", "10.244.0.23:8080,10.244.2.14:8080"]
    nodes = seed_lab.get("nodes").splitlines()
    assert [line.split()[:3] for line in nodes[1:]] == [
        [f"{seed_lab.name}-master", "Ready", "master"], [f"{seed_lab.name}-node1", "Ready", "<none>"],
        [f"{seed_lab.name}-node2", "Ready", "<none>"]]


def test_get_json_is_kubernetes_shaped(seed_lab):
    pods = json.loads(seed_lab.get("pods", "-o", "json"))
    assert pods["kind"] == "List"
    by_name = {p["metadata"]["name"]: p for p in pods["items"]}
    pod = by_name[SEED_POD_NODE2]
    assert pod["kind"] == "Pod" and pod["spec"]["nodeName"] == f"{seed_lab.name}-node2"
    assert pod["status"]["podIP"] == "10.244.2.14" and pod["metadata"]["labels"]["app"] == "myapp"
    assert pod["metadata"]["labels"]["pod-template-hash"] == "6cc49c7999"
    svc = json.loads(seed_lab.get("svc", "nodeport-svc", "-o", "json"))
    assert svc["kind"] == "Service" and svc["spec"]["clusterIP"] == CLUSTER_IP
    assert svc["spec"]["ports"] == [{"protocol": "TCP", "port": 3000, "targetPort": 8080, "nodePort": 30090}]
    ep = json.loads(seed_lab.get("endpoints", "nodeport-svc", "-o", "json"))
    assert sorted(a["ip"] for a in ep["subsets"][0]["addresses"]) == ["10.244.0.23", "10.244.2.14"]
    node = json.loads(seed_lab.get("nodes", "-o", "json"))["items"][0]
    assert node["spec"]["podCIDR"] == "10.244.0.0/24"


def test_get_unknown_name_fails_cleanly(seed_lab):
    r = seed_lab.lab("get", "svc", "nope", "--lab", seed_lab.name, check=False)
    assert r.returncode == 2 and 'services "nope" not found' in r.stderr and "Traceback" not in r.stderr


def test_status_lists_the_lab(seed_lab):
    out = seed_lab.lab("status").stdout
    row = next(line for line in out.splitlines() if line.split()[0] == seed_lab.name)
    # namespaces: 3 nodes, lan, client, lb, 4 pods; daemons: kube-proxy x3, kubia x2, coredns x2, the API server
    assert row.split()[1:4] == ["up", "10/10", "8/8"]


def test_exec_targets(seed_lab):
    assert "192.168.179.200/24" in seed_lab.exec("client", "ip", "-4", "-o", "addr").stdout
    assert "10.244.0.23/24" in seed_lab.exec(SEED_POD_MASTER, "ip", "-4", "-o", "addr").stdout
    assert "192.168.179.99/24" in seed_lab.exec(f"{seed_lab.name}-master", "ip", "-4", "-o", "addr").stdout
    r = seed_lab.exec("nosuchpod", "true", check=False)
    assert r.returncode == 2 and "no node, host or pod named 'nosuchpod'" in r.stderr


def test_second_up_is_refused(seed_lab):
    r = seed_lab.lab("up", seed_lab.scenario, "--name", seed_lab.name, check=False)
    assert r.returncode == 2
    assert f"lab '{seed_lab.name}' is already up" in r.stderr
    assert hit(seed_lab.curl("client", "192.168.179.99:30090")) in PODS  # the running lab is untouched
