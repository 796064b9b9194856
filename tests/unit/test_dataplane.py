"""The network a plan describes (lab.net.wiring), and the ARP table of large labs. Building it with
svclab's own rtnetlink client and reading it back with pyroute2 is tests/kernel/test_dataplane_kernel.py."""

import ipaddress
import os

from factories import SCENARIOS, SEED_SCENARIO
from lab.cluster.build import build_cluster
from lab.spec import scenario
from lab.net import wiring

SCALE = os.path.join(SCENARIOS, "scale.yml")


def test_mac_follows_the_address_as_the_cni_bridge_plugin_did():
    assert wiring.mac_for("10.244.1.2") == "0a:58:0a:f4:01:02"
    assert wiring.mac_for(ipaddress.ip_address("192.168.179.100")) == "0a:58:c0:a8:b3:64"


def test_small_labs_keep_a_dynamic_arp_table():
    seed = build_cluster(scenario.load(SEED_SCENARIO))
    assert wiring.plan(seed, neighbour_limit=1024).neighbours == ()
    assert wiring.plan(seed).neighbours == ()


def test_a_lab_that_could_fill_the_hosts_arp_table_gets_permanent_entries():
    state_ = build_cluster(scenario.load(SCALE))
    p = wiring.plan(state_, neighbour_limit=1024)
    entries = {(n.netns, n.ip): n.mac for n in p.neighbours}
    pod = state_.pods[0]
    node = state_.node(pod.node)
    assert entries[(pod.netns, str(node.pod_gateway))] == wiring.mac_for(node.pod_gateway)
    assert entries[(node.netns, str(pod.ip))] == wiring.mac_for(pod.ip)
    other = state_.nodes[1]
    assert entries[(node.netns if node != other else state_.nodes[0].netns, str(other.ip))] == wiring.mac_for(other.ip)
    # every machine on the LAN knows every other, and the gateway
    lan = 1 + len(state_.nodes) + len(state_.hosts)
    assert sum(1 for n in p.neighbours if n.dev == wiring.ETH and n.ip == str(state_.gateway)) == lan - 1
    # a new pod's entries (its own and its node's) come with it
    sub = wiring.subplan(p, [pod.netns])
    assert {(n.netns, n.ip) for n in sub.neighbours} == {(pod.netns, str(node.pod_gateway)), (node.netns, str(pod.ip))}
