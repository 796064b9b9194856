"""lab verify --kubeconfig's pure parts (lab.remote: plan, probes, promises) and lab export
--format kind, whose output is checked against the field names of kind's v1alpha4 types
(sigs.k8s.io/kind pkg/apis/config/v1alpha4/types.go: Cluster, Node, Networking, PortMapping)."""

import ast
import os
import pathlib

import pytest
import yaml
from factories import ROOT, SEED_SCENARIO

from lab.cluster.build import build_cluster
from lab.errors import LabError
from lab.remote import plan, probes, promises
from lab.spec import scenario
from lab.tools.kind import export as kind_export

# the json tags of kind's v1alpha4 types, and the enumerations' values
KIND_FIELDS = {
    "Cluster": {"kind", "apiVersion", "name", "nodes", "networking", "featureGates", "runtimeConfig",
                "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902", "containerdConfigPatches",
                "containerdConfigPatchesJSON6902"},
    "Node": {"role", "image", "labels", "extraMounts", "extraPortMappings", "gpus", "kubeadmConfigPatches",
             "kubeadmConfigPatchesJSON6902"},
    "Networking": {"ipFamily", "apiServerPort", "apiServerAddress", "podSubnet", "serviceSubnet",
                   "disableDefaultCNI", "kubeProxyMode", "dnsSearch"},
    "PortMapping": {"containerPort", "hostPort", "listenAddress", "protocol"},
}
KIND_VALUES = {"role": {"control-plane", "worker"}, "kubeProxyMode": {"iptables", "ipvs", "nftables"},
               "ipFamily": {"ipv4", "ipv6", "dual"}, "protocol": {"TCP", "UDP", "SCTP"}}


def kind_problems(doc):
    """What kind's v1alpha4 decoder (strict: unknown fields are errors) would refuse."""
    out = []

    def fields(obj, kind, where):
        if not isinstance(obj, dict):
            out.append(f"{where}: not an object")
            return
        for key in sorted(set(obj) - KIND_FIELDS[kind]):
            out.append(f"{where}.{key}: no such field in {kind}")
        for key, allowed in KIND_VALUES.items():
            if key in obj and obj[key] not in allowed:
                out.append(f"{where}.{key}: {obj[key]!r} is not one of {sorted(allowed)}")

    fields(doc, "Cluster", "")
    if doc.get("kind") != "Cluster" or doc.get("apiVersion") != "kind.x-k8s.io/v1alpha4":
        out.append("kind/apiVersion: not a kind.x-k8s.io/v1alpha4 Cluster")
    for i, node in enumerate(doc.get("nodes") or []):
        fields(node, "Node", f".nodes[{i}]")
        for j, pm in enumerate(node.get("extraPortMappings") or []):
            fields(pm, "PortMapping", f".nodes[{i}].extraPortMappings[{j}]")
            if not all(isinstance(pm.get(k), int) for k in ("containerPort", "hostPort")):
                out.append(f".nodes[{i}].extraPortMappings[{j}]: ports are int32")
        if not all(isinstance(p, str) for p in node.get("kubeadmConfigPatches") or []):
            out.append(f".nodes[{i}].kubeadmConfigPatches: strings (inline YAML)")
    fields(doc.get("networking") or {}, "Networking", ".networking")
    return out


def exported(path):
    spec = scenario.load(path)
    text = kind_export.render(spec, build_cluster(spec), os.path.relpath(path, ROOT))
    return spec, yaml.safe_load(text)


def test_the_seed_as_a_kind_cluster():
    spec, doc = exported(SEED_SCENARIO)
    assert kind_problems(doc) == []
    assert [(n["role"], n["labels"]) for n in doc["nodes"]] == [
        ("control-plane", {"svclab.io/node": "master"}), ("worker", {"svclab.io/node": "node1"}),
        ("worker", {"svclab.io/node": "node2"})]
    assert doc["networking"] == {"ipFamily": "ipv4", "podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12",
                                 "kubeProxyMode": "iptables"}
    assert doc["nodes"][0]["extraPortMappings"] == [{"containerPort": 30090, "hostPort": 30090,
                                                     "listenAddress": "127.0.0.1", "protocol": "TCP"}]
    assert yaml.safe_load(doc["nodes"][0]["kubeadmConfigPatches"][0]) == {
        "kind": "InitConfiguration", "nodeRegistration": {"taints": []}}  # the master runs pods, as in the lab


def test_an_nftables_scenario_keeps_its_mode():
    _, doc = exported(os.path.join(ROOT, "scenarios", "nodeport-nft.yml"))
    assert kind_problems(doc) == [] and doc["networking"]["kubeProxyMode"] == "nftables"


@pytest.mark.parametrize("planted, problem", [
    (lambda d: d["nodes"][0].update(extraPortMapping=[]), ".nodes[0].extraPortMapping: no such field in Node"),
    (lambda d: d["networking"].update(kubeProxyMode="userspace"), "'userspace' is not one of"),
    (lambda d: d["networking"].update(serviceCIDR="10.96.0.0/12"), ".networking.serviceCIDR: no such field"),
    (lambda d: d["nodes"][1].update(role="master"), ".nodes[1].role: 'master' is not one of"),
])
def test_the_validator_finds_what_kind_refuses(planted, problem):
    _, doc = exported(SEED_SCENARIO)
    planted(doc)
    assert any(problem in p for p in kind_problems(doc)), kind_problems(doc)


def test_the_manifests_go_beside_the_config(tmp_path):
    from factories import run_lab
    out = tmp_path / "kind-seed.yml"
    r = run_lab("export", "--format", "kind", SEED_SCENARIO, "-o", str(out))
    assert "kind create cluster --config" in r.stdout and "lab verify" in r.stdout
    docs = list(yaml.safe_load_all((tmp_path / "kind-seed.manifests.yml").read_text()))
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]
    assert kind_problems(yaml.safe_load(out.read_text())) == []


# the plan ---------------------------------------------------------------------------------------

def node(name, ip, cp=False, topo=None):
    return plan.ClusterNode(name, ip, cp, topo)


TOPO = ["master", "node1", "node2"]


def test_nodes_map_by_label_name_suffix_order_or_as_told():
    kind_nodes = [node("kind-worker", "172.18.0.3"), node("kind-control-plane", "172.18.0.2", True),
                  node("kind-worker2", "172.18.0.4")]
    assert {t: n.name for t, n in plan.map_nodes(TOPO, kind_nodes).items()} == {
        "master": "kind-control-plane", "node1": "kind-worker", "node2": "kind-worker2"}
    labelled = [node("a", "1.1.1.1", topo="node2"), node("b", "1.1.1.2", topo="master"), node("c", "1.1.1.3",
                                                                                             topo="node1")]
    assert {t: n.name for t, n in plan.map_nodes(TOPO, labelled).items()} == {"master": "b", "node1": "c", "node2": "a"}
    lab = [node("x-node2", "3"), node("x-master", "1", True), node("x-node1", "2")]
    assert {t: n.ip for t, n in plan.map_nodes(TOPO, lab).items()} == {"master": "1", "node1": "2", "node2": "3"}
    told = plan.map_nodes(TOPO, kind_nodes, plan.parse_node_map("node1=kind-worker2, node2=kind-worker"))
    assert {t: n.name for t, n in told.items()} == {"node1": "kind-worker2", "node2": "kind-worker"}
    assert list(plan.map_nodes(TOPO, kind_nodes[:1])) == ["master"]  # fewer nodes: the rest unmapped
    with pytest.raises(LabError, match="--node-map names nope, which the cluster has not"):
        plan.map_nodes(TOPO, kind_nodes, {"master": "nope"})
    with pytest.raises(LabError, match="write TOPOLOGY-NODE=CLUSTER-NODE"):
        plan.parse_node_map("master")


def test_manifests_carry_the_run_labels_in_their_namespaces():
    spec = scenario.load(SEED_SCENARIO)
    labels = plan.run_labels(spec, plan.run_id(spec.name, now=0x6b000000, token="ab12"))
    assert labels == {"svclab.io/run": "k8s-6b000000-ab12", "svclab.io/scenario": "k8s"}
    objs = plan.manifests(spec, labels, prefix="ci-")
    assert [o["kind"] for o in objs] == ["Service", "Deployment"]  # services before the pods that use them
    assert all(o["metadata"]["namespace"] == "ci-default" and labels.items() <= o["metadata"]["labels"].items()
               for o in objs)
    template = objs[1]["spec"]["template"]["metadata"]["labels"]
    assert template == {"app": "myapp", **labels} and objs[1]["spec"]["selector"] == {"matchLabels": {"app": "myapp"}}
    assert spec.objects[0].manifest["spec"]["template"]["metadata"]["labels"] == {"app": "myapp"}  # not changed
    assert plan.namespaces(objs) == ["ci-default"]
    assert plan.rename_dns("web.default.svc.cluster.local", "ci-", {"default"}) == "web.ci-default.svc.cluster.local"
    assert plan.rename_dns("web", "ci-", {"default"}) == "web"


def test_placeholders_come_from_the_clusters_objects():
    spec = scenario.load(SEED_SCENARIO)
    nodes = plan.map_nodes(TOPO, [node("kind-control-plane", "172.18.0.2", True), node("kind-worker", "172.18.0.3"),
                                  node("kind-worker2", "172.18.0.4")])
    svc = {"metadata": {"name": "nodeport-svc", "namespace": "default"},
           "spec": {"clusterIP": "10.96.7.7", "ports": [{"port": 3000, "nodePort": 30090}]}}
    values, unavailable = plan.values(spec, nodes, [svc], {"pod-nodeport-6cc49c7999-gdqbg": "10.244.1.5"}, "10.96.0.10")
    assert values == {"master": "172.18.0.2", "node1": "172.18.0.3", "node2": "172.18.0.4", "dns": "10.96.0.10",
                      "svc:nodeport-svc": "10.96.7.7", "svc:default/nodeport-svc": "10.96.7.7",
                      "nodeport:nodeport-svc": "30090", "nodeport:default/nodeport-svc": "30090",
                      "pod:pod-nodeport-6cc49c7999-gdqbg": "10.244.1.5"}
    known = plan.model(spec).known
    where = spec.checks[0].where.child("url")
    assert plan.fill("http://{node2}:{nodeport:nodeport-svc}", where, values, unavailable, known) == \
        ("http://172.18.0.4:30090", None)
    assert plan.fill("http://{client}/", where, values, unavailable, known)[1].startswith("{client} is a machine of")
    assert plan.fill("http://{lbip:nodeport-svc}/", where, values, unavailable, {"lbip:nodeport-svc"}) == \
        (None, "the cluster has no value for {lbip:nodeport-svc}")
    with pytest.raises(LabError, match=r"unknown placeholder \{svc:nope\}"):
        plan.fill("http://{svc:nope}/", where, values, unavailable, known)


def pod(name, node_name, labels, ip="10.244.1.9", ns="default"):
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": {"nodeName": node_name},
            "status": {"podIP": ip}}


def test_a_scenario_pod_is_played_by_its_controllers_pod_on_its_node():
    spec = scenario.load(SEED_SCENARIO)
    m = plan.model(spec)
    nodes = plan.map_nodes(TOPO, [node("k-master", "1", True), node("k-node1", "2"), node("k-node2", "3")])
    pods = [pod("pod-nodeport-x-aaaaa", "k-node2", {"app": "myapp", "pod-template-hash": "x"}),
            pod("pod-nodeport-x-bbbbb", "k-master", {"app": "myapp", "pod-template-hash": "x"}),
            pod("other", "k-master", {"app": "other"})]
    # gdqbg is the seed's pod on master; 5fjdh the one on node2
    assert plan.find_pod("pod-nodeport-6cc49c7999-gdqbg", m, pods, nodes) == ("default", "pod-nodeport-x-bbbbb")
    assert plan.find_pod("pod-nodeport-6cc49c7999-5fjdh", m, pods, nodes) == ("default", "pod-nodeport-x-aaaaa")
    assert plan.find_pod("pod:app=other", m, pods, nodes) == ("default", "other")
    assert plan.find_pod("pod:app=none", m, pods, nodes) is None
    assert plan.source("client", spec, m, pods, nodes) == plan.Source("client")
    assert plan.source("node1", spec, m, pods, nodes) == plan.Source("node", node="node1")
    assert plan.source("lb", spec, m, pods, nodes).kind == "skip"
    with pytest.raises(LabError, match="no node, host or pod of the scenario has that name"):
        plan.source("nosuchpod", spec, m, pods, nodes)


def test_the_probe_pod_is_on_its_nodes_network():
    p = plan.probe_pod(node("kind-worker", "172.18.0.3"), "default", "curlimages/curl", {"svclab.io/run": "r"}, "r-ab12")
    assert p["spec"]["hostNetwork"] is True and p["spec"]["nodeName"] == "kind-worker"
    assert p["spec"]["dnsPolicy"] == "Default" and p["metadata"]["name"] == "svclab-probe-kind-worker-ab12"
    assert plan.host_network_honoured({"status": {"podIP": "172.18.0.3", "hostIP": "172.18.0.3"}})
    assert not plan.host_network_honoured({"status": {"podIP": "10.244.1.3", "hostIP": "172.18.0.3"}})


# probes ---------------------------------------------------------------------------------------

def test_curl_outcomes():
    ok = probes.outcome(0, f"You've hit web-1\n\n{probes.MARK}200\n", "")
    assert (ok.kind, ok.status, ok.pod) == ("reached", 200, "web-1")
    refused = probes.outcome(7, f"\n{probes.MARK}000\n", "* connect to 10.96.0.5 port 80 failed: Connection refused\n"
                             "curl: (7) Failed to connect to 10.96.0.5 port 80 after 0 ms: Couldn't connect to server")
    assert refused.kind == "refused"
    unreachable = probes.outcome(7, "", "* connect to 10.0.0.1 port 80 failed: No route to host\ncurl: (7) Failed")
    assert (unreachable.kind, unreachable.error) == ("unreachable", "No route to host")
    assert probes.outcome(28, "", "curl: (28) Connection timed out after 1001 milliseconds").kind == "timeout"
    assert probes.outcome(52, f"\n{probes.MARK}000\n", "curl: (52) Empty reply from server").kind == "reached"
    assert probes.missing_tool(126, 'exec: "curl": executable file not found in $PATH', "curl").startswith(
        "the pod's image has no curl")
    assert probes.missing_tool(7, "", "curl") is None


def test_many_answers_and_failures_in_order():
    out = f"You've hit a\n\n{probes.MARK}200\nYou've hit b\n\n{probes.MARK}200\n\n{probes.MARK}000\n"
    got = probes.outcomes(out, "curl: (28) Operation timed out\n", 4)
    assert [(o.kind, o.pod) for o in got] == [("reached", "a"), ("reached", "b"), ("timeout", None),
                                              ("unreachable", None)]
    assert probes.many_url("http://10.0.0.1:80/", 3) == "http://10.0.0.1:80/?svclab=[1-3]"


def test_nslookup_answers_of_bind_and_busybox():
    bind = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\tweb.default.svc.cluster.local\nAddress: 10.96.3.4\n"
    busybox = ("Server:    10.96.0.10\nAddress 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local\n\n"
               "Name:      web\nAddress 1: 10.96.3.4 web.default.svc.cluster.local\n")
    assert probes.addresses(bind) == probes.addresses(busybox) == ["10.96.3.4"]
    assert probes.addresses("** server can't find nope: NXDOMAIN\n") == []


def test_the_promised_split_from_services_and_endpoints():
    svc = {"metadata": {"name": "web", "namespace": "default"},
           "spec": {"clusterIP": "10.96.0.9", "externalTrafficPolicy": "Local",
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}}
    eps = {("default", "web"): {"subsets": [{"ports": [{"port": 8080}], "addresses": [
        {"ip": "10.244.1.2", "nodeName": "n1", "targetRef": {"name": "web-a"}},
        {"ip": "10.244.2.2", "nodeName": "n2", "targetRef": {"name": "web-b"}}]}]}}
    nodes = [node("n1", "172.18.0.3"), node("n2", "172.18.0.4")]
    assert promises.expectation("10.96.0.9", 80, [svc], eps, nodes).shares == {"web-a": 0.5, "web-b": 0.5}
    local = promises.expectation("172.18.0.4", 30080, [svc], eps, nodes, source_node="n1")
    assert local.shares == {"web-b": 1.0}
    assert promises.expectation("10.96.0.9", 81, [svc], eps, nodes).outcome == "unknown"
    assert promises.expectation("10.96.0.9", 80, [svc], {}, nodes).outcome == "refused"


# the API path enters no namespace ----------------------------------------------------------------

FORBIDDEN = ("lab.kernel", "lab.live", "lab.agents", "lab.api", "lab.images", "lab.verify.probe",
             "lab.verify.checks", "lab.verify.dist", "subprocess_in_netns")


def _imports(module):
    path = pathlib.Path(ROOT, *module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("lab"):
            for alias in n.names:
                sub = f"{n.module}.{alias.name}"
                yield sub if pathlib.Path(ROOT, *sub.split(".")).with_suffix(".py").exists() else n.module
        elif isinstance(n, ast.Import):
            yield from (a.name for a in n.names if a.name.startswith("lab"))


def test_nothing_the_api_path_imports_reaches_a_namespace():
    seen, todo = set(), ["lab.remote.run", "lab.cli.verify"]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        if module == "lab.cli.verify":  # the lab's path imports its modules inside _on_lab only
            tree = ast.parse(pathlib.Path(ROOT, "lab", "cli", "verify.py").read_text())
            top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
            todo += [f"{n.module}.{a.name}" if pathlib.Path(ROOT, *f"{n.module}.{a.name}".split(".")).with_suffix(
                ".py").exists() else n.module for n in top if isinstance(n, ast.ImportFrom) for a in n.names
                if n.module.startswith("lab")]
            continue
        todo += list(_imports(module))
    assert "lab.remote.kubeapi" in seen and "lab.verify.report" in seen
    assert not [m for m in seen if m.startswith(FORBIDDEN)], sorted(seen)


def test_a_check_naming_the_templates_hash_is_skipped_when_the_clusters_pods_have_another():
    m = plan.model(scenario.load(SEED_SCENARIO))
    written = dict(m.pods[0].labels)["pod-template-hash"]
    theirs = [pod("pod-nodeport-7444569589-c647w", "n1", {"app": "myapp", "pod-template-hash": "7444569589"})]
    why = plan.template_hash(f"You've hit pod-nodeport-{written}-", m, theirs)
    assert why and written in why and "svclab.io/run" in why
    assert plan.template_hash("You've hit pod-nodeport-", m, theirs) is None
    same = [pod("pod-nodeport-x", "n1", {"app": "myapp", "pod-template-hash": written})]
    assert plan.template_hash(f"You've hit pod-nodeport-{written}-", m, same) is None
