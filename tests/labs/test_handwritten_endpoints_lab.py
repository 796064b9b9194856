"""Selector-less Services keep the endpoints written for them by hand (an EndpointSlice, and a v1
Endpoints object) through every live change: deleting, applying and killing unrelated things, a
node going down and up. And ports without a name (left out, or ``name: ""``) parse and work in a
lab, under kube-proxy's ``ns/svc`` service port string (no colon, the current profile)."""

import json
import re

import pytest

from factories import TOPOLOGY, Lab, run_lab, unique_lab_name
from lab.proxy import names

BACKEND_IP = "10.244.2.50"  # the pinned pod the EndpointSlices point at (node2)

WORKLOADS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: backend}
spec:
  replicas: 1
  selector: {matchLabels: {app: backend}}
  template:
    metadata: {labels: {app: backend}}
    spec:
      containers: [{name: backend, image: luksa/kubia, ports: [{containerPort: 8080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: other}
spec:
  replicas: 3
  selector: {matchLabels: {app: other}}
  template:
    metadata: {labels: {app: other}}
    spec:
      containers: [{name: other, image: luksa/kubia, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: target, labels: {role: target}}
spec:
  nodeName: node1
  containers: [{name: target, image: luksa/kubia, ports: [{containerPort: 8080}]}]
"""

SERVICES = """\
apiVersion: v1
kind: Service
metadata: {name: ext-slice}
spec:
  ports: [{name: web, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: ext-legacy}
spec:
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: noname}
spec:
  selector: {app: backend}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: emptyname}
spec:
  ports: [{name: "", port: 81, targetPort: 8080}]
"""

SLICES = f"""\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ext-slice-1
  labels: {{kubernetes.io/service-name: ext-slice}}
addressType: IPv4
ports: [{{name: web, port: 8080, protocol: TCP}}]
endpoints:
  - addresses: [{BACKEND_IP}]
    conditions: {{ready: true}}
    nodeName: node2
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: emptyname-1
  labels: {{kubernetes.io/service-name: emptyname}}
addressType: IPv4
ports: [{{name: "", port: 8080, protocol: TCP}}]
endpoints:
  - addresses: [{BACKEND_IP}]
"""

SCENARIO = f"""\
topology: {TOPOLOGY}
kubeProxy: {{profile: current}}
manifests: [workloads.yml, services.yml, slices.yml]
pins:
  pods:
    - {{deployment: backend, node: node2, ip: {BACKEND_IP}}}
"""

LEGACY = """\
apiVersion: v1
kind: Endpoints
metadata: {{name: ext-legacy}}
subsets:
  - addresses: [{{ip: {ip}, nodeName: node1}}]
    ports: [{{port: 8080}}]
"""

EXTRA = ("apiVersion: v1\nkind: Service\nmetadata: {name: extra}\n"
         "spec: {selector: {app: other}, ports: [{port: 82, targetPort: 8080}]}\n")
NODES = ("master", "node1", "node2")


@pytest.fixture(scope="module")
def hw(tmp_path_factory):
    """The lab, with ext-legacy's Endpoints applied once it is up (they name the bare pod's address)."""
    folder = tmp_path_factory.mktemp("handwritten")
    for name, text in (("workloads.yml", WORKLOADS), ("services.yml", SERVICES), ("slices.yml", SLICES),
                       ("scenario.yml", SCENARIO), ("extra.yml", EXTRA)):
        (folder / name).write_text(text)
    lab = Lab(str(folder / "scenario.yml"), unique_lab_name("h"))
    lab.up()
    try:
        lab.folder = folder
        lab.pods = {p["metadata"]["name"]: p["status"]["podIP"]
                    for p in json.loads(lab.get("pods", "-o", "json"))["items"]}
        lab.target_ip = lab.pods["target"]
        (folder / "legacy.yml").write_text(LEGACY.format(ip=lab.target_ip))
        lab.applied = run_lab("apply", "-f", str(folder / "legacy.yml"), "--lab", lab.name).stdout
        lab.cluster_ips = {line.split()[0]: line.split()[2] for line in lab.get("svc").splitlines()[1:]}
        yield lab
    finally:
        run_lab("down", lab.name, check=False)


def backend_name(lab):
    return next(name for name, ip in lab.pods.items() if ip == BACKEND_IP)


def nat(lab, node):
    r = lab.ip_netns_exec(node, "iptables-save", "-t", "nat")
    assert r.returncode == 0, r.stderr
    return r.stdout


def endpoint_chains(save, port_string, address):
    """KUBE-SEP chains of ``port_string`` that DNAT to ``address``, each jumped to from its service chain."""
    seps = re.findall(rf'^-A (KUBE-SEP-\w+) -p tcp -m comment --comment "{re.escape(port_string)}" -m tcp '
                      rf'-j DNAT --to-destination {re.escape(address)}$', save, re.M)
    svc = "KUBE-SVC-" + names.port_proto_hash(port_string, "tcp")
    return [s for s in seps if re.search(rf'^-A {svc} -m comment --comment "{re.escape(port_string)} -> '
                                         rf'{re.escape(address)}"( .*)? -j {s}$', save, re.M)]


def answers(lab, node, service):
    return lab.curl(node, f"http://{lab.cluster_ips[service]}:80/")


def assert_kept(lab, when, down=None):
    """Both hand-written endpoints in every node's rules; curl from each node that can reach them (not
    a node that is down, nor to a pod on it) answers from the hand-written address."""
    for node in NODES:
        save = nat(lab, node)
        assert len(endpoint_chains(save, "default/ext-slice:web", f"{BACKEND_IP}:8080")) == 1, (when, node)
        assert len(endpoint_chains(save, "default/ext-legacy", f"{lab.target_ip}:8080")) == 1, (when, node)
    for node in NODES:
        if node == down:
            continue
        if down != "node2":  # the EndpointSlice's pod lives on node2
            assert answers(lab, node, "ext-slice") == f"You've hit {backend_name(lab)}\n", (when, node)
        assert answers(lab, node, "ext-legacy") == "You've hit target\n", (when, node)


def other_pods(lab):
    return sorted(line.split()[0] for line in lab.get("pods").splitlines()[1:] if line.startswith("other-"))


def lab_do(lab, *args):
    return run_lab(*args, "--lab", lab.name).stdout


def test_the_endpoints_object_is_created_and_both_are_in_the_rules(hw):
    assert "endpoints/ext-legacy created" in hw.applied
    assert_kept(hw, "up")


def test_hand_written_endpoints_survive_every_live_change(hw):
    folder = hw.folder
    victims = other_pods(hw)[:2]  # a Deployment's pods: one deleted, one killed (both replaced)
    steps = [
        ("delete an unrelated pod", ("delete", "pod", victims[0]), None),
        ("apply an unrelated service", ("apply", "-f", str(folder / "extra.yml")), None),
        ("kill an unrelated pod", ("kill", "pod", victims[1], "--after", "0.2"), None),
        ("master down", ("node", "down", "master", "--grace", "0.5"), "master"),
        ("master up", ("node", "up", "master"), None),
        # the slice's own endpoint's node: its pod is not ready, the hand-written endpoint stays
        ("node2 down", ("node", "down", "node2", "--grace", "0.5"), "node2"),
        ("node2 up", ("node", "up", "node2"), None),
    ]
    for when, args, down in steps:
        out = lab_do(hw, *args)
        assert "converged in" in out, (when, out)
        assert_kept(hw, when, down)
    # the unrelated changes did happen
    now = other_pods(hw)
    assert len(now) == 3 and not set(victims) & set(now), now
    assert "extra" in {line.split()[0] for line in hw.get("svc").splitlines()}


def test_re_applying_hand_written_endpoints_leaves_them_unchanged(hw):
    out = lab_do(hw, "apply", "-f", str(hw.folder / "slices.yml"))
    assert "endpointslice.discovery.k8s.io/ext-slice-1 unchanged" in out
    assert "endpointslice.discovery.k8s.io/emptyname-1 unchanged" in out
    out = lab_do(hw, "apply", "-f", str(hw.folder / "legacy.yml"))
    assert "endpoints/ext-legacy unchanged" in out
    assert_kept(hw, "re-applied")


def test_unnamed_ports_work_in_a_lab(hw):
    save = nat(hw, "node1")
    for service, port, address in (("noname", 80, f"{BACKEND_IP}:8080"), ("emptyname", 81, f"{BACKEND_IP}:8080")):
        string = f"default/{service}"  # no port name: no colon (kube-proxy since 1.19)
        chain = "KUBE-SVC-" + names.port_proto_hash(string, "tcp")
        assert (f'-A KUBE-SERVICES -d {hw.cluster_ips[service]}/32 -p tcp -m comment --comment "{string} cluster IP" '
                f"-m tcp --dport {port} -j {chain}") in save, service
        assert len(endpoint_chains(save, string, address)) == 1, service
        assert f'"{string}:' not in save, service
        body = hw.curl("node1", f"http://{hw.cluster_ips[service]}:{port}/")
        assert body == f"You've hit {backend_name(hw)}\n", service
    for service, port in (("noname", 80), ("emptyname", 81)):  # as kubectl shows them: no name at all
        ports = json.loads(hw.get("svc", service, "-o", "json"))["spec"]["ports"]
        assert ports == [{"protocol": "TCP", "port": port, "targetPort": 8080}], service
