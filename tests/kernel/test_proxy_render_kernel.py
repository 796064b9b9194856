"""kube-proxy's iptables rules (lab.proxy.iptables) loaded into a scratch network namespace, against
real ``iptables-save`` dumps of kube-proxy (Example A, Example B and the old-layout dump of the
real kube-proxy dumps, copied verbatim below): what the kernel keeps of the rendered restore
input is what the real kube-proxy left there. The pure renderer tests are tests/unit/test_proxy_render.py.
"""

import subprocess

import pytest

from factories import (GOLDEN_DIR, IPTABLES_GOLDENS, SERVICE_CHAIN_PREFIXES, all_rules, example_a_state,
                       example_b_state, features_state, is_subsequence, needs_tools, parse_rules, saved_probability,
                       seed_state, spread_state)
from lab.proxy import iptables, names, options

pytestmark = needs_tools("ip", "iptables-restore", "iptables-save", why="loads rules into a network namespace")

BUILTIN = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}


def kube_chains(parsed, table, exclude=()):
    """{chain: rules} of the KUBE-* chains in a table."""
    return {c: r for c, r in parsed[table]["rules"].items()
            if c.startswith("KUBE-") and c not in exclude}


def jumps(parsed, table, exclude_targets=()):
    """The rules of the built-in chains, as a set."""
    return {r for c, rs in parsed[table]["rules"].items() if c in BUILTIN for r in rs
            if r.split(" -j ")[-1] not in exclude_targets}


def golden_profile(name):
    return options.PROFILES[name.split("-")[1]]


# real kube-proxy output, loaded into a network namespace ------------------------------------------

EXAMPLE_A_SAVE = r"""
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-EXT-FDIGUWRAAKMFZSYO - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-SEP-UF55QKMQU654BGLR - [0:0]
:KUBE-SEP-WGFMOGF3NBKTMP4H - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-FDIGUWRAAKMFZSYO - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-EXT-FDIGUWRAAKMFZSYO -m comment --comment "masquerade traffic for default/nodeport-svc external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-FDIGUWRAAKMFZSYO -j KUBE-SVC-FDIGUWRAAKMFZSYO
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc" -m tcp --dport 30090 -j KUBE-EXT-FDIGUWRAAKMFZSYO
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-UF55QKMQU654BGLR -s 10.244.1.5/32 -m comment --comment "default/nodeport-svc" -j KUBE-MARK-MASQ
-A KUBE-SEP-UF55QKMQU654BGLR -p tcp -m comment --comment "default/nodeport-svc" -m tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SEP-WGFMOGF3NBKTMP4H -s 10.244.2.7/32 -m comment --comment "default/nodeport-svc" -j KUBE-MARK-MASQ
-A KUBE-SEP-WGFMOGF3NBKTMP4H -p tcp -m comment --comment "default/nodeport-svc" -m tcp -j DNAT --to-destination 10.244.2.7:8080
-A KUBE-SERVICES -d 10.96.143.17/32 -p tcp -m comment --comment "default/nodeport-svc cluster IP" -m tcp --dport 80 -j KUBE-SVC-FDIGUWRAAKMFZSYO
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-FDIGUWRAAKMFZSYO ! -s 10.244.0.0/16 -d 10.96.143.17/32 -p tcp -m comment --comment "default/nodeport-svc cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-FDIGUWRAAKMFZSYO -m comment --comment "default/nodeport-svc -> 10.244.1.5:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-UF55QKMQU654BGLR
-A KUBE-SVC-FDIGUWRAAKMFZSYO -m comment --comment "default/nodeport-svc -> 10.244.2.7:8080" -j KUBE-SEP-WGFMOGF3NBKTMP4H
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -j KUBE-FIREWALL
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
"""

# Example B, every line, verbatim (its SEP chains other than sticky's were not in the dump)
EXAMPLE_B_NAT = r"""
-A KUBE-EXT-36SRL3I7JZKMDG5Q -s 10.244.0.0/16 -m comment --comment "pod traffic for default/lb-local:http external destinations" -j KUBE-SVC-36SRL3I7JZKMDG5Q
-A KUBE-EXT-36SRL3I7JZKMDG5Q -m comment --comment "masquerade LOCAL traffic for default/lb-local:http external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-36SRL3I7JZKMDG5Q -m comment --comment "route LOCAL traffic for default/lb-local:http external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-36SRL3I7JZKMDG5Q
-A KUBE-EXT-36SRL3I7JZKMDG5Q -j KUBE-SVL-36SRL3I7JZKMDG5Q
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/lb-local:http" -m tcp --dport 31080 -j KUBE-EXT-36SRL3I7JZKMDG5Q
-A KUBE-SEP-4SZLZ5ZJ3VJ2LKIO -s 10.244.1.5/32 -m comment --comment "default/sticky" -j KUBE-MARK-MASQ
-A KUBE-SEP-4SZLZ5ZJ3VJ2LKIO -p tcp -m comment --comment "default/sticky" -m recent --set --name KUBE-SEP-4SZLZ5ZJ3VJ2LKIO --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SERVICES -d 10.96.200.10/32 -p tcp -m comment --comment "default/lb-local:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-36SRL3I7JZKMDG5Q
-A KUBE-SERVICES -d 203.0.113.50/32 -p tcp -m comment --comment "default/lb-local:http loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-36SRL3I7JZKMDG5Q
-A KUBE-SERVICES -d 10.96.200.11/32 -p tcp -m comment --comment "default/itp-local cluster IP" -m tcp --dport 80 -j KUBE-SVL-RTIYTA7OSJYUMIOF
-A KUBE-SERVICES -d 10.96.200.12/32 -p tcp -m comment --comment "default/sticky cluster IP" -m tcp --dport 80 -j KUBE-SVC-BJWR5DPVIKTHVKZU
-A KUBE-SVC-36SRL3I7JZKMDG5Q ! -s 10.244.0.0/16 -d 10.96.200.10/32 -p tcp -m comment --comment "default/lb-local:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-36SRL3I7JZKMDG5Q -m comment --comment "default/lb-local:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-3JBHQGI2AAP6LU4T
-A KUBE-SVC-36SRL3I7JZKMDG5Q -m comment --comment "default/lb-local:http -> 10.244.2.7:8080" -j KUBE-SEP-OXVLUESD2MQF2XBA
-A KUBE-SVC-BJWR5DPVIKTHVKZU -m comment --comment "default/sticky -> 10.244.1.5:8080" -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-4SZLZ5ZJ3VJ2LKIO --mask 255.255.255.255 --rsource -j KUBE-SEP-4SZLZ5ZJ3VJ2LKIO
-A KUBE-SVC-BJWR5DPVIKTHVKZU -m comment --comment "default/sticky -> 10.244.2.7:8080" -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-A2HLNN5I3UWO6SGP --mask 255.255.255.255 --rsource -j KUBE-SEP-A2HLNN5I3UWO6SGP
-A KUBE-SVC-BJWR5DPVIKTHVKZU -m comment --comment "default/sticky -> 10.244.1.5:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-4SZLZ5ZJ3VJ2LKIO
-A KUBE-SVC-BJWR5DPVIKTHVKZU -m comment --comment "default/sticky -> 10.244.2.7:8080" -j KUBE-SEP-A2HLNN5I3UWO6SGP
-A KUBE-SVL-36SRL3I7JZKMDG5Q -m comment --comment "default/lb-local:http -> 10.244.1.5:8080" -j KUBE-SEP-3JBHQGI2AAP6LU4T
-A KUBE-SVL-RTIYTA7OSJYUMIOF ! -s 10.244.0.0/16 -d 10.96.200.11/32 -p tcp -m comment --comment "default/itp-local cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVL-RTIYTA7OSJYUMIOF -m comment --comment "default/itp-local -> 10.244.1.5:8080" -j KUBE-SEP-J6PWGASVPSULQ4HC
"""
EXAMPLE_B_FILTER = r"""
-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "default/empty has no endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 31081 -j REJECT --reject-with icmp-port-unreachable
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/lb-local:http health check node port" -m tcp --dport 32000 -j ACCEPT
-A KUBE-SERVICES -d 10.96.200.13/32 -p tcp -m comment --comment "default/empty has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
"""
# chains whose rules Example B lists in full
EXAMPLE_B_COMPLETE = ("KUBE-EXT-36SRL3I7JZKMDG5Q", "KUBE-SVC-36SRL3I7JZKMDG5Q", "KUBE-SVL-36SRL3I7JZKMDG5Q",
                      "KUBE-SVL-RTIYTA7OSJYUMIOF", "KUBE-SEP-4SZLZ5ZJ3VJ2LKIO")

# the old layout's real iptables-save, with 1.18 naming: the trailing colon in port names
# (so other chain hashes), kubelet's chains left out as in the dump. KUBE-FORWARD's two conntrack
# rules carry no -s/-d clusterCIDR here: the dump came from a pre-1.18.0 snapshot, and v1.18.0
# dropped the CIDR (the renderer follows v1.18.0).
OLD_LAYOUT_1_18_SAVE = r"""
*nat
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-SEP-M764Y7U5HRCRB3CS - [0:0]
:KUBE-SEP-KDDFKGBNRT77SKWO - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-GFPAJ7EGCNM4QF4H - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 -j KUBE-MARK-MASQ
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 -j KUBE-SVC-GFPAJ7EGCNM4QF4H
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-M764Y7U5HRCRB3CS -s 10.244.1.5/32 -m comment --comment "default/nodeport-svc:" -j KUBE-MARK-MASQ
-A KUBE-SEP-M764Y7U5HRCRB3CS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SEP-KDDFKGBNRT77SKWO -s 10.244.2.7/32 -m comment --comment "default/nodeport-svc:" -j KUBE-MARK-MASQ
-A KUBE-SEP-KDDFKGBNRT77SKWO -p tcp -m comment --comment "default/nodeport-svc:" -m tcp -j DNAT --to-destination 10.244.2.7:8080
-A KUBE-SERVICES ! -s 10.244.0.0/16 -d 10.96.143.17/32 -p tcp -m comment --comment "default/nodeport-svc: cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SERVICES -d 10.96.143.17/32 -p tcp -m comment --comment "default/nodeport-svc: cluster IP" -m tcp --dport 80 -j KUBE-SVC-GFPAJ7EGCNM4QF4H
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-GFPAJ7EGCNM4QF4H -m comment --comment "default/nodeport-svc:" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-M764Y7U5HRCRB3CS
-A KUBE-SVC-GFPAJ7EGCNM4QF4H -m comment --comment "default/nodeport-svc:" -j KUBE-SEP-KDDFKGBNRT77SKWO
COMMIT
*filter
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack pod source rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack pod destination rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
"""
KUBELET_CHAINS = ("KUBE-FIREWALL", "KUBE-MARK-DROP", "KUBE-KUBELET-CANARY")

# the seed's own `iptables-save | grep 30090` lines, and its service chain (kube-proxy v1.18)
SEED_1_18_LINES = r"""
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 -j KUBE-MARK-MASQ
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 -j KUBE-SVC-GFPAJ7EGCNM4QF4H
-A KUBE-SVC-GFPAJ7EGCNM4QF4H -m comment --comment "default/nodeport-svc:" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-TWG53VPX4RADGFC6
-A KUBE-SVC-GFPAJ7EGCNM4QF4H -m comment --comment "default/nodeport-svc:" -j KUBE-SEP-YUA4WPOUSEKJIAM2
"""


def restore(ns, text):
    result = subprocess.run(["ip", "netns", "exec", ns, "iptables-restore", "--noflush"], input=text, text=True,
                            capture_output=True)
    assert result.returncode == 0, f"iptables-restore rejected the input: {result.stderr}\n{text}"


def save(ns):
    return subprocess.run(["ip", "netns", "exec", ns, "iptables-save"], check=True, capture_output=True,
                          text=True).stdout


def load(ns, profile_name, text):
    """What iptables-save shows after kube-proxy's start-up and one sync with ``text``."""
    restore(ns, iptables.render_bootstrap(options.PROFILES[profile_name]))
    restore(ns, text)
    return save(ns)


def lines(block):
    return [line for line in block.strip().splitlines() if line.startswith("-A ")]


@pytest.mark.netns
def test_example_a_matches_real_iptables_save(scratch_netns):
    saved = parse_rules(load(scratch_netns, "current", iptables.render(example_a_state(), "master")))
    real = parse_rules(EXAMPLE_A_SAVE)
    for line in lines(EXAMPLE_A_SAVE):
        assert line in all_rules(saved, "nat") + all_rules(saved, "filter"), f"missing: {line}"
    for table in ("nat", "filter"):
        assert kube_chains(saved, table) == kube_chains(real, table), table
        assert jumps(saved, table) == jumps(real, table), table
        assert set(saved[table]["chains"]) == set(real[table]["chains"]), table


@pytest.mark.netns
def test_example_b_matches_real_iptables_save(scratch_netns):
    saved = parse_rules(load(scratch_netns, "current", iptables.render(example_b_state(), "node1")))
    for table, block in (("nat", EXAMPLE_B_NAT), ("filter", EXAMPLE_B_FILTER)):
        real = parse_rules(f"*{table}\n{block}COMMIT\n")[table]["rules"]
        for chain, real_rules in real.items():
            got = saved[table]["rules"].get(chain, [])
            if not chain.startswith(SERVICE_CHAIN_PREFIXES):  # shared chains: services in random order
                assert set(real_rules) <= set(got), f"{table} {chain}: missing {set(real_rules) - set(got)}"
                continue
            assert is_subsequence(real_rules, got), f"{table} {chain}:\nexpected, in order:\n" + \
                "\n".join(real_rules) + "\ngot:\n" + "\n".join(got)
            if chain in EXAMPLE_B_COMPLETE:
                assert got == real_rules
    sticky = saved["nat"]["rules"]["KUBE-SVC-BJWR5DPVIKTHVKZU"]
    assert sticky[0] == ("-A KUBE-SVC-BJWR5DPVIKTHVKZU ! -s 10.244.0.0/16 -d 10.96.200.12/32 -p tcp -m comment "
                         '--comment "default/sticky cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ')
    assert len(sticky) == 5


@pytest.mark.netns
def test_example_b_lb_local_lines_match_real_iptables_save(scratch_netns):
    """All of lb-local's saved lines (but its SEP chains, which the dump leaves out) are Example B's, and no more:
    the LB IP rule, the health check node port ACCEPT, EXT/SVC/SVL, the cluster IP and the NodePort."""
    saved = parse_rules(load(scratch_netns, "current", iptables.render(example_b_state(), "node1")))
    mentions = lambda line: "lb-local" in line or "36SRL3I7JZKMDG5Q" in line  # noqa: E731
    real = [line for line in lines(EXAMPLE_B_NAT) + lines(EXAMPLE_B_FILTER) if mentions(line)]
    got = [r for table in ("nat", "filter") for chain, rs in saved[table]["rules"].items()
           if not chain.startswith("KUBE-SEP-") for r in rs if mentions(r)]
    assert sorted(got) == sorted(real)
    assert ('-A KUBE-SERVICES -d 203.0.113.50/32 -p tcp -m comment --comment "default/lb-local:http loadbalancer IP" '
            "-m tcp --dport 80 -j KUBE-EXT-36SRL3I7JZKMDG5Q") in saved["nat"]["rules"]["KUBE-SERVICES"]
    assert saved["filter"]["rules"]["KUBE-NODEPORTS"] == [
        '-A KUBE-NODEPORTS -p tcp -m comment --comment "default/lb-local:http health check node port" '
        "-m tcp --dport 32000 -j ACCEPT"]


@pytest.mark.netns
def test_old_layout_matches_real_iptables_save_with_1_18_names(scratch_netns):
    saved = parse_rules(load(scratch_netns, "1.18", iptables.render(example_a_state("1.18"), "master")))
    real = parse_rules(OLD_LAYOUT_1_18_SAVE)
    for table in ("nat", "filter"):
        assert kube_chains(saved, table, exclude=KUBELET_CHAINS) == kube_chains(real, table), table
        assert jumps(saved, table, exclude_targets=KUBELET_CHAINS) == jumps(real, table), table
        assert set(saved[table]["chains"]) - BUILTIN - set(KUBELET_CHAINS) == set(real[table]["chains"]), table


@pytest.mark.netns
def test_seed_lines_of_kube_proxy_1_18(scratch_netns):
    saved = parse_rules(load(scratch_netns, "1.18", iptables.render(seed_state("1.18"), "node1")))
    nat = saved["nat"]["rules"]
    for line in lines(SEED_1_18_LINES):
        assert line in nat[line.split()[1]], f"missing: {line}"
    assert nat["KUBE-SVC-GFPAJ7EGCNM4QF4H"] == lines(SEED_1_18_LINES)[2:]


@pytest.mark.netns
def test_saved_probabilities(scratch_netns):
    """Ten endpoints give 1/10 ... 1/2 in restore text, kernel-rounded in iptables-save."""
    saved = parse_rules(load(scratch_netns, "current", iptables.render(spread_state(10), "master")))
    chain = names.service_chains("default/spread", "tcp")["SVC"]
    got = [r.split("--probability ")[1].split()[0] for r in saved["nat"]["rules"][chain] if "--probability" in r]
    assert got == [saved_probability(iptables.probability(n)) for n in range(10, 1, -1)]
    assert got[0] == "0.10000000009" and got[-2:] == ["0.33333333349", "0.50000000000"]


@pytest.mark.netns
def test_saved_affinity_and_masquerade_plumbing(scratch_netns):
    """The saved forms of the mark rules and of the recent matches."""
    saved = parse_rules(load(scratch_netns, "current", iptables.render(features_state("current"), "node1")))
    nat = saved["nat"]["rules"]
    assert nat["KUBE-MARK-MASQ"] == ["-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000"]
    assert nat["KUBE-POSTROUTING"][:2] == ["-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
                                           "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0"]
    sep = names.endpoint_chain("default/sticky", "tcp", "10.244.1.13:8080")
    assert f"-m recent --rcheck --seconds 600 --reap --name {sep} --mask 255.255.255.255 --rsource -j {sep}" \
        in nat[names.service_chains("default/sticky", "tcp")["SVC"]][1]
    assert f"-m recent --set --name {sep} --mask 255.255.255.255 --rsource -m tcp -j DNAT" in nat[sep][1]


@pytest.mark.netns
@pytest.mark.parametrize("name", sorted(IPTABLES_GOLDENS))
def test_golden_loads_and_resyncs(scratch_netns, name):
    """iptables-restore accepts the golden file, and a second identical sync changes nothing."""
    text = (GOLDEN_DIR / name).read_text()
    profile = golden_profile(name)
    restore(scratch_netns, iptables.render_bootstrap(profile))
    restore(scratch_netns, text)
    first = parse_rules(save(scratch_netns))
    restore(scratch_netns, text)
    assert parse_rules(save(scratch_netns)) == first
    rendered = parse_rules(text)
    kubelet = KUBELET_CHAINS if profile.legacy_layout else ()
    for table in ("filter", "nat"):
        assert {c: len(r) for c, r in rendered[table]["rules"].items()} == \
            {c: len(r) for c, r in kube_chains(first, table, exclude=kubelet).items()}
