"""Verification: expectations, distribution statistics and scenario checks, without a lab. Checks,
the reachability matrix and distributions on a real lab: tests/labs/test_verify_lab.py."""

import os
import shutil

import pytest

from factories import SCENARIOS, SEED_SCENARIO
from lab.cluster.build import build_cluster
from lab.verify import dist, expect, stats
from lab.spec import scenario
from lab.errors import InputError


# pure -----------------------------------------------------------------------------------------

def test_chi_square_p_values():
    for stat, dof in ((3.841, 1), (5.991, 2), (11.070, 5), (18.307, 10)):  # 5 % critical values
        assert abs(stats._gamma_q(dof / 2, stat / 2) - 0.05) < 2e-4
    assert stats.chi_square([500, 500], [500, 500])[2] == 1.0
    assert stats.chi_square([600, 400], [500, 500])[2] < 1e-6


def seed_state():
    return build_cluster(scenario.load(SEED_SCENARIO))


def test_expectations_follow_kubernetes_semantics():
    st = seed_state()
    client, node1 = "k8s-client", "k8s-node1"
    pod = "k8s-pod-nodeport-6cc49c7999-gdqbg"
    assert expect.expect(st, client, "10.105.182.209", 3000).outcome == "unreachable"
    assert expect.expect(st, client, "10.244.0.23", 8080).outcome == "unreachable"
    e = expect.expect(st, client, "192.168.179.100", 30090)
    assert e.outcome == "reached" and e.shares == {"pod-nodeport-6cc49c7999-5fjdh": 0.5,
                                                   "pod-nodeport-6cc49c7999-gdqbg": 0.5}
    assert expect.expect(st, node1, "10.105.182.209", 3000).outcome == "reached"
    assert expect.expect(st, pod, "10.244.2.14", 8080).shares == {"pod-nodeport-6cc49c7999-5fjdh": 1.0}
    assert expect.expect(st, node1, "192.168.179.7", 80).outcome == "unknown"


def test_local_policy_expectations():
    st = build_cluster(scenario.load(os.path.join(SCENARIOS, "loadbalancer.yml")))
    svc = st.service("default", "echo-local")
    port = svc.ports[0].node_port
    with_pods = {e.node for e in st.endpoints_for(svc, svc.ports[0])}
    for node in st.nodes:
        e = expect.expect(st, "lb-client", str(node.ip), port)
        assert e.outcome == ("reached" if node.name in with_pods else "unreachable"), node.name
    via_lb = expect.expect(st, "lb-client", svc.lb_ips[0], 80)
    assert via_lb.outcome == "reached" and abs(sum(via_lb.shares.values()) - 1) < 1e-9


def test_local_policy_from_pods_and_nodes_to_another_nodes_node_port():
    """A pod's packets to another node's NodePort leave masqueraded to its node's address (flannel):
    there they are external traffic, dropped where the node has no pod of an ETP=Local service. To its
    own node's NodePort, a pod (and the node) are short-circuited to every endpoint."""
    st = build_cluster(scenario.load(os.path.join(SCENARIOS, "loadbalancer.yml")))
    svc = st.service("default", "echo-local")
    port = svc.ports[0].node_port
    echo = [p for p in st.pods if p.app == "echo"]
    with_pods = {p.node for p in echo}
    (empty,) = [n for n in st.nodes if n.name not in with_pods]
    everyone = {p.name: 0.5 for p in echo}
    for pod in echo:
        e = expect.expect(st, pod.netns, str(empty.ip), port)
        assert e.outcome == "unreachable" and "no local endpoint" in e.what, pod.name
        own = expect.expect(st, pod.netns, str(st.node(pod.node).ip), port)
        assert own.outcome == "reached" and own.shares == everyone, pod.name
        other = next(n for n in with_pods if n != pod.node)  # a node with its own pod: that pod only
        local = [p.name for p in echo if p.node == other]
        assert expect.expect(st, pod.netns, str(st.node(other).ip), port).shares == {local[0]: 1.0}
    dns_pod = next(p for p in st.pods if p.node == empty.name)  # a pod on the node without one: its own node
    assert expect.expect(st, dns_pod.netns, str(empty.ip), port).shares == everyone
    for node in st.nodes:  # a node to another's: external too
        if node.name != empty.name:
            assert expect.expect(st, node.netns, str(empty.ip), port).outcome == "unreachable", node.name
    assert expect.expect(st, empty.netns, str(empty.ip), port).shares == everyone
    cluster_policy = st.service("default", "echo-cluster")
    e = expect.expect(st, echo[0].netns, str(empty.ip), cluster_policy.ports[0].node_port)
    assert e.outcome == "reached" and e.shares == everyone


def judged(counts, shares, failures=None, affinity=False):
    e = expect.Expectation("reached", shares, "test", affinity)
    requests = sum(counts.values()) + sum((failures or {}).values())
    return dist.judge(dist.Distribution("client", "url", requests, dict(counts), failures or {}, expectation=e))


def test_distribution_verdicts():
    half = {"a": 0.5, "b": 0.5}
    assert judged({"a": 5030, "b": 4970}, half).passed
    skewed = judged({"a": 6000, "b": 4000}, half)
    assert not skewed.passed and "not the expected split" in skewed.verdict
    assert judged({"a": 100}, half, affinity=True).passed
    assert not judged({"a": 60, "b": 40}, half, affinity=True).passed
    stray = judged({"a": 50, "c": 50}, half)
    assert not stray.passed and "should not: c" in stray.verdict
    failed = judged({"a": 50, "b": 48}, half, failures={"timeout": 2})
    assert not failed.passed and "2 of 100 requests failed" in failed.verdict


def test_check_input_errors(tmp_path):
    text = open(SEED_SCENARIO).read()
    (tmp_path / "seed").symlink_to(os.path.join(SCENARIOS, "seed"))
    (tmp_path / "topologies").mkdir()
    shutil.copy(os.path.join(SCENARIOS, "..", "topologies", "three-node.yml"), tmp_path / "topologies")
    for bad, message in (("- {from: client}", "a check has either url or dns"),
                         ("- {from: client, url: x, dns: y, expect: a}", "a check has either url or dns"),
                         ("- {from: client, url: x}", "a check needs expect"),
                         ("- {from: client, url: x, expect: a, timeout: 99}", "is not a timeout")):
        path = tmp_path / "s.yml"
        path.write_text(text.split("checks:")[0].replace("../topologies", "topologies") + "checks:\n  " + bad + "\n")
        with pytest.raises(InputError, match=message):
            scenario.load(str(path))
