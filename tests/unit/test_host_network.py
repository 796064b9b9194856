"""hostNetwork pods in the model: the node's address, no namespace, veth or files of their own, the
node's namespace for what runs in them, endpoints at the node's address, the ports a node can hold
once, and a replica or re-apply keeping all that. The kernel side: tests/labs/test_host_network_lab.py."""

import dataclasses
import textwrap

import pytest

from factories import TOPOLOGY
from lab.cluster import controllers, diff, lookup, objects, resources
from lab.cluster.build import build_cluster
from lab.errors import InputError
from lab.net import etcfiles, wiring
from lab.spec import scenario

PROBE = """\
    apiVersion: v1
    kind: Pod
    metadata: {name: probe, labels: {app: probe}}
    spec:
      hostNetwork: true
      nodeName: NODE
      containers: [{name: c, image: curlimages/curl, command: [sleep, "3600"]PORTS}]
    """
WEB = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: hn}
    spec:
      replicas: REPLICAS
      selector: {matchLabels: {app: hn}}
      template:
        metadata: {labels: {app: hn}}
        spec:
          hostNetwork: true
          containers: [{name: c, image: luksa/kubia, ports: [{containerPort: 8080}]}]
    """
SERVICE = """\
    apiVersion: v1
    kind: Service
    metadata: {name: hn}
    spec: {selector: {app: hn}, ports: [{port: 80, targetPort: 8080}]}
    """


def probe(node="node1", ports="", name="probe"):
    text = PROBE.replace("NODE", node).replace("PORTS", f", ports: {ports}" if ports else "")
    return text.replace("name: probe,", f"name: {name},")


def load(tmp_path, manifests, extra="cluster: {dns: true}\n"):
    files = []
    for i, text in enumerate(manifests):
        (tmp_path / f"m{i}.yml").write_text(textwrap.dedent(text))
        files.append(f"m{i}.yml")
    path = tmp_path / "s.yml"
    path.write_text(f"name: hn\ntopology: {TOPOLOGY}\nmanifests: [{', '.join(files)}]\n{extra}")
    return scenario.load(str(path))


def build(tmp_path, manifests, **kw):
    return build_cluster(load(tmp_path, manifests, **kw))


def pod(state, name):
    return next(p for p in state.pods if p.name == name)


def test_a_host_network_pod_has_its_nodes_address_and_namespace(tmp_path):
    state = build(tmp_path, [probe()])
    p, node = pod(state, "probe"), state.node("node1")
    assert p.host_network and p.ip == node.ip and p.node == "node1"
    assert p.exec_netns == node.netns and p.sandbox is None
    assert p.netns == "hn-probe" and p.host_veth is None  # its own name, never made
    others = [q for q in state.pods if not q.host_network]
    assert others and all(q.exec_netns == q.netns == q.sandbox for q in others)


def test_nodename_pins_it_by_kubernetes_node_name_or_topology_name(tmp_path):
    assert pod(build(tmp_path, [probe("hn-node2")]), "probe").node == "node2"
    assert pod(build(tmp_path, [probe("master")]), "probe").node == "master"
    with pytest.raises(InputError, match="no node named 'nope'"):
        build(tmp_path, [probe("nope")])


def test_it_gets_no_namespace_veth_files_or_pod_address(tmp_path):
    state = build(tmp_path, [probe(), WEB.replace("REPLICAS", "1").replace("hostNetwork: true", "hostNetwork: false")])
    plan = wiring.plan(state)
    assert "hn-probe" not in plan.namespace_names
    assert not [v for v in plan.veths if v.peer_netns == "hn-probe"]
    assert not [r for r in plan.routes if r.netns == "hn-probe"]
    assert not [n for n in wiring.permanent_neighbours(state) if "hn-probe" in (n.netns, n.owner)]
    files = etcfiles.files(state)
    assert "hn-probe" not in files and state.node("node1").netns in files
    # no address of node1's pod CIDR is used: the next pod there gets .2
    regular = [p for p in state.pods if p.node == "node1" and not p.host_network and p.app != "coredns"]
    assert all(p.ip in state.node(p.node).pod_cidr for p in regular)


def test_a_live_addition_builds_nothing_for_it(tmp_path):
    before = build(tmp_path, [])
    after = build(tmp_path, [probe()])
    changes = diff.between(before, after)
    assert changes.added_netns == ("hn-probe",)  # its name: its commands start, nothing is made
    sub = wiring.subplan(wiring.plan(after), changes.added_netns)
    assert sub.namespaces == () and sub.veths == () and sub.routes == () and sub.neighbours == ()
    assert diff.between(after, before).removed_netns == ("hn-probe",)  # never the node's


def test_services_get_the_node_address_with_the_container_port(tmp_path):
    state = build(tmp_path, [WEB.replace("REPLICAS", "2"), SERVICE])
    svc = state.service("default", "hn")
    eps = state.endpoints_for(svc, svc.ports[0])
    nodes = {state.node(p.node).ip for p in state.pods if p.owner and p.host_network}
    assert len(eps) == 2 and {e.ip for e in eps} == nodes and {e.port for e in eps} == {8080}


def test_two_host_network_pods_cannot_hold_one_port_on_a_node(tmp_path):
    with pytest.raises(InputError, match=r"port 8080/TCP, already in use on node node1 \(pod a holds it\)"):
        build(tmp_path, [probe(name="a", ports="[{containerPort: 8080}]"),
                         probe(name="b", ports="[{containerPort: 8080}]")])
    # other ports, other nodes or other protocols are fine
    build(tmp_path, [probe(name="a", ports="[{containerPort: 8080}]"),
                     probe(name="b", ports="[{containerPort: 8080, protocol: UDP}]")])
    build(tmp_path, [probe(name="a", ports="[{containerPort: 8080}]"),
                     probe("node2", name="b", ports="[{containerPort: 8080}]")])


def test_the_scheduler_spreads_them_to_nodes_with_free_ports_and_refuses_past_that(tmp_path):
    state = build(tmp_path, [WEB.replace("REPLICAS", "3")])
    assert sorted(p.node for p in state.pods if p.owner and p.host_network) == ["master", "node1", "node2"]
    with pytest.raises(InputError, match="already in use on every node"):
        build(tmp_path, [WEB.replace("REPLICAS", "4")])


def test_host_port_must_match_the_container_port(tmp_path):
    with pytest.raises(InputError, match="hostPort.*must match `containerPort` when `hostNetwork` is true"):
        build(tmp_path, [probe(ports="[{containerPort: 8080, hostPort: 9090}]")])
    build(tmp_path, [probe(ports="[{containerPort: 8080, hostPort: 8080}]")])


def test_lookup_finds_the_nodes_namespace_and_the_pods_images(tmp_path):
    state = build(tmp_path, [probe()])
    assert lookup.netns_of(state, "probe") == state.node("node1").netns
    assert lookup.netns_of(state, "pod:app=probe") == state.node("node1").netns
    assert lookup.images_of(state, "probe") == ["curlimages/curl"]
    assert lookup.images_of(state, "node1") == []


def test_a_replica_made_again_keeps_the_node_address(tmp_path):
    state = build(tmp_path, [WEB.replace("REPLICAS", "2"), SERVICE])
    gone = next(p for p in state.pods if p.owner and p.host_network)
    after = controllers.delete_pod(state, "default", gone.name)
    new = [p for p in after.pods if p.owner and p.host_network and p.name != gone.name
           and p.name not in {q.name for q in state.pods}]
    assert len(new) == 1 and new[0].host_network and new[0].sandbox is None
    assert new[0].ip == after.node(new[0].node).ip and new[0].exec_netns == after.node(new[0].node).netns
    held = sorted(p.node for p in after.pods if p.owner and p.host_network)
    assert len(set(held)) == 2  # onto the node whose port is free


def test_reapplied_it_keeps_its_address(tmp_path):
    spec = load(tmp_path, [probe()])
    state = build_cluster(spec)
    again = objects.next_state(state, spec, list(spec.objects))
    assert pod(again, "probe").ip == state.node("node1").ip


def test_the_pod_object_keeps_host_network_and_shows_the_node_address(tmp_path):
    spec = load(tmp_path, [probe(ports="[{containerPort: 8080}]")])
    state = build_cluster(spec)
    obj = next(o for o in resources.render(state, list(spec.objects)).values() if o["kind"] == "Pod"
               and o["metadata"]["name"] == "probe")
    assert obj["spec"]["hostNetwork"] is True and obj["spec"]["nodeName"] == "hn-node1"
    assert obj["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080  # defaultHostNetworkPorts
    ip = str(state.node("node1").ip)
    assert obj["status"]["podIP"] == obj["status"]["hostIP"] == ip and obj["status"]["podIPs"] == [{"ip": ip}]


def test_dns_policy_is_read(tmp_path):
    state = build(tmp_path, [probe().replace("hostNetwork: true", "hostNetwork: true\n      dnsPolicy: Default")])
    assert pod(state, "probe").dns_policy == "Default"
    assert dataclasses.replace(pod(state, "probe"), host_network=False).exec_netns == "hn-probe"
