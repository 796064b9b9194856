"""A node's rules are a node's rules: in a lab that does not use the front load balancer, every node's
iptables-save holds only the chains kube-proxy, kubelet and flannel write on a real node; svclab's own
plumbing (the load balancer's return path) is there only in labs that use the load balancer, from
``lab up`` or from the first LoadBalancer service applied, and only once. With the load balancer:
``lab status`` counts nginx among the lab's daemons, and ``lab matrix`` expects a pod's request to
another node's NodePort of an externalTrafficPolicy: Local service to time out when that node has no
local pod."""

import json
import re
import subprocess

from factories import lab_fixture, run_lab

# Every chain a node may hold, per table, and what writes it on a real node (iptables mode).
BUILTIN = {"nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
           "filter": ("INPUT", "FORWARD", "OUTPUT"),
           "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
           "raw": ("PREROUTING", "OUTPUT"),
           "security": ("INPUT", "FORWARD", "OUTPUT")}
ALLOWED = {
    "nat": {
        "KUBE-SERVICES": "kube-proxy",
        "KUBE-NODEPORTS": "kube-proxy",
        "KUBE-POSTROUTING": "kube-proxy (kubelet too, up to 1.26)",
        "KUBE-MARK-MASQ": "kube-proxy (kubelet too, up to 1.26)",
        "KUBE-MARK-DROP": "kubelet, up to 1.26 (kube-proxy 1.18's firewall and XLB chains jump to it)",
        "KUBE-PROXY-CANARY": "kube-proxy",
        "KUBE-KUBELET-CANARY": "kubelet",
        "FLANNEL-POSTRTG": "flannel",
    },
    "filter": {
        "KUBE-SERVICES": "kube-proxy",
        "KUBE-EXTERNAL-SERVICES": "kube-proxy",
        "KUBE-FORWARD": "kube-proxy",
        "KUBE-NODEPORTS": "kube-proxy (health check node ports)",
        "KUBE-PROXY-FIREWALL": "kube-proxy (loadBalancerSourceRanges)",
        "KUBE-FIREWALL": "kubelet in older releases (drop marked packets); kube-proxy in newer (localnet connections)",
        "KUBE-PROXY-CANARY": "kube-proxy",
        "KUBE-KUBELET-CANARY": "kubelet",
        "FLANNEL-FWD": "flannel",
    },
    "mangle": {
        "KUBE-PROXY-CANARY": "kube-proxy",
        "KUBE-KUBELET-CANARY": "kubelet",
    },
    "raw": {},
    "security": {},
}
# kube-proxy's per-service and per-endpoint chains (nat): KUBE-SVC-, KUBE-SEP-, KUBE-EXT-, ... + a hash
PER_SERVICE = re.compile(r"KUBE-(SVC|SVL|EXT|FW|XLB|SEP)-[A-Z2-7]{16}")
NODES = ("master", "node1", "node2")


def tables(save):
    """{table: ({chain: [rule, ...]})} of iptables-save output (declared chains, their -A rules)."""
    out, table = {}, None
    for line in save.splitlines():
        if line.startswith("*"):
            table = out.setdefault(line[1:], {})
        elif line.startswith(":"):
            table.setdefault(line[1:].split()[0], [])
        elif line.startswith("-A "):
            chain = line.split()[1]
            table.setdefault(chain, []).append(line)
    return out


def foreign_chains(save):
    """(table, chain) of every chain neither built in nor written by kube-proxy, kubelet or flannel,
    and of every target a built-in chain's rule jumps to that is neither."""
    found = set()
    for table, chains in tables(save).items():
        allowed = set(BUILTIN.get(table, ())) | set(ALLOWED.get(table, {}))
        for chain, rules in chains.items():
            if chain not in allowed and not (table == "nat" and PER_SERVICE.fullmatch(chain)):
                found.add((table, chain))
            if chain in BUILTIN.get(table, ()):
                for rule in rules:
                    target = re.search(r" -j (\S+)", rule)
                    if target is None or target.group(1) not in allowed:
                        found.add((table, f"{chain}: {rule}"))
    return found


def iptables_save(lab, machine):
    r = lab.ip_netns_exec(machine, "iptables-save")
    assert r.returncode == 0, r.stderr
    return r.stdout


def lab_processes(lab, word):
    """PIDs of processes whose command line has ``word`` and the lab's run directory."""
    ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [line.split()[0] for line in ps.splitlines() if word in line and f"/run/svclab/{lab.name}/" in line]


def status_row(lab):
    return next(r for r in json.loads(run_lab("status", "-o", "json").stdout) if r["lab"] == lab.name)


lb_lab = lab_fixture("loadbalancer.yml", "c")

LB_SERVICE = ("apiVersion: v1\nkind: Service\nmetadata: {name: front}\n"
              "spec: {type: LoadBalancer, selector: {app: myapp}, ports: [{port: 80, targetPort: 8080}]}\n")


def test_seed_nodes_hold_only_what_kubernetes_writes(seed_lab):
    for node in NODES:
        save = iptables_save(seed_lab, node)
        parsed = tables(save)
        # the check is not vacuous: kube-proxy's, kubelet's and flannel's chains are all there
        assert {"KUBE-SERVICES", "KUBE-MARK-DROP", "FLANNEL-POSTRTG"} <= set(parsed["nat"]), node
        assert any(PER_SERVICE.fullmatch(c) and c.startswith("KUBE-SEP-") for c in parsed["nat"]), node
        assert foreign_chains(save) == set(), node
        assert "SVCLAB" not in save, node
    # the load balancer's machine is there (the topology has one), unused: no rules at all
    assert "-A " not in iptables_save(seed_lab, "lb")
    assert lab_processes(seed_lab, "nginx: master process") == [] and lab_processes(seed_lab, "lb-controller") == []


def test_a_lab_using_the_load_balancer_has_its_return_path_on_every_node(lb_lab):
    for node in NODES:
        save = iptables_save(lb_lab, node)
        assert foreign_chains(save) == {("mangle", "SVCLAB-LB-RETURN"), ("mangle", "PREROUTING: -A PREROUTING -j "
                                                                                   "SVCLAB-LB-RETURN")}, node
        assert save.count("-A PREROUTING -j SVCLAB-LB-RETURN") == 1, node
        assert len(tables(save)["mangle"]["SVCLAB-LB-RETURN"]) == 2, node
    lb = iptables_save(lb_lab, "lb")
    assert lb.count("-A PREROUTING -p tcp -m socket --transparent -j MARK") == 1


def test_status_counts_nginx_among_the_daemons(lb_lab):
    # kube-proxy x3, coredns x2, echo x2 (one server per node with echo pods), the controller, nginx, the API server
    assert len(lab_processes(lb_lab, "nginx: master process")) == 1
    row = status_row(lb_lab)
    assert (row["daemons_running"], row["daemons"]) == (10, 10), row  # with the API server
    table = run_lab("status").stdout
    line = next(x for x in table.splitlines() if x.split()[0] == lb_lab.name)
    assert line.split()[1:4] == ["up", "10/10", "10/10"], line


def test_matrix_expects_a_timeout_from_a_pod_to_another_nodes_local_node_port(lb_lab):
    rows = [line.split() for line in lb_lab.get("pods", "-o", "wide").splitlines()[1:]]
    echo_nodes = {r[0]: r[6].rsplit("-", 1)[1] for r in rows if r[0].startswith("echo-")}
    empty = [n for n in NODES if n not in echo_nodes.values()]
    assert len(empty) == 1 and len(echo_nodes) == 2  # two echo pods on three nodes
    svc = json.loads(lb_lab.get("svc", "echo-local", "-o", "json"))
    port = svc["spec"]["ports"][0]["nodePort"]
    cells = {(c["from"], c["target"]): c for c in json.loads(run_lab("matrix", "--lab", lb_lab.name, "--json",
                                                                     timeout=90).stdout)}
    for pod, node in echo_nodes.items():
        other = cells[(pod, f"echo-local {empty[0]}:{port}")]  # another node, no local pod there: dropped
        assert (other["got"], other["expected"], other["deviation"]) == ("timeout", "unreachable", False), other
        own = cells[(pod, f"echo-local {node}:{port}")]  # its own node's: short-circuited to every pod
        assert own["expected"] == "reached" and not own["deviation"], own
        assert own["got"] in {p.rsplit("-", 1)[1] for p in echo_nodes}, own


def test_the_load_balancer_first_used_live_brings_its_plumbing_once(seed_lab, tmp_path):
    """(Last: it changes the module's seed lab.) A LoadBalancer service applied to the seed lab starts the
    load balancer with its return path on every node; deleted and applied again, the same nginx and
    controller go on, and no rule is loaded twice."""
    manifest = tmp_path / "front.yml"
    manifest.write_text(LB_SERVICE)
    for round in ("first", "again"):
        out = run_lab("apply", "-f", str(manifest), "--lab", seed_lab.name).stdout
        assert "service/front created" in out, round
        ip = json.loads(seed_lab.get("svc", "front", "-o", "json"))["status"]["loadBalancer"]["ingress"][0]["ip"]
        assert (seed_lab.curl("client", f"http://{ip}/") or "").startswith("You've hit pod-nodeport-"), round
        for node in NODES:
            save = iptables_save(seed_lab, node)
            assert save.count("-A PREROUTING -j SVCLAB-LB-RETURN") == 1, (round, node)
            assert len(tables(save)["mangle"]["SVCLAB-LB-RETURN"]) == 2, (round, node)
        lb = iptables_save(seed_lab, "lb")
        assert lb.count("-A PREROUTING -p tcp -m socket --transparent -j MARK") == 1, round
        assert len(lab_processes(seed_lab, "nginx: master process")) == 1, round
        assert len(lab_processes(seed_lab, "lb-controller")) == 1, round
        row = status_row(seed_lab)
        assert (row["daemons_running"], row["daemons"]) == (10, 10), (round, row)  # with the API server
        if round == "first":
            assert 'service "front" deleted' in run_lab("delete", "svc", "front", "--lab", seed_lab.name).stdout
