"""lab explain: the rule walker on real dumps (fast); ``lab explain svc|pod`` in real labs is
tests/labs/test_explain_lab.py.

SEED_NODE1 is ``iptables-save -t nat`` then ``-t filter`` recorded in node1 of a seed lab
(iptables 1.8.9 nf_tables, kube-proxy profile 1.18); the golden files are the restore text
kube-proxy feeds iptables-restore (tests/kernel/test_proxy_render_kernel.py loads them in a namespace).
"""

import os
from fractions import Fraction

import pytest

from factories import GOLDEN_DIR, SCENARIOS, features_state, run_lab
from lab.cluster.build import build_cluster
from lab.classroom.explain import words, walk
from lab.spec import scenario
from lab.proxy.ruleset import parse_iptables, parse_nft
from lab.proxy import iptables as proxy_iptables, options

SEED_NODE1 = """\
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:FLANNEL-POSTRTG - [0:0]
:KUBE-MARK-DROP - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-SEP-7ERVYZ6362MFHXJ5 - [0:0]
:KUBE-SEP-BWHGELGX6BITPZVO - [0:0]
:KUBE-SEP-CLAGU7VMF4VCXE4X - [0:0]
:KUBE-SEP-H7FN6LU3RSH6CC2T - [0:0]
:KUBE-SEP-HK254EL4IH3TTFBT - [0:0]
:KUBE-SEP-TCIZBYBD3WWXNWF5 - [0:0]
:KUBE-SEP-TWG53VPX4RADGFC6 - [0:0]
:KUBE-SEP-YUA4WPOUSEKJIAM2 - [0:0]
:KUBE-SEP-Z6M7ZHWCTBNMPLD7 - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SVC-GFPAJ7EGCNM4QF4H - [0:0]
:KUBE-SVC-JD5MR3NA4I4DYORP - [0:0]
:KUBE-SVC-NPX46M4PTMTKRN6Y - [0:0]
:KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A KUBE-MARK-DROP -j MARK --set-xmark 0x8000/0x8000
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 -j KUBE-MARK-MASQ
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 -j KUBE-SVC-GFPAJ7EGCNM4QF4H
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-7ERVYZ6362MFHXJ5 -s 192.168.179.99/32 -m comment --comment "default/kubernetes:https" -j KUBE-MARK-MASQ
-A KUBE-SEP-7ERVYZ6362MFHXJ5 -p tcp -m comment --comment "default/kubernetes:https" -m tcp -j DNAT --to-destination 192.168.179.99:6443
-A KUBE-SEP-BWHGELGX6BITPZVO -s 10.244.1.2/32 -m comment --comment "kube-system/kube-dns:dns-tcp" -j KUBE-MARK-MASQ
-A KUBE-SEP-BWHGELGX6BITPZVO -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp" -m tcp -j DNAT --to-destination 10.244.1.2:53
-A KUBE-SEP-CLAGU7VMF4VCXE4X -s 10.244.2.2/32 -m comment --comment "kube-system/kube-dns:metrics" -j KUBE-MARK-MASQ
-A KUBE-SEP-CLAGU7VMF4VCXE4X -p tcp -m comment --comment "kube-system/kube-dns:metrics" -m tcp -j DNAT --to-destination 10.244.2.2:9153
-A KUBE-SEP-H7FN6LU3RSH6CC2T -s 10.244.2.2/32 -m comment --comment "kube-system/kube-dns:dns-tcp" -j KUBE-MARK-MASQ
-A KUBE-SEP-H7FN6LU3RSH6CC2T -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp" -m tcp -j DNAT --to-destination 10.244.2.2:53
-A KUBE-SEP-HK254EL4IH3TTFBT -s 10.244.1.2/32 -m comment --comment "kube-system/kube-dns:metrics" -j KUBE-MARK-MASQ
-A KUBE-SEP-HK254EL4IH3TTFBT -p tcp -m comment --comment "kube-system/kube-dns:metrics" -m tcp -j DNAT --to-destination 10.244.1.2:9153
-A KUBE-SEP-TCIZBYBD3WWXNWF5 -s 10.244.2.2/32 -m comment --comment "kube-system/kube-dns:dns" -j KUBE-MARK-MASQ
-A KUBE-SEP-TCIZBYBD3WWXNWF5 -p udp -m comment --comment "kube-system/kube-dns:dns" -m udp -j DNAT --to-destination 10.244.2.2:53
-A KUBE-SEP-TWG53VPX4RADGFC6 -s 10.244.0.23/32 -m comment --comment "default/nodeport-svc:" -j KUBE-MARK-MASQ
-A KUBE-SEP-TWG53VPX4RADGFC6 -p tcp -m comment --comment "default/nodeport-svc:" -m tcp -j DNAT --to-destination 10.244.0.23:8080
-A KUBE-SEP-YUA4WPOUSEKJIAM2 -s 10.244.2.14/32 -m comment --comment "default/nodeport-svc:" -j KUBE-MARK-MASQ
-A KUBE-SEP-YUA4WPOUSEKJIAM2 -p tcp -m comment --comment "default/nodeport-svc:" -m tcp -j DNAT --to-destination 10.244.2.14:8080
-A KUBE-SEP-Z6M7ZHWCTBNMPLD7 -s 10.244.1.2/32 -m comment --comment "kube-system/kube-dns:dns" -j KUBE-MARK-MASQ
-A KUBE-SEP-Z6M7ZHWCTBNMPLD7 -p udp -m comment --comment "kube-system/kube-dns:dns" -m udp -j DNAT --to-destination 10.244.1.2:53
-A KUBE-SERVICES ! -s 10.244.0.0/16 -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-MARK-MASQ
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y
-A KUBE-SERVICES ! -s 10.244.0.0/16 -d 10.105.182.209/32 -p tcp -m comment --comment "default/nodeport-svc: cluster IP" -m tcp --dport 3000 -j KUBE-MARK-MASQ
-A KUBE-SERVICES -d 10.105.182.209/32 -p tcp -m comment --comment "default/nodeport-svc: cluster IP" -m tcp --dport 3000 -j KUBE-SVC-GFPAJ7EGCNM4QF4H
-A KUBE-SERVICES ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-MARK-MASQ
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SERVICES ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp --dport 53 -j KUBE-MARK-MASQ
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SERVICES ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:metrics cluster IP" -m tcp --dport 9153 -j KUBE-MARK-MASQ
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:metrics cluster IP" -m tcp --dport 9153 -j KUBE-SVC-JD5MR3NA4I4DYORP
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-BWHGELGX6BITPZVO
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp" -j KUBE-SEP-H7FN6LU3RSH6CC2T
-A KUBE-SVC-GFPAJ7EGCNM4QF4H -m comment --comment "default/nodeport-svc:" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-TWG53VPX4RADGFC6
-A KUBE-SVC-GFPAJ7EGCNM4QF4H -m comment --comment "default/nodeport-svc:" -j KUBE-SEP-YUA4WPOUSEKJIAM2
-A KUBE-SVC-JD5MR3NA4I4DYORP -m comment --comment "kube-system/kube-dns:metrics" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-HK254EL4IH3TTFBT
-A KUBE-SVC-JD5MR3NA4I4DYORP -m comment --comment "kube-system/kube-dns:metrics" -j KUBE-SEP-CLAGU7VMF4VCXE4X
-A KUBE-SVC-NPX46M4PTMTKRN6Y -m comment --comment "default/kubernetes:https" -j KUBE-SEP-7ERVYZ6362MFHXJ5
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-Z6M7ZHWCTBNMPLD7
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns" -j KUBE-SEP-TCIZBYBD3WWXNWF5
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -j KUBE-FIREWALL
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-FIREWALL -m comment --comment "kubernetes firewall for dropping marked packets" -m mark --mark 0x8000/0x8000 -j DROP
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack pod source rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack pod destination rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
"""

# the same shape as the seed, with three endpoints (iptables-save's probabilities for n=3)
THREE = """\
*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-X3X3X3X3X3X3X3X3 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.50/32 -p tcp -m comment --comment "default/three cluster IP" -m tcp --dport 80 -j KUBE-SVC-X3X3X3X3X3X3X3X3
-A KUBE-SVC-X3X3X3X3X3X3X3X3 -m comment --comment "default/three -> 10.244.0.2:8080" -m statistic --mode random --probability 0.33333333349 -j DNAT --to-destination 10.244.0.2:8080
-A KUBE-SVC-X3X3X3X3X3X3X3X3 -m comment --comment "default/three -> 10.244.1.2:8080" -m statistic --mode random --probability 0.50000000000 -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SVC-X3X3X3X3X3X3X3X3 -m comment --comment "default/three -> 10.244.2.2:8080" -j DNAT --to-destination 10.244.2.2:8080
COMMIT
"""

NFT_SEED_NODE1 = """\
table ip kube-proxy {
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.103.66.148 . tcp . 3000 : goto service-T4CYUJA2-default/nodeport-svc/tcp/ }
	}

	set nodeport-ips {
		type ipv4_addr
		elements = { 192.168.179.100 }
	}

	map service-nodeports {
		type inet_proto . inet_service : verdict
		elements = { tcp . 30090 : goto external-T4CYUJA2-default/nodeport-svc/tcp/ }
	}

	map no-endpoint-services {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.96.10.14 . tcp . 80 comment "default/empty" : goto reject-chain }
	}

	chain filter-forward {
		type filter hook forward priority filter; policy accept;
		ct state new jump service-endpoints-check
	}

	chain mark-for-masquerade {
		meta mark set meta mark | 0x00004000
	}

	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}

	chain reject-chain {
		comment "helper for @no-endpoint-services / @no-endpoint-nodeports"
		reject
	}

	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
		ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
	}

	chain service-endpoints-check {
		ip daddr . meta l4proto . th dport vmap @no-endpoint-services
	}

	chain service-T4CYUJA2-default/nodeport-svc/tcp/ {
		ip daddr 10.103.66.148 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
		numgen random mod 2 vmap { 0 : goto endpoint-MPFWKQMS-default/nodeport-svc/tcp/__10.244.1.2/8080, 1 : goto endpoint-NTHEBF5C-default/nodeport-svc/tcp/__10.244.2.3/8080 }
	}

	chain external-T4CYUJA2-default/nodeport-svc/tcp/ {
		jump mark-for-masquerade
		goto service-T4CYUJA2-default/nodeport-svc/tcp/
	}

	chain endpoint-MPFWKQMS-default/nodeport-svc/tcp/__10.244.1.2/8080 {
		ip saddr 10.244.1.2 jump mark-for-masquerade
		meta l4proto tcp dnat to 10.244.1.2:8080
	}

	chain endpoint-NTHEBF5C-default/nodeport-svc/tcp/__10.244.2.3/8080 {
		ip saddr 10.244.2.3 jump mark-for-masquerade
		meta l4proto tcp dnat to 10.244.2.3:8080
	}
}
"""

NODE1_ADDRESSES = ["127.0.0.0/8", "192.168.179.100/32", "10.244.1.1/32"]


@pytest.fixture(scope="module")
def seed_cs():
    return build_cluster(scenario.load(os.path.join(SCENARIOS, "seed.yml")))


def _paths(rs, cs, node_name, kind, ip, port, proto="TCP", svc=None, addresses=NODE1_ADDRESSES):
    node = cs.node(node_name)
    entry = walk.Entry(kind, ip, port, proto, "")
    stages = walk.stages(rs, entry, addresses, words.source_context(cs, svc))
    return stages, words.summary(stages, cs, node)


# unit: parsing ---------------------------------------------------------------------------------

def test_parse_iptables_save_keeps_rules_in_order():
    rs = parse_iptables(SEED_NODE1)
    svc = rs.rules("nat", "KUBE-SVC-GFPAJ7EGCNM4QF4H")
    assert [r.target for r in svc] == ["KUBE-SEP-TWG53VPX4RADGFC6", "KUBE-SEP-YUA4WPOUSEKJIAM2"]
    assert svc[0].comment == "default/nodeport-svc:"
    assert ("statistic", "--probability", "0.50000000000", False) in svc[0].matches
    masq = rs.rules("nat", "KUBE-SERVICES")[2]
    assert ("", "-s", "10.244.0.0/16", True) in masq.matches and masq.target == "KUBE-MARK-MASQ"
    dnat = rs.rules("nat", "KUBE-SEP-TWG53VPX4RADGFC6")[1]
    assert dnat.verdict == "DNAT" and dnat.target_args == ("--to-destination", "10.244.0.23:8080")
    assert rs.rules("filter", "KUBE-FORWARD")[0].verdict == "DROP"


def test_parse_restore_form_with_inserted_jumps():
    """kube-proxy's restore text (``-m comment ... -m tcp -p tcp``, ``-I PREROUTING 1``) reads the same."""
    text = proxy_iptables.render_bootstrap(options.PROFILES["1.18"]) + open(
        os.path.join(GOLDEN_DIR, "seed-1.18-node1.rules")).read()
    rs = parse_iptables(text)
    assert rs.rules("nat", "PREROUTING")[0].target == "KUBE-SERVICES"
    assert rs.rules("nat", "PREROUTING")[0].text.startswith("-A PREROUTING ")
    np = [r for r in rs.rules("nat", "KUBE-NODEPORTS")]
    assert [r.target for r in np] == ["KUBE-MARK-MASQ", "KUBE-SVC-GFPAJ7EGCNM4QF4H"]


def test_parse_nft_listing_maps_and_chains():
    rs = parse_nft(NFT_SEED_NODE1)
    assert rs.sets["service-nodeports"] == [("tcp . 30090", "goto external-T4CYUJA2-default/nodeport-svc/tcp/", None)]
    assert rs.sets["no-endpoint-services"][0][2] == "default/empty"
    assert [h[2] for h in rs.hooks["prerouting"]] == ["nat-prerouting"]
    numgen = rs.rules("kube-proxy", "service-T4CYUJA2-default/nodeport-svc/tcp/")[1]
    assert numgen.verdict == "vmap" and ("vmap-key", "numgen random mod 2", "", False) in numgen.matches


# unit: walking ---------------------------------------------------------------------------------

def test_seed_nodeport_always_masqueraded_half_each(seed_cs):
    svc = seed_cs.service("default", "nodeport-svc")
    stages, paths = _paths(parse_iptables(SEED_NODE1), seed_cs, "node1", "NodePort", "192.168.179.100", 30090,
                           svc=svc)
    assert [(p["pod"], p["share"], p["masquerade"]) for p in paths] == [
        ("pod-nodeport-6cc49c7999-gdqbg", "1/2", ["always"]), ("pod-nodeport-6cc49c7999-5fjdh", "1/2", ["always"])]
    assert all(p["seen_source"].startswith("192.168.179.100") for p in paths)
    chains = [s.chain for s in _walk_chains(stages[0].visit)]
    assert chains == ["PREROUTING", "KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-SVC-GFPAJ7EGCNM4QF4H",
                      "KUBE-SEP-TWG53VPX4RADGFC6", "KUBE-SEP-YUA4WPOUSEKJIAM2"]
    assert "the node's own connections (nat OUTPUT) go the same way" in stages[0].label


def _walk_chains(visit):
    yield visit
    for s in visit.steps:
        if s.child is not None and s.child.steps:
            yield from _walk_chains(s.child)


def test_seed_clusterip_masquerade_conditions(seed_cs):
    svc = seed_cs.service("default", "nodeport-svc")
    _, paths = _paths(parse_iptables(SEED_NODE1), seed_cs, "node1", "ClusterIP", "10.105.182.209", 3000, svc=svc)
    assert {p["to"] for p in paths} == {"10.244.0.23:8080", "10.244.2.14:8080"}
    for p in paths:
        assert p["masquerade"] == [
            "the source is not in 10.244.0.0/16 (not a pod: a node, or a machine outside the cluster)",
            words.HAIRPIN]
    text = "\n".join(words.words_lines(paths, "node1"))
    assert "1/2 -> pod pod-nodeport-6cc49c7999-gdqbg (10.244.0.23:8080, on master)" in text
    assert "or " + words.HAIRPIN in text


def test_wrong_port_matches_nothing(seed_cs):
    stages, paths = _paths(parse_iptables(SEED_NODE1), seed_cs, "node1", "ClusterIP", "10.105.182.209", 3001)
    assert all(p["verdict"] == "none" for p in paths)


def test_probabilities_become_shares_of_the_rest(seed_cs):
    stages, paths = _paths(parse_iptables(THREE), seed_cs, "node1", "ClusterIP", "10.96.0.50", 80)
    svc_steps = stages[0].visit.steps[0].child.steps[0].child.steps
    assert [s.share_text for s in svc_steps] == ["1/3 of new connections", "1/2 of the rest = 1/3", "the rest = 1/3"]
    assert [p["share"] for p in paths] == ["1/3", "1/3", "1/3"]
    assert sum(Fraction(p["share"]) for p in paths) == 1


def test_etp_local_nodeport_keeps_client_address():
    """Current layout, externalTrafficPolicy Local: pods and the node itself go to every endpoint
    (the node masqueraded), everybody else only to node1's own pod, unmasqueraded."""
    cs = features_state("current")
    text = proxy_iptables.render_bootstrap(options.PROFILES["current"]) + open(
        os.path.join(GOLDEN_DIR, "features-current-node1.rules")).read()
    _, paths = _paths(parse_iptables(text), cs, "node1", "NodePort", "192.168.179.100", 30081)
    by_case = {}
    for p in paths:
        by_case.setdefault((p["otherwise"], tuple(p["conditions"])), []).append(p)
    pods = [c for c in by_case if c[1] and "10.244.0.0/16" in c[1][0]]
    assert len(by_case[pods[0]]) == 2 and by_case[pods[0]][0]["masquerade"] == [words.HAIRPIN]
    local = [c for c in by_case if c[1] and "an address of this node" in c[1][0]][0]
    assert by_case[local][0]["masquerade"][0] == "the source is an address of this node (the node's own connection)"
    rest = by_case[(True, ())]
    assert [(p["to"], p["masquerade"]) for p in rest] == [("10.244.1.11:8080", [words.HAIRPIN])]
    lines = words.words_lines(paths, "node1")
    assert any("not masqueraded: the pod sees the client's own address" in l for l in lines)


def test_no_endpoints_rejected_by_the_filter_table():
    cs = features_state("current")
    text = proxy_iptables.render_bootstrap(options.PROFILES["current"]) + open(
        os.path.join(GOLDEN_DIR, "features-current-node1.rules")).read()
    rs = parse_iptables(text)
    stages, paths = _paths(rs, cs, "node1", "ClusterIP", "10.96.10.14", 80)
    assert [(s.table, s.chain) for s in stages] == [("nat", "PREROUTING"), ("filter", "FORWARD")]
    assert [(p["verdict"], p["comment"]) for p in paths] == [("REJECT", "default/empty has no endpoints")]
    stages, paths = _paths(rs, cs, "node1", "NodePort", "192.168.179.100", 30082)
    assert stages[-1].chain == "INPUT" and paths[0]["verdict"] == "REJECT"


def test_affinity_before_the_split():
    cs = features_state("current")
    text = proxy_iptables.render_bootstrap(options.PROFILES["current"]) + open(
        os.path.join(GOLDEN_DIR, "features-current-node1.rules")).read()
    _, paths = _paths(parse_iptables(text), cs, "node1", "ClusterIP", "10.96.10.13", 80)
    sticky = [p for p in paths if p["conditions"] and "session affinity" in p["conditions"][0]]
    assert [p["to"] for p in sticky] == ["10.244.1.13:8080", "10.244.2.13:8080"]
    assert sticky[1]["otherwise"]
    fresh = [p for p in paths if not p["conditions"]]
    assert [(p["otherwise"], p["share"]) for p in fresh] == [(True, "1/2"), (True, "1/2")]


def test_legacy_xlb_chain_for_local_policy():
    cs = features_state("1.18")
    text = proxy_iptables.render_bootstrap(options.PROFILES["1.18"]) + open(
        os.path.join(GOLDEN_DIR, "features-1.18-node1.rules")).read()
    stages, paths = _paths(parse_iptables(text), cs, "node1", "NodePort", "192.168.179.100", 30081)
    chains = {s.chain for s in _walk_chains(stages[0].visit)}
    assert "KUBE-XLB-DMWTXLRHLUXULGCS" in chains
    assert [p["to"] for p in paths if p["otherwise"] and not p["conditions"]] == ["10.244.1.11:8080"]


def test_nft_walk_numgen_and_maps(seed_cs):
    rs = parse_nft(NFT_SEED_NODE1)
    stages, paths = _paths(rs, seed_cs, "node1", "NodePort", "192.168.179.100", 30090)
    assert [(p["to"], p["share"], p["masquerade"]) for p in paths] == [
        ("10.244.1.2:8080", "1/2", ["always"]), ("10.244.2.3:8080", "1/2", ["always"])]
    vias = [s.outcome.via for v in _walk_chains(stages[0].visit) for s in v.steps if s.outcome.via]
    assert vias[0] == "@service-nodeports element tcp . 30090 : goto external-T4CYUJA2-default/nodeport-svc/tcp/"
    _, paths = _paths(rs, seed_cs, "node1", "ClusterIP", "10.96.10.14", 80)
    assert [p["verdict"] for p in paths] == ["REJECT"]


def test_no_lab():
    r = run_lab("explain", "svc", "x", "--lab", "nosuchlab", check=False)
    assert r.returncode == 2 and "not up" in r.stderr
