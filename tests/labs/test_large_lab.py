"""A lab of 20 nodes: agents shared by groups of nodes, permanent ARP entries, and changes that
reach the right shared agent. How the groups are cut: tests/unit/test_agent_groups.py."""

import os
import sys

import pytest

from factories import ROOT, Lab, unique_lab_name
from lab.agents import groups as agentgroups
from lab.cluster import codec
from lab.kernel import record

sys.path.insert(0, os.path.join(ROOT, "bench"))
import make_scale_scenario  # noqa: E402

NODES, DEPLOYMENTS = 20, 20


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    path = make_scale_scenario.write(str(tmp_path_factory.mktemp("big")), "big", NODES, DEPLOYMENTS, 2)
    lab = Lab(path, unique_lab_name("big"))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def cluster_state(lab):
    with open(record.Record.load(lab.name).path("cluster.json")) as f:
        return codec.loads(f.read())


def test_agents_are_shared_by_groups_of_nodes(big):
    pids = record.Record.load(big.name).pids
    assert len([k for k in pids if k.startswith("kube-proxy/")]) == agentgroups.MAX_PROCESSES
    assert len([k for k in pids if k.startswith("kubia/")]) == agentgroups.MAX_PROCESSES
    # each node's rules are there, loaded by the process of its group
    for node in ("master", "node10", "node19"):
        saved = big.exec(node, "iptables-save", "-t", "nat").stdout
        assert "-A KUBE-NODEPORTS" in saved and "default/app0019-np" in saved


def test_every_node_serves_the_node_port_and_every_pod_answers(big):
    cs = cluster_state(big)
    for node in cs.nodes:
        body = big.curl("client", f"http://{node.ip}:30007")
        assert body and body.startswith("You've hit app0007-"), node.name
    for pod in cs.pods:
        if pod.app == "kubia":
            assert big.curl(pod.node, f"http://{pod.ip}:8080") == f"You've hit {pod.name}\n"


def test_a_lab_that_could_fill_the_arp_table_has_permanent_entries(big):
    cs = cluster_state(big)
    pod = next(p for p in cs.pods if p.app == "kubia")
    node = cs.node(pod.node)
    in_pod = big.exec(pod.name, "ip", "neigh", "show", str(node.pod_gateway)).stdout
    assert "lladdr 0a:58:" in in_pod and "PERMANENT" in in_pod
    in_node = big.exec(node.name, "ip", "neigh", "show", str(pod.ip)).stdout
    assert "PERMANENT" in in_node


def test_changes_reach_the_shared_agents(big, tmp_path):
    manifest = tmp_path / "scale.yml"
    manifest.write_text(make_scale_scenario.manifests_text(DEPLOYMENTS, 2).replace(
        "metadata: {name: app0003}\nspec:\n  replicas: 2", "metadata: {name: app0003}\nspec:\n  replicas: 4"))
    big.lab("apply", "-f", str(manifest), "--lab", big.name)
    cs = cluster_state(big)
    pods = [p for p in cs.pods if p.name.startswith("app0003-")]
    assert len(pods) == 4
    for pod in pods:
        assert big.curl(pod.node, f"http://{pod.ip}:8080") == f"You've hit {pod.name}\n"
    victim = pods[0]
    big.lab("delete", "pod", victim.name, "--lab", big.name)
    after = [p for p in cluster_state(big).pods if p.name.startswith("app0003-")]
    assert victim.name not in {p.name for p in after} and len(after) == 4
    for pod in after:
        assert big.curl(pod.node, f"http://{pod.ip}:8080") == f"You've hit {pod.name}\n"
    # and the nodes' rules now send the service's traffic to the four pods
    seen = {(big.curl("client", f"http://{cs.nodes[5].ip}:30003") or "").strip() for _ in range(40)}
    assert seen == {f"You've hit {p.name}" for p in after}, seen
