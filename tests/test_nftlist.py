"""lab.proxy.nftlist: what ``nft list table ip kube-proxy`` prints after kube-proxy's transaction,
computed without a kernel, against the real nft (1.0.6) listing of the same transaction loaded
into a scratch namespace (root only), a hand-checked small table, and ``lab render nftables``."""

import dataclasses
import itertools
import os
import shutil
import subprocess

import pytest

from conftest import SCENARIOS, run_lab
from lab.cluster.build import build_cluster
from lab.spec import scenario
from lab.proxy import nftables, nftlist
from test_nftables import fixture_state
from test_proxy_render import ep, eps, features_state, lb_state, make_state, port, seed_state, service, spread_state

needs_nft = pytest.mark.skipif(os.geteuid() != 0 or not (shutil.which("nft") and shutil.which("ip")),
                               reason="loads rules into a network namespace: needs root, ip and nft")

# a small transaction in kube-proxy's vocabulary, and what nft 1.0.6 lists for it
SMALL = """\
add table ip kube-proxy
delete table ip kube-proxy
add table ip kube-proxy { comment "rules for kube-proxy" ; }
add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIPs" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; }
add set ip kube-proxy affinity-a { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy filter-output-pre-dnat { type filter hook output priority -110 ; }
add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy reject-chain { comment "helper" ; }
add chain ip kube-proxy svc
add chain ip kube-proxy ep-a
add chain ip kube-proxy ep-b
add rule ip kube-proxy nat-prerouting ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy nat-postrouting mark and 0x00004000 == 0 return
add rule ip kube-proxy nat-postrouting mark set mark xor 0x00004000
add rule ip kube-proxy nat-postrouting masquerade fully-random
add rule ip kube-proxy filter-prerouting-pre-dnat ct state new jump ep-b
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy svc ip daddr { 10.96.0.0/12 } drop comment "unallocated"
add rule ip kube-proxy svc ip saddr != { 203.0.113.0/25 , 192.168.179.0/24 , 192.168.179.242 } drop
add rule ip kube-proxy svc ip saddr @affinity-a goto ep-a
add rule ip kube-proxy svc numgen random mod 2 vmap { 0 : goto ep-a , 1 : goto ep-b }
add rule ip kube-proxy ep-a mark set mark or 0x00004000
add rule ip kube-proxy ep-a update @affinity-a { ip saddr }
add rule ip kube-proxy ep-a meta l4proto tcp dnat to 10.244.1.5:8080
add rule ip kube-proxy ep-b fib saddr type local drop comment "local"
add element ip kube-proxy cluster-ips { 10.96.0.10 }
add element ip kube-proxy cluster-ips { 10.96.0.1 }
add element ip kube-proxy cluster-ips { 10.105.182.209 }
add element ip kube-proxy cluster-ips { 10.96.0.10 }
add element ip kube-proxy service-ips { 10.96.0.1 . tcp . 443 : goto svc }
add element ip kube-proxy service-ips { 10.96.0.10 . udp . 53 : goto svc }
add element ip kube-proxy service-ips { 10.96.0.10 . tcp . 53 : goto svc }
add element ip kube-proxy service-ips { 10.105.182.209 . tcp . 3000 : goto svc }
add element ip kube-proxy no-endpoint-nodeports { tcp . 30082 comment "default/empty" : goto reject-chain }
"""
SMALL_LISTED = """\
table ip kube-proxy {
\tcomment "rules for kube-proxy"
\tset cluster-ips {
\t\ttype ipv4_addr
\t\tcomment "Active ClusterIPs"
\t\telements = { 10.96.0.1, 10.96.0.10,
\t\t\t     10.105.182.209 }
\t}

\tmap service-ips {
\t\ttype ipv4_addr . inet_proto . inet_service : verdict
\t\tcomment "ClusterIPs"
\t\telements = { 10.96.0.10 . tcp . 53 : goto svc,
\t\t\t     10.96.0.10 . udp . 53 : goto svc,
\t\t\t     10.105.182.209 . tcp . 3000 : goto svc,
\t\t\t     10.96.0.1 . tcp . 443 : goto svc }
\t}

\tmap no-endpoint-nodeports {
\t\ttype inet_proto . inet_service : verdict
\t\telements = { tcp . 30082 comment "default/empty" : goto reject-chain }
\t}

\tset affinity-a {
\t\ttype ipv4_addr
\t\tsize 65535
\t\tflags dynamic,timeout
\t\ttimeout 3h
\t}

\tchain nat-prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tip daddr . meta l4proto . th dport vmap @service-ips
\t}

\tchain filter-output-pre-dnat {
\t\ttype filter hook output priority -110; policy accept;
\t}

\tchain filter-prerouting-pre-dnat {
\t\ttype filter hook prerouting priority dstnat - 10; policy accept;
\t\tct state new jump ep-b
\t}

\tchain nat-postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tmeta mark & 0x00004000 == 0x00000000 return
\t\tmeta mark set meta mark ^ 0x00004000
\t\tmasquerade fully-random
\t}

\tchain reject-chain {
\t\tcomment "helper"
\t\treject
\t}

\tchain svc {
\t\tip daddr 10.96.0.0/12 drop comment "unallocated"
\t\tip saddr != { 192.168.179.0/24, 203.0.113.0/25 } drop
\t\tip saddr @affinity-a goto ep-a
\t\tnumgen random mod 2 vmap { 0 : goto ep-a, 1 : goto ep-b }
\t}

\tchain ep-a {
\t\tmeta mark set meta mark | 0x00004000
\t\tupdate @affinity-a { ip saddr }
\t\tmeta l4proto tcp dnat to 10.244.1.5:8080
\t}

\tchain ep-b {
\t\tfib saddr type local drop comment "local"
\t}
}
"""


def test_small_transaction_hand_checked():
    assert nftlist.list_table(SMALL) == SMALL_LISTED


RULE_FORMS = [
    ("ip saddr != { 10.0.0.0/25 , 10.0.0.128/25 } drop", "ip saddr != { 10.0.0.0/24 } drop"),  # merged, kept a set
    ("ip saddr != { 9.0.0.0/8 , 10.0.0.0/8 , 1.1.1.1/32 } drop", "ip saddr != { 1.1.1.1, 9.0.0.0-10.255.255.255 } drop"),
    ("ip saddr != { 1.1.1.2 , 1.1.1.1 } drop", "ip saddr != { 1.1.1.1, 1.1.1.2 } drop"),  # no prefix: not merged
    ("ip saddr != { 5.5.5.5/32 } drop", "ip saddr != 5.5.5.5 drop"),
    ("ip daddr { 10.96.0.0/12,172.30.0.0/16 } drop", "ip daddr { 10.96.0.0/12, 172.30.0.0/16 } drop"),
    ("mark set mark or 0x20", "meta mark set meta mark | 0x00000020"),
    ("ip daddr 10.105.182.209 tcp dport 3000 jump mark-for-masquerade",
     "ip daddr 10.105.182.209 tcp dport 3000 jump mark-for-masquerade"),
]


@pytest.mark.parametrize("text, listed", RULE_FORMS)
def test_rule_canonical_forms(text, listed):
    assert nftlist._rule(text) == listed


@pytest.mark.parametrize("seconds, text", [(10800, "3h"), (600, "10m"), (86400, "1d"), (3661, "1h1m1s"),
                                           (90061, "1d1h1m1s")])
def test_timeouts(seconds, text):
    assert nftlist._timeout(f"{seconds}s") == text


@pytest.mark.parametrize("hook, prio, text", [
    ("prerouting", -110, "dstnat - 10"), ("output", -110, "-110"), ("output", -100, "-100"),
    ("postrouting", 90, "srcnat - 10"), ("input", 100, "100"), ("forward", -150, "mangle"),
    ("output", 60, "security + 10"), ("output", -301, "raw - 1"), ("prerouting", -89, "-89"), ("input", 0, "filter")])
def test_priorities(hook, prio, text):
    assert nftlist._priority(hook, str(prio)) == text


# against the real nft ------------------------------------------------------------------------------

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


_netns_ids = itertools.count()


@pytest.fixture
def netns():
    """A scratch network namespace with a name no one else uses, always deleted afterwards."""
    name = f"svnl-{os.getpid()}-{next(_netns_ids)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def nft_listing(ns, transaction):
    """The real ``nft list table ip kube-proxy`` after ``nft -f`` of the transaction."""
    def nft(*args, input=None):
        r = subprocess.run(["ip", "netns", "exec", ns, "nft", *args], input=input, text=True, capture_output=True)
        assert r.returncode == 0, f"nft {' '.join(args)}: {r.stderr}"
        return r.stdout
    nft("-f", "-", input=transaction)
    return nft("list", "table", "ip", "kube-proxy")


@pytest.mark.netns
@needs_nft
@pytest.mark.parametrize("name", sorted(STATES))
def test_listing_equals_the_real_nft_listing(netns, name):
    text = _transaction(name)
    assert nftlist.list_table(text) == nft_listing(netns, text)


@pytest.mark.netns
@needs_nft
def test_small_transaction_equals_the_real_nft_listing(netns):
    assert nft_listing(netns, SMALL) == SMALL_LISTED


@pytest.mark.netns
@needs_nft
def test_rule_canonical_forms_equal_the_real_nft(netns):
    rules = [text for text, _ in RULE_FORMS]
    text = ("add table ip kube-proxy\nadd chain ip kube-proxy mark-for-masquerade\nadd chain ip kube-proxy x\n"
            + "".join(f"add rule ip kube-proxy x {r}\n" for r in rules))
    assert nftlist.list_table(text) == nft_listing(netns, text)


# the CLI -----------------------------------------------------------------------------------------

SEED = [os.path.join(SCENARIOS, "seed", f) for f in ("service.yml", "pod-nodeport.yml")]


def test_render_nftables_prints_the_listing_by_default():
    out = run_lab("render", "nftables", *SEED).stdout
    assert out.startswith("table ip kube-proxy {\n\tcomment \"rules for kube-proxy\"\n") and out.endswith("\n}\n")
    assert "\tchain services {\n" in out and "add " not in out
    restore = run_lab("render", "nftables", *SEED, "--form", "restore").stdout
    assert restore.startswith("add table ip kube-proxy\ndelete table ip kube-proxy\n")
    assert run_lab("render", "nftables", *SEED, "--form", "save").stdout == out == nftlist.list_table(restore)
