"""kube-proxy's nftables mode (lab.proxy.nftables, the kube-proxy agent in that mode, and a lab
built with it) against upstream's text and against the iptables suite's reachability checks.

The exact lines come from real kube-proxy dumps and upstream's ``TestOverallNFTablesRules``
fixture (kube-proxy's nftables proxier tests), copied below. Golden files in tests/golden/nft-*.nft
pin the whole transaction for a few states; regenerate them after a deliberate change with
``SVCLAB_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_nftables.py`` and review the diff.
tests/kernel/test_nftables_kernel.py loads the rules into scratch namespaces, and
tests/labs/test_nftables_lab.py brings up scenarios/nodeport-nft.yml under a unique lab name.
"""

import collections
import dataclasses
import difflib
import ipaddress
import os

import pytest

from factories import (GOLDEN_DIR, NFT_GOLDENS, SCENARIOS, UPDATE_GOLDEN, ep, eps, features_state, fixture_state,
                       make_state, port, seed_state, service)
from lab.spec import scenario
from lab.errors import InputError
from lab.proxy import names, nftables

T = "add rule ip kube-proxy"


def lines(text):
    return [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


# upstream's fixture -----------------------------------------------------------------------------

# TestOverallNFTablesRules' expected dump (baseRules + the six services), verbatim but for the
# mark: the fake proxier hard-codes "0x4000", the real binary formats 1<<14 with Go's %#08x
FIXTURE = """
add table ip kube-proxy { comment "rules for kube-proxy" ; }
add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }
add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }
add chain ip kube-proxy cluster-ips-check
add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy filter-output-pre-dnat { type filter hook output priority -110 ; }
add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }
add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }
add chain ip kube-proxy filter-output { type filter hook output priority 0 ; }
add chain ip kube-proxy firewall-check
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy masquerading
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy nodeport-endpoints-check
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add chain ip kube-proxy services
add chain ip kube-proxy service-endpoints-check
add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
add rule ip kube-proxy cluster-ips-check ip daddr { 172.30.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"
add rule ip kube-proxy filter-prerouting-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check
add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check
add rule ip kube-proxy filter-input ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-output ct state new jump cluster-ips-check
add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000
add rule ip kube-proxy masquerading mark and 0x4000 == 0 return
add rule ip kube-proxy masquerading mark set mark xor 0x4000
add rule ip kube-proxy masquerading masquerade fully-random
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
add element ip kube-proxy nodeport-ips { 192.168.0.2 }
add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services

# svc1
add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 }
add chain ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80
add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 ip saddr 10.180.0.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 meta l4proto tcp dnat to 10.180.0.1:80
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }

# svc2
add chain ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/p80
add rule ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/p80 ip daddr 172.30.0.42 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80 }
add chain ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80
add rule ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80 ip saddr 10.0.0.0/8 goto service-42NFTM6N-ns2/svc2/tcp/p80 comment "short-circuit pod traffic"
add rule ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80 fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"
add rule ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80 fib saddr type local goto service-42NFTM6N-ns2/svc2/tcp/p80 comment "short-circuit local traffic"
add chain ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80
add rule ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80 ip saddr 10.180.0.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80 meta l4proto tcp dnat to 10.180.0.2:80
add element ip kube-proxy cluster-ips { 172.30.0.42 }
add element ip kube-proxy service-ips { 172.30.0.42 . tcp . 80 : goto service-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy service-ips { 192.168.99.22 . tcp . 80 : goto external-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy service-ips { 1.2.3.4 . tcp . 80 : goto external-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3001 : goto external-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy no-endpoint-nodeports { tcp . 3001 comment "ns2/svc2:p80" : drop }
add element ip kube-proxy no-endpoint-services { 1.2.3.4 . tcp . 80 comment "ns2/svc2:p80" : drop }
add element ip kube-proxy no-endpoint-services { 192.168.99.22 . tcp . 80 comment "ns2/svc2:p80" : drop }

# svc3
add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 }
add chain ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80 goto service-4AT6LBPK-ns3/svc3/tcp/p80
add chain ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80
add rule ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 ip saddr 10.180.0.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 meta l4proto tcp dnat to 10.180.0.3:80
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3003 : goto external-4AT6LBPK-ns3/svc3/tcp/p80 }

# svc4
add chain ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 ip daddr 172.30.0.44 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 , 1 : goto endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 }
add chain ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80 goto service-LAUZTJTB-ns4/svc4/tcp/p80
add chain ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80
add rule ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 ip saddr 10.180.0.5 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 meta l4proto tcp dnat to 10.180.0.5:80
add chain ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80
add rule ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 ip saddr 10.180.0.4 jump mark-for-masquerade
add rule ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 meta l4proto tcp dnat to 10.180.0.4:80
add element ip kube-proxy cluster-ips { 172.30.0.44 }
add element ip kube-proxy service-ips { 172.30.0.44 . tcp . 80 : goto service-LAUZTJTB-ns4/svc4/tcp/p80 }
add element ip kube-proxy service-ips { 192.168.99.33 . tcp . 80 : goto external-LAUZTJTB-ns4/svc4/tcp/p80 }

# svc5
add set ip kube-proxy affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add chain ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80
add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 ip daddr 172.30.0.45 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 ip saddr @affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 goto endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80
add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 }
add chain ip kube-proxy external-HVFWP5L3-ns5/svc5/tcp/p80
add rule ip kube-proxy external-HVFWP5L3-ns5/svc5/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-HVFWP5L3-ns5/svc5/tcp/p80 goto service-HVFWP5L3-ns5/svc5/tcp/p80
add chain ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80
add rule ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 ip saddr 10.180.0.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 update @affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 { ip saddr }
add rule ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 meta l4proto tcp dnat to 10.180.0.3:80
add chain ip kube-proxy firewall-HVFWP5L3-ns5/svc5/tcp/p80
add rule ip kube-proxy firewall-HVFWP5L3-ns5/svc5/tcp/p80 ip saddr != { 203.0.113.0/25 } drop
add element ip kube-proxy cluster-ips { 172.30.0.45 }
add element ip kube-proxy service-ips { 172.30.0.45 . tcp . 80 : goto service-HVFWP5L3-ns5/svc5/tcp/p80 }
add element ip kube-proxy service-ips { 5.6.7.8 . tcp . 80 : goto external-HVFWP5L3-ns5/svc5/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3002 : goto external-HVFWP5L3-ns5/svc5/tcp/p80 }
add element ip kube-proxy firewall-ips { 5.6.7.8 . tcp . 80 : goto firewall-HVFWP5L3-ns5/svc5/tcp/p80 }

# svc6
add element ip kube-proxy cluster-ips { 172.30.0.46 }
add element ip kube-proxy no-endpoint-services { 172.30.0.46 . tcp . 80 comment "ns6/svc6:p80" : goto reject-chain }
""".replace("0x4000", "0x00004000")


def by_chain(text):
    """{chain: [rules in order]} of the ``add rule`` lines."""
    out = collections.defaultdict(list)
    for line in lines(text):
        if line.startswith(T + " "):
            out[line.split()[4]].append(line)
    return dict(out)


def test_upstream_fixture_exactly():
    """Every line of TestOverallNFTablesRules comes out, nothing more, and each chain's rules in order."""
    text = nftables.definition(fixture_state(), "test-node")
    assert sorted(lines(text)) == sorted(lines(FIXTURE))
    assert by_chain(text) == by_chain(FIXTURE)


SVC4_LINES = """
add chain ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 ip daddr 172.30.0.44 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 , 1 : goto endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 }
add chain ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80 goto service-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 ip saddr 10.180.0.4 jump mark-for-masquerade
add rule ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 meta l4proto tcp dnat to 10.180.0.4:80
add element ip kube-proxy cluster-ips { 172.30.0.44 }
add element ip kube-proxy service-ips { 172.30.0.44 . tcp . 80 : goto service-LAUZTJTB-ns4/svc4/tcp/p80 }
add element ip kube-proxy service-ips { 192.168.99.33 . tcp . 80 : goto external-LAUZTJTB-ns4/svc4/tcp/p80 }
"""


def svc4_state():
    """A real dump's ns4/svc4, port p80, ClusterIP 172.30.0.44, endpoints 10.180.0.4:80 and 10.180.0.5:80,
    externalIP 192.168.99.33; service CIDR 172.30.0.0/16 and cluster CIDR 10.0.0.0/8."""
    svc4 = service("svc4", "172.30.0.44", port(80, name="p80"), namespace="ns4", type="NodePort",
                   external_ips=("192.168.99.33",))
    state = make_state([svc4], dict([eps(svc4, ep("10.180.0.5:80", "node1"), ep("10.180.0.4:80", "node2"),
                                         port_name="p80")]))
    return dataclasses.replace(state, service_cidr=ipaddress.ip_network("172.30.0.0/16"),
                               cluster_cidr=ipaddress.ip_network("10.0.0.0/8"))


@pytest.mark.parametrize("node", ["master", "node1", "node2"])
def test_notes_svc4_lines_come_out_exactly(node):
    text = nftables.render(svc4_state(), node)
    rendered = lines(text)
    for line in lines(SVC4_LINES):
        assert line in rendered, line
    # the endpoint order of the vmap follows the endpoints' address strings, whatever their order in
    # the slice, and the table is recreated in one transaction
    assert rendered[:2] == ["add table ip kube-proxy", "delete table ip kube-proxy"]
    assert text.count("numgen random") == 1
    assert "add element ip kube-proxy nodeport-ips { " + {"master": "192.168.179.99", "node1": "192.168.179.100",
                                                         "node2": "192.168.179.101"}[node] + " }" in rendered


# names ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, base", [
    ("ns1/svc1/tcp/p80", "ULMVA6XW-ns1/svc1/tcp/p80"),
    ("ns1/svc1/tcp/p80__10.180.0.1/80", "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"),
    ("default/nodeport-svc/tcp/", "T4CYUJA2-default/nodeport-svc/tcp/"),
    ("default/nodeport-svc/tcp/__10.244.1.5/8080", "YYLSAZET-default/nodeport-svc/tcp/__10.244.1.5/8080"),
    ("default/nodeport-svc/tcp/__10.244.2.7/8080", "NLLUDGCM-default/nodeport-svc/tcp/__10.244.2.7/8080"),
])
def test_hash_and_truncate(name, base):
    assert names.hash_and_truncate(name) == base


def test_chain_name_helpers():
    assert names.service_chain_base("default", "nodeport-svc", "TCP", "") == "T4CYUJA2-default/nodeport-svc/tcp/"
    assert (names.endpoint_chain_base("ns1", "svc1", "tcp", "p80", "10.180.0.1", 80)
            == "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80")
    assert names.endpoint_chain_base("a", "b", "tcp", "", "fd00::5", 80).endswith("-a/b/tcp/__fd00..5/80")
    long = names.hash_and_truncate("x" * 300)
    assert len(long) == names.NAME_BASE_MAX and long.endswith("...")
    assert names.is_nft_service_chain("service-T4CYUJA2-default/nodeport-svc/tcp/")
    assert not names.is_nft_service_chain("services")


# features ---------------------------------------------------------------------------------------

def rules_of(text, prefix, base):
    return [line[len(f"{T} {prefix}{base} "):] for line in lines(text) if line.startswith(f"{T} {prefix}{base} ")]


def test_etp_local_external_chain_with_a_local_endpoint():
    text = nftables.definition(features_state("current"), "node1")
    base = names.service_chain_base("default", "local-np", "tcp", "")
    assert rules_of(text, "external-", base) == [
        f'ip saddr 10.244.0.0/16 goto service-{base} comment "short-circuit pod traffic"',
        'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
        f'fib saddr type local goto service-{base} comment "short-circuit local traffic"',
        f"goto local-{base}",
    ]
    ep_base = names.endpoint_chain_base("default", "local-np", "tcp", "", "10.244.1.11", 8080)
    assert rules_of(text, "local-", base) == [f"numgen random mod 1 vmap {{ 0 : goto endpoint-{ep_base} }}"]
    assert f"add element ip kube-proxy service-nodeports {{ tcp . 30081 : goto external-{base} }}" in text


def test_etp_local_without_local_endpoints_drops_external_traffic():
    text = nftables.definition(features_state("current"), "node2")  # local-np has no pod on node2
    base = names.service_chain_base("default", "local-np", "tcp", "")
    assert rules_of(text, "external-", base)[-1] == f'fib saddr type local goto service-{base} comment "short-circuit local traffic"'
    assert 'add element ip kube-proxy no-endpoint-nodeports { tcp . 30081 comment "default/local-np" : drop }' in text
    assert f"add chain ip kube-proxy local-{base}\n" not in text
    # vip-local: LB IP and NodePort dropped, its health check node port still served by the agent
    assert 'no-endpoint-services { 192.168.179.241 . tcp . 80 comment "default/vip-local:http" : drop }' in text


def test_itp_local_uses_the_local_chain_or_drops():
    base = names.service_chain_base("default", "itp-local", "tcp", "")
    on_node1 = nftables.definition(features_state("current"), "node1")
    assert f"add element ip kube-proxy service-ips {{ 10.96.10.12 . tcp . 80 : goto local-{base} }}" in on_node1
    assert f"service-{base}" not in on_node1  # ITP=Local and not external: no Cluster chain at all
    on_node2 = nftables.definition(features_state("current"), "node2")
    assert ('add element ip kube-proxy no-endpoint-services { 10.96.10.12 . tcp . 80 comment "default/itp-local" : drop }'
            in on_node2)
    assert f"local-{base}" not in on_node2


def test_affinity_sets_and_rules():
    text = nftables.definition(features_state("current"), "node1")
    base = names.service_chain_base("default", "sticky", "tcp", "")
    eps_ = [names.endpoint_chain_base("default", "sticky", "tcp", "", ip, 8080) for ip in ("10.244.1.13", "10.244.2.13")]
    for b in eps_:
        assert (f"add set ip kube-proxy affinity-{b} {{ type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }}"
                in text)
        assert rules_of(text, "endpoint-", b)[1] == f"update @affinity-{b} {{ ip saddr }}"
    assert rules_of(text, "service-", base)[1:] == [
        f"ip saddr @affinity-{eps_[0]} goto endpoint-{eps_[0]}",
        f"ip saddr @affinity-{eps_[1]} goto endpoint-{eps_[1]}",
        f"numgen random mod 2 vmap {{ 0 : goto endpoint-{eps_[0]} , 1 : goto endpoint-{eps_[1]} }}",
    ]


def test_source_ranges_and_node_in_range():
    text = nftables.definition(features_state("current"), "node1")
    base = names.service_chain_base("default", "vip-ranges", "tcp", "")
    # 192.168.179.0/24 holds the node IP, so the LB IP itself is allowed too
    assert rules_of(text, "firewall-", base) == [
        "ip saddr != { 203.0.113.0/25 , 192.168.179.0/24 , 192.168.179.242 } drop"]
    assert f"add element ip kube-proxy firewall-ips {{ 192.168.179.242 . tcp . 80 : goto firewall-{base} }}" in text
    assert f"add element ip kube-proxy service-nodeports {{ tcp . 30086 : goto external-{base} }}" in text


def test_udp_and_multi_port_services():
    text = nftables.definition(features_state("current"), "node1")
    udp = names.service_chain_base("kube-system", "kube-dns", "udp", "dns")
    assert f"add element ip kube-proxy service-ips {{ 10.96.0.10 . udp . 53 : goto service-{udp} }}" in text
    ep_base = names.endpoint_chain_base("kube-system", "kube-dns", "udp", "dns", "10.244.0.2", 53)
    assert rules_of(text, "endpoint-", ep_base)[-1] == "meta l4proto udp dnat to 10.244.0.2:53"
    assert text.count("add element ip kube-proxy cluster-ips { 10.96.0.10 }") == 3  # one per port, as upstream


def test_headless_and_external_name_services_render_nothing():
    text = nftables.definition(features_state("current"), "node1")
    assert "headless" not in text and "ext-name" not in text and "10.244.1.16" not in text


def test_node_port_addresses_all_variant():
    text = nftables.definition(seed_state("current"), "node1", node_port_addresses=nftables.ALL)
    assert "nodeport-ips" not in text
    assert (f"{T} services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports"
            in text.splitlines())
    assert (f"{T} nodeport-endpoints-check ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports"
            in text.splitlines())


def test_node_port_addresses_given():
    text = nftables.definition(seed_state("current"), "node1", node_port_addresses=("192.168.179.100", "127.0.0.1",
                                                                                     "10.244.1.1"))
    assert "add element ip kube-proxy nodeport-ips { 192.168.179.100 }" in text
    assert "add element ip kube-proxy nodeport-ips { 10.244.1.1 }" in text
    assert "127.0.0.1" not in text  # localhost NodePorts are not supported in nftables mode


def test_masquerade_all_and_masquerade_bit():
    state = seed_state("current")
    state = dataclasses.replace(state, kube_proxy=dataclasses.replace(state.kube_proxy, masquerade_all=True,
                                                                      masquerade_bit=5))
    text = nftables.definition(state, "node1")
    base = names.service_chain_base("default", "nodeport-svc", "tcp", "")
    assert rules_of(text, "service-", base)[0] == "ip daddr 10.105.182.209 tcp dport 3000 jump mark-for-masquerade"
    assert f"{T} mark-for-masquerade mark set mark or 0x00000020" in text
    assert f"{T} masquerading mark and 0x00000020 == 0 return" in text


# the sync transaction ---------------------------------------------------------------------------

def test_transaction_from_scratch_and_incremental():
    a = nftables.definition(features_state("current"), "node1")
    b = nftables.definition(seed_state("current"), "node1")
    assert nftables.transaction(a) == "add table ip kube-proxy\ndelete table ip kube-proxy\n" + a
    tx = nftables.transaction(b, a).splitlines()
    assert tx[0] == 'add table ip kube-proxy { comment "rules for kube-proxy" ; }'
    assert "flush chain ip kube-proxy services" in tx and "flush map ip kube-proxy service-ips" in tx
    stale = "service-" + names.service_chain_base("default", "web", "tcp", "http")
    assert tx.index(f"flush chain ip kube-proxy {stale}") < tx.index(f"delete chain ip kube-proxy {stale}")
    sticky = [line for line in tx if line.startswith("delete set ip kube-proxy affinity-")]
    assert len(sticky) == 2  # stale affinity sets go at once
    # every rule and element of b, in order, after all the declarations
    first_rule = min(i for i, line in enumerate(tx) if line.startswith(("add rule", "add element")))
    assert tx[first_rule:] == [line for line in b.splitlines() if line.startswith(("add rule", "add element"))]
    assert not any(line.startswith(("add chain", "add set", "add map", "flush", "delete")) for line in tx[first_rule:])
    # affinity sets are added but never flushed, so their entries survive a sync
    again = nftables.transaction(a, a)
    assert "flush set ip kube-proxy affinity-" not in again and "delete" not in again
    assert "flush set ip kube-proxy cluster-ips" in again


# golden files -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(NFT_GOLDENS))
def test_golden(name):
    make, node, addresses = NFT_GOLDENS[name]
    text = nftables.render(make(), node, addresses)
    path = os.path.join(GOLDEN_DIR, name)
    if UPDATE_GOLDEN:
        os.makedirs(GOLDEN_DIR, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return
    assert os.path.exists(path), f"{path} is missing; create it with SVCLAB_UPDATE_GOLDEN=1"
    with open(path) as f:
        expected = f.read()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), path, "rendered"))
    assert text == expected, f"rendered rules differ from {name} (SVCLAB_UPDATE_GOLDEN=1 rewrites it):\n{diff}"


def test_no_stray_nft_golden_files():
    present = {n for n in os.listdir(GOLDEN_DIR) if n.startswith("nft-")}
    assert present <= set(NFT_GOLDENS), f"golden files no test uses: {sorted(present - set(NFT_GOLDENS))}"


# scenario ---------------------------------------------------------------------------------------

def write_scenario(tmp_path, kube_proxy):
    path = tmp_path / "s.yml"
    path.write_text(f"topology: {os.path.join(os.path.dirname(SCENARIOS), 'topologies', 'three-node.yml')}\n"
                    f"kubeProxy: {kube_proxy}\nmanifests: []\n")
    return str(path)


def test_scenario_accepts_nftables_mode(tmp_path):
    assert scenario.load(write_scenario(tmp_path, "{mode: nftables}")).kube_proxy.mode == "nftables"
    loaded = scenario.load(os.path.join(SCENARIOS, "nodeport-nft.yml"))
    assert (loaded.name, loaded.kube_proxy.mode, loaded.kube_proxy.profile) == ("nft", "nftables", "current")


def test_scenario_rejects_nftables_with_the_1_18_profile(tmp_path):
    with pytest.raises(InputError) as err:
        scenario.load(write_scenario(tmp_path, '{mode: nftables, profile: "1.18"}'))
    message = str(err.value)
    assert "kubeProxy.mode" in message and "1.18" in message and "v1.29" in message and 'profile "current"' in message


def test_scenario_rejects_unknown_modes(tmp_path):
    with pytest.raises(InputError, match="'ipvs' is not allowed.*iptables, nftables"):
        scenario.load(write_scenario(tmp_path, "{mode: ipvs}"))
