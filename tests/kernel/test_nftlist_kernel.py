"""lab.proxy.nftlist's listing against the real nft (1.0.6): each transaction loaded into a scratch
namespace with ``nft -f`` and listed back with ``nft list table ip kube-proxy``."""

import dataclasses
import os
import subprocess

import pytest

from factories import (NFT_RULE_FORMS, NFT_SMALL, NFT_SMALL_LISTED, SCENARIOS, ep, eps, features_state, fixture_state,
                       lb_state, make_state, needs_tools, port, seed_state, service, spread_state)
from lab.cluster.build import build_cluster
from lab.spec import scenario
from lab.proxy import nftables, nftlist

pytestmark = needs_tools("ip", "nft", why="loads rules into a network namespace")


def _masquerade_all_state():
    state = seed_state("current")
    return dataclasses.replace(state, kube_proxy=dataclasses.replace(state.kube_proxy, masquerade_all=True,
                                                                      masquerade_bit=5))


def _protocols_state():
    """UDP and SCTP ports, a day-long affinity, ports whose byte order decides the element order."""
    svc = service("multi", "10.96.30.1", port(53, protocol="UDP", name="dns"), port(256, name="a", node_port=30256),
                  port(1, name="b", node_port=31001), port(80, protocol="SCTP", name="c"),
                  session_affinity="ClientIP", affinity_timeout=86400)
    endpoints = (ep("10.244.1.30:80", "node1"), ep("10.244.2.30:80", "node2"))
    return make_state([svc], dict(eps(svc, *endpoints, port_name=n) for n in ("dns", "a", "b", "c")))


def _nodeport_nft():
    return build_cluster(scenario.load(os.path.join(SCENARIOS, "nodeport-nft.yml")))


def _lb_ranges_state():
    return lb_state(ranges=("10.1.0.0/25", "10.1.0.128/25", "172.16.0.0/16", "172.17.0.0/16", "192.168.179.0/24"))


STATES = {
    "seed-node1": (lambda: seed_state("current"), "node1", nftables.PRIMARY),
    "features-node1": (lambda: features_state("current"), "node1", nftables.PRIMARY),
    "features-node2": (lambda: features_state("current"), "node2", nftables.PRIMARY),
    "features-all-master": (lambda: features_state("current"), "master", nftables.ALL),
    "features-given-addresses": (lambda: features_state("current"), "node1",
                                 ("192.168.179.100", "10.244.1.1", "192.168.180.7")),
    "upstream-fixture": (fixture_state, "test-node", nftables.PRIMARY),
    "nodeport-nft-node1": (_nodeport_nft, 1, nftables.PRIMARY),
    "spread-12": (lambda: spread_state(12), "master", nftables.PRIMARY),
    "masquerade-all-bit-5": (_masquerade_all_state, "node1", nftables.PRIMARY),
    "protocols": (_protocols_state, "node1", nftables.PRIMARY),
    "lb-source-ranges": (_lb_ranges_state, "node2", nftables.PRIMARY),
    "no-services": (lambda: make_state([]), "node1", nftables.PRIMARY),
}


def _transaction(name):
    make, node, addresses = STATES[name]
    state = make()
    if isinstance(node, int):
        node = state.nodes[node].name
    return nftables.render(state, node, addresses)


def nft_listing(ns, transaction):
    """The real ``nft list table ip kube-proxy`` after ``nft -f`` of the transaction."""
    def nft(*args, input=None):
        r = subprocess.run(["ip", "netns", "exec", ns, "nft", *args], input=input, text=True, capture_output=True)
        assert r.returncode == 0, f"nft {' '.join(args)}: {r.stderr}"
        return r.stdout
    nft("-f", "-", input=transaction)
    return nft("list", "table", "ip", "kube-proxy")


@pytest.mark.netns
@pytest.mark.parametrize("name", sorted(STATES))
def test_listing_equals_the_real_nft_listing(scratch_netns, name):
    text = _transaction(name)
    assert nftlist.list_table(text) == nft_listing(scratch_netns, text)


@pytest.mark.netns
def test_small_transaction_equals_the_real_nft_listing(scratch_netns):
    assert nft_listing(scratch_netns, NFT_SMALL) == NFT_SMALL_LISTED


@pytest.mark.netns
def test_rule_canonical_forms_equal_the_real_nft(scratch_netns):
    rules = [text for text, _ in NFT_RULE_FORMS]
    text = ("add table ip kube-proxy\nadd chain ip kube-proxy mark-for-masquerade\nadd chain ip kube-proxy x\n"
            + "".join(f"add rule ip kube-proxy x {r}\n" for r in rules))
    assert nftlist.list_table(text) == nft_listing(scratch_netns, text)
