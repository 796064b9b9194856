"""The kube-proxy iptables renderer (lab.proxy.iptables) against kube-proxy's real text.

The facts come from real kube-proxy dumps and its source: chain-name hashes, probabilities, the
restore-input templates, and real ``iptables-save`` dumps (Example A, Example B, and the old-layout
dump), whose lines tests/kernel/test_proxy_render_kernel.py loads into a scratch network namespace
and compares with what ``iptables-save`` prints there.

Golden files in tests/golden/ pin the whole restore text of a few states. To regenerate them after
a deliberate renderer change, run ``SVCLAB_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_proxy_render.py``
and review the diff.
"""

import dataclasses
import difflib
import ipaddress

import pytest

from factories import (GOLDEN_DIR, IPTABLES_GOLDENS, SERVICE_CHAIN_PREFIXES, UPDATE_GOLDEN, all_rules, ep, eps,
                       example_a_state, example_b_state, features_state, is_subsequence, lb_state, make_state,
                       parse_rules, port, saved_probability, service, spread_state)
from lab.proxy import iptables, names

NODEPORTS_RULE = ('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the '
                  'last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')


# parsing --------------------------------------------------------------------------------------

def rules(text, table, chain):
    return parse_rules(text)[table]["rules"].get(chain, [])


# golden files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(IPTABLES_GOLDENS))
def test_golden(name):
    make, node = IPTABLES_GOLDENS[name]
    text = iptables.render(make(), node)
    path = GOLDEN_DIR / name
    if UPDATE_GOLDEN:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing; create it with SVCLAB_UPDATE_GOLDEN=1"
    expected = path.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "rendered"))
    assert text == expected, f"rendered rules differ from {name} (SVCLAB_UPDATE_GOLDEN=1 rewrites it):\n{diff}"


def test_no_stray_golden_files():
    present = {p.name for p in GOLDEN_DIR.glob("*.rules")}
    assert present <= set(IPTABLES_GOLDENS), f"golden files no test uses: {sorted(present - set(IPTABLES_GOLDENS))}"


# names ------------------------------------------------------------------------------

@pytest.mark.parametrize("port_name, protocol, suffix", [
    ("default/nodeport-svc:", "tcp", "GFPAJ7EGCNM4QF4H"),  # <=1.18, unnamed port: the seed's chain
    ("default/nodeport-svc", "tcp", "FDIGUWRAAKMFZSYO"),
    ("default/nodeport-svc:http", "tcp", "5ZIT5SV44EEWQIKI"),
    ("default/nodeport-svc", "udp", "G2CBO6Y5TN6DD37I"),
    ("default/kubernetes:https", "tcp", "NPX46M4PTMTKRN6Y"),
    ("kube-system/kube-dns:dns", "udp", "TCOU7JCQXEZGVUNU"),
    ("kube-system/kube-dns:dns-tcp", "tcp", "ERIFXISQEP7F7OF4"),
    ("kube-system/kube-dns:metrics", "tcp", "JD5MR3NA4I4DYORP"),
    ("ns1/svc1:p80", "tcp", "XPGD46QRK7WJZT7O"),
])
def test_port_proto_hash(port_name, protocol, suffix):
    assert names.port_proto_hash(port_name, protocol) == suffix
    assert names.port_proto_hash(port_name, protocol.upper()) == suffix  # the protocol is lowercased


@pytest.mark.parametrize("port_name, endpoint, chain", [
    ("ns1/svc1:p80", "10.180.0.1:80", "KUBE-SEP-SXIVWICOYRO3J4NJ"),
    ("default/nodeport-svc", "10.244.1.5:8080", "KUBE-SEP-UF55QKMQU654BGLR"),
    ("default/nodeport-svc", "10.244.2.7:8080", "KUBE-SEP-WGFMOGF3NBKTMP4H"),
    ("default/nodeport-svc:", "10.244.1.5:8080", "KUBE-SEP-M764Y7U5HRCRB3CS"),
    ("default/nodeport-svc", "[fd00:10:244::5]:8080", "KUBE-SEP-GTIRT63TR2XCSZOH"),
    ("default/nodeport-svc:", "10.244.0.23:8080", "KUBE-SEP-TWG53VPX4RADGFC6"),  # the seed's endpoints
    ("default/nodeport-svc:", "10.244.2.14:8080", "KUBE-SEP-YUA4WPOUSEKJIAM2"),
])
def test_endpoint_chain(port_name, endpoint, chain):
    assert names.endpoint_chain(port_name, "tcp", endpoint) == chain
    assert names.endpoint_chain(port_name, "TCP", endpoint) == chain


def test_service_chains_share_one_suffix_per_protocol():
    tcp = names.service_chains("default/nodeport-svc", "TCP")
    udp = names.service_chains("default/nodeport-svc", "UDP")
    assert sorted(tcp) == ["EXT", "FW", "SVC", "SVL", "XLB"]
    assert {c.split("-")[-1] for c in tcp.values()} == {"FDIGUWRAAKMFZSYO"}
    assert {kind: c.rsplit("-", 1)[0] for kind, c in tcp.items()} == {k: f"KUBE-{k}" for k in tcp}
    assert {c.split("-")[-1] for c in udp.values()} == {"G2CBO6Y5TN6DD37I"}


def test_service_port_name():
    assert names.service_port_name("default", "nodeport-svc", "") == "default/nodeport-svc"
    assert names.service_port_name("default", "nodeport-svc", "", trailing_colon=True) == "default/nodeport-svc:"
    assert names.service_port_name("default", "nodeport-svc", "http") == "default/nodeport-svc:http"
    assert names.service_port_name("default", "nodeport-svc", "http", trailing_colon=True) == "default/nodeport-svc:http"


@pytest.mark.parametrize("profile, name, svc_chain", [("current", "default/nodeport-svc", "FDIGUWRAAKMFZSYO"),
                                                      ("1.18", "default/nodeport-svc:", "GFPAJ7EGCNM4QF4H")])
def test_comments_use_the_port_name_string(profile, name, svc_chain):
    text = iptables.render(example_a_state(profile), "node1")
    assert f'--comment "{name} cluster IP"' in text
    assert f"-A KUBE-NODEPORTS -m comment --comment {name} -m tcp -p tcp --dport 30090 " in text
    assert f":KUBE-SVC-{svc_chain} - [0:0]" in text.splitlines()
    other = "default/nodeport-svc:" if profile == "current" else "default/nodeport-svc "
    assert other not in text


# probabilities and endpoint order ---------------------------------------------------

@pytest.mark.parametrize("n, text", [(2, "0.5000000000"), (3, "0.3333333333"), (4, "0.2500000000"),
                                     (5, "0.2000000000"), (10, "0.1000000000")])
def test_probability(n, text):
    assert iptables.probability(n) == text


@pytest.mark.parametrize("n, saved", [(2, "0.50000000000"), (3, "0.33333333349"), (4, "0.25000000000"),
                                      (5, "0.20000000019"), (6, "0.16666666651"), (7, "0.14285714272"),
                                      (10, "0.10000000009"), (100, "0.00999999978")])
def test_saved_probability_table(n, saved):
    assert saved_probability(iptables.probability(n)) == saved


@pytest.mark.parametrize("profile", ["current", "1.18"])
@pytest.mark.parametrize("n", [1, 3, 5])
def test_svc_chain_splits_with_falling_probabilities(profile, n):
    text = iptables.render(spread_state(n, profile), "master")
    svc_chain = names.service_chains(names.service_port_name("default", "spread", "", profile == "1.18"), "tcp")["SVC"]
    to_sep = [r for r in rules(text, "nat", svc_chain) if "-j KUBE-SEP-" in r]
    assert len(to_sep) == n
    for i, rule in enumerate(to_sep[:-1]):
        assert f"-m statistic --mode random --probability {iptables.probability(n - i)} -j KUBE-SEP-" in rule
    assert "statistic" not in to_sep[-1]


@pytest.mark.parametrize("profile", ["current", "1.18"])
def test_endpoints_are_ordered_by_address_string(profile):
    """10.0.0.10:80 sorts before 10.0.0.9:80, whatever order the endpoints come in."""
    svc = service("order", "10.96.20.21", port(80))
    state = make_state([svc], dict([eps(svc, ep("10.0.0.9:80", "node2"), ep("10.0.0.10:80", "node2"))]), profile)
    text = iptables.render(state, "node1")
    name = names.service_port_name("default", "order", "", profile == "1.18")
    svc_rules = rules(text, "nat", names.service_chains(name, "tcp")["SVC"])
    first, second = (names.endpoint_chain(name, "tcp", a) for a in ("10.0.0.10:80", "10.0.0.9:80"))
    assert [r.split()[-1] for r in svc_rules if "-j KUBE-SEP-" in r] == [first, second]
    assert "--probability 0.5000000000" in next(r for r in svc_rules if r.endswith(first))


# restore-form fidelity ---------------------------------------------------------------------

def test_example_a_restore_form():
    """Example A written out from kube-proxy's templates, in kube-proxy's own restore form."""
    text = iptables.render(example_a_state(), "master")
    svc, ext = "KUBE-SVC-FDIGUWRAAKMFZSYO", "KUBE-EXT-FDIGUWRAAKMFZSYO"
    sep1, sep2 = "KUBE-SEP-UF55QKMQU654BGLR", "KUBE-SEP-WGFMOGF3NBKTMP4H"
    cip = '-m comment --comment "default/nodeport-svc cluster IP" -m tcp -p tcp -d 10.96.143.17 --dport 80'
    # the real binary formats the mark with Go's %#08x (0x00004000); the reference dump's static lines come
    # from upstream's fake proxier, which hard-codes "0x4000"
    expected_nat = {
        "KUBE-POSTROUTING": [
            "-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN",
            "-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000",
            '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
        ],
        "KUBE-MARK-MASQ": ["-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000"],
        "KUBE-SERVICES": [f"-A KUBE-SERVICES {cip} -j {svc}", NODEPORTS_RULE],
        "KUBE-NODEPORTS": [f"-A KUBE-NODEPORTS -m comment --comment default/nodeport-svc -m tcp -p tcp --dport 30090 -j {ext}"],
        svc: [
            f"-A {svc} {cip} ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
            f'-A {svc} -m comment --comment "default/nodeport-svc -> 10.244.1.5:8080" -m statistic --mode random --probability 0.5000000000 -j {sep1}',
            f'-A {svc} -m comment --comment "default/nodeport-svc -> 10.244.2.7:8080" -j {sep2}',
        ],
        ext: [
            f'-A {ext} -m comment --comment "masquerade traffic for default/nodeport-svc external destinations" -j KUBE-MARK-MASQ',
            f"-A {ext} -j {svc}",
        ],
        sep1: [
            f"-A {sep1} -m comment --comment default/nodeport-svc -s 10.244.1.5 -j KUBE-MARK-MASQ",
            f"-A {sep1} -m comment --comment default/nodeport-svc -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080",
        ],
        sep2: [
            f"-A {sep2} -m comment --comment default/nodeport-svc -s 10.244.2.7 -j KUBE-MARK-MASQ",
            f"-A {sep2} -m comment --comment default/nodeport-svc -m tcp -p tcp -j DNAT --to-destination 10.244.2.7:8080",
        ],
    }
    expected_filter = {
        "KUBE-FIREWALL": ['-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 '
                          "! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"],
        "KUBE-FORWARD": [
            "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
            '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT',
            '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        ],
    }
    parsed = parse_rules(text)
    assert parsed["nat"]["rules"] == expected_nat
    assert parsed["filter"]["rules"] == expected_filter
    assert parsed["filter"]["chains"] == ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS",
                                          "KUBE-PROXY-FIREWALL", "KUBE-FIREWALL"]
    assert parsed["nat"]["chains"][:4] == ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
    assert set(parsed["nat"]["chains"][4:]) == {svc, ext, sep1, sep2}
    assert list(parsed) == ["filter", "nat"]  # one restore input, filter first


def test_example_a_restore_form_1_18():
    """The same service in kube-proxy 1.18's layout (ToCIDR adds /32)."""
    text = iptables.render(example_a_state("1.18"), "master")
    svc = "KUBE-SVC-GFPAJ7EGCNM4QF4H"
    sep1, sep2 = "KUBE-SEP-M764Y7U5HRCRB3CS", "KUBE-SEP-KDDFKGBNRT77SKWO"
    cip = '-m comment --comment "default/nodeport-svc: cluster IP" -m tcp -p tcp -d 10.96.143.17/32 --dport 80'
    nodeport = "-A KUBE-NODEPORTS -m comment --comment default/nodeport-svc: -m tcp -p tcp --dport 30090"
    parsed = parse_rules(text)
    assert parsed["nat"]["rules"] == {
        "KUBE-POSTROUTING": [
            "-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN",
            "-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000",
            '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
        ],
        "KUBE-MARK-MASQ": ["-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000"],
        "KUBE-SERVICES": [f"-A KUBE-SERVICES {cip} ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
                          f"-A KUBE-SERVICES {cip} -j {svc}", NODEPORTS_RULE],
        "KUBE-NODEPORTS": [f"{nodeport} -j KUBE-MARK-MASQ", f"{nodeport} -j {svc}"],
        svc: [
            f"-A {svc} -m comment --comment default/nodeport-svc: -m statistic --mode random --probability 0.5000000000 -j {sep1}",
            f"-A {svc} -m comment --comment default/nodeport-svc: -j {sep2}",
        ],
        sep1: [
            f"-A {sep1} -m comment --comment default/nodeport-svc: -s 10.244.1.5/32 -j KUBE-MARK-MASQ",
            f"-A {sep1} -m comment --comment default/nodeport-svc: -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080",
        ],
        sep2: [
            f"-A {sep2} -m comment --comment default/nodeport-svc: -s 10.244.2.7/32 -j KUBE-MARK-MASQ",
            f"-A {sep2} -m comment --comment default/nodeport-svc: -m tcp -p tcp -j DNAT --to-destination 10.244.2.7:8080",
        ],
    }
    assert parsed["filter"]["rules"] == {"KUBE-FORWARD": [
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT',
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack pod source rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack pod destination rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    ]}
    assert parsed["filter"]["chains"] == ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD"]
    assert parsed["nat"]["chains"][:4] == ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]


@pytest.mark.parametrize("profile", ["current", "1.18"])
@pytest.mark.parametrize("node", ["master", "node1", "node2"])
def test_nodeports_rule_is_last_in_nat_services(profile, node):
    text = iptables.render(features_state(profile), node)
    assert rules(text, "nat", "KUBE-SERVICES")[-1] == NODEPORTS_RULE
    assert text.count("-j KUBE-NODEPORTS") == 1


@pytest.mark.parametrize("profile", ["current", "1.18"])
def test_headless_and_external_name_services_render_nothing(profile):
    text = iptables.render(features_state(profile), "node1")
    assert "headless" not in text and "ext-name" not in text and "10.244.1.16" not in text
    for svc_name in ("default/headless", "default/headless:", "default/ext-name", "default/ext-name:"):
        assert names.port_proto_hash(svc_name, "tcp") not in text


@pytest.mark.parametrize("profile, name", [("current", "default/empty"), ("1.18", "default/empty:")])
def test_service_without_endpoints_only_rejects(profile, name):
    text = iptables.render(features_state(profile), "node1")
    d = "10.96.10.14" if profile == "current" else "10.96.10.14/32"
    mine = lambda chain: [r for r in rules(text, "filter", chain) if f'"{name} ' in r]  # noqa: E731
    assert mine("KUBE-SERVICES") == [
        f'-A KUBE-SERVICES -m comment --comment "{name} has no endpoints" -m tcp -p tcp -d {d} --dport 80 -j REJECT']
    assert mine("KUBE-EXTERNAL-SERVICES") == [
        f'-A KUBE-EXTERNAL-SERVICES -m comment --comment "{name} has no endpoints" '
        "-m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30082 -j REJECT"]
    assert names.port_proto_hash(name, "tcp") not in text  # no nat chains at all
    assert "30082" not in "\n".join(all_rules(parse_rules(text), "nat"))


def test_multi_port_service_gets_one_chain_per_port_and_protocol():
    text = iptables.render(features_state("current"), "node1")
    nat = parse_rules(text)["nat"]
    udp = names.service_chains("kube-system/kube-dns:dns", "udp")["SVC"]
    assert udp == "KUBE-SVC-TCOU7JCQXEZGVUNU"
    assert ('-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp '
            f"-d 10.96.0.10 --dport 53 -j {udp}") in nat["rules"]["KUBE-SERVICES"]
    assert {"KUBE-SVC-TCOU7JCQXEZGVUNU", "KUBE-SVC-ERIFXISQEP7F7OF4", "KUBE-SVC-JD5MR3NA4I4DYORP"} <= set(nat["chains"])
    sep = names.endpoint_chain("kube-system/kube-dns:dns", "udp", "10.244.0.2:53")
    assert nat["rules"][sep][-1] == (f"-A {sep} -m comment --comment kube-system/kube-dns:dns -m udp -p udp "
                                     "-j DNAT --to-destination 10.244.0.2:53")
    metrics = names.service_chains("kube-system/kube-dns:metrics", "tcp")["SVC"]
    assert nat["rules"][metrics][-1].endswith(names.endpoint_chain("kube-system/kube-dns:metrics", "tcp",
                                                                   "10.244.1.2:9153"))


def test_external_ip_current():
    text = iptables.render(features_state("current"), "node1")
    ext = names.service_chains("default/ext-ip", "tcp")["EXT"]
    assert ('-A KUBE-SERVICES -m comment --comment "default/ext-ip external IP" -m tcp -p tcp -d 192.168.179.250 '
            f"--dport 8080 -j {ext}") in rules(text, "nat", "KUBE-SERVICES")
    assert rules(text, "nat", ext) == [
        f'-A {ext} -m comment --comment "masquerade traffic for default/ext-ip external destinations" -j KUBE-MARK-MASQ',
        f"-A {ext} -j {ext.replace('EXT', 'SVC')}"]


def test_external_ip_1_18():
    text = iptables.render(features_state("1.18"), "node1")
    svc = names.service_chains("default/ext-ip:", "tcp")["SVC"]
    base = '-A KUBE-SERVICES -m comment --comment "default/ext-ip: external IP" -m tcp -p tcp -d 192.168.179.250/32 --dport 8080'
    assert is_subsequence([f"{base} -j KUBE-MARK-MASQ",
                           f"{base} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j {svc}",
                           f"{base} -m addrtype --dst-type LOCAL -j {svc}"], rules(text, "nat", "KUBE-SERVICES"))


def test_etp_local_with_local_endpoint_current():
    """Pod -> masq LOCAL -> route LOCAL -> SVL; the SVL chain holds only the local endpoint."""
    text = iptables.render(features_state("current"), "node1")
    c = names.service_chains("default/local-np", "tcp")
    n = "default/local-np"
    assert rules(text, "nat", c["EXT"]) == [
        f'-A {c["EXT"]} -m comment --comment "pod traffic for {n} external destinations" -s 10.244.0.0/16 -j {c["SVC"]}',
        f'-A {c["EXT"]} -m comment --comment "masquerade LOCAL traffic for {n} external destinations" '
        "-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
        f'-A {c["EXT"]} -m comment --comment "route LOCAL traffic for {n} external destinations" '
        f'-m addrtype --src-type LOCAL -j {c["SVC"]}',
        f'-A {c["EXT"]} -j {c["SVL"]}',
    ]
    local_sep = names.endpoint_chain(n, "tcp", "10.244.1.11:8080")
    assert rules(text, "nat", c["SVL"]) == [f'-A {c["SVL"]} -m comment --comment "{n} -> 10.244.1.11:8080" -j {local_sep}']
    assert len([r for r in rules(text, "nat", c["SVC"]) if "-j KUBE-SEP-" in r]) == 2
    assert "has no local endpoints" not in text


def test_etp_and_itp_local_without_local_endpoints_current():
    text = iptables.render(features_state("current"), "node2")
    c = names.service_chains("default/local-np", "tcp")
    assert rules(text, "nat", c["EXT"])[-1].endswith("-m addrtype --src-type LOCAL -j " + c["SVC"])  # no -j SVL
    assert c["SVL"] not in text
    assert ('-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/local-np has no local endpoints" '
            "-m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30081 -j DROP") in rules(text, "filter", "KUBE-EXTERNAL-SERVICES")
    itp = names.service_chains("default/itp-local", "tcp")
    assert ('-A KUBE-SERVICES -m comment --comment "default/itp-local has no local endpoints" -m tcp -p tcp '
            "-d 10.96.10.12 --dport 80 -j DROP") in rules(text, "filter", "KUBE-SERVICES")
    assert itp["SVC"] not in text and itp["SVL"] not in text


def test_itp_local_jumps_straight_to_svl():
    text = iptables.render(features_state("current"), "node1")
    c = names.service_chains("default/itp-local", "tcp")
    cip = '-m comment --comment "default/itp-local cluster IP" -m tcp -p tcp -d 10.96.10.12 --dport 80'
    assert f"-A KUBE-SERVICES {cip} -j {c['SVL']}" in rules(text, "nat", "KUBE-SERVICES")
    assert rules(text, "nat", c["SVL"]) == [
        f"-A {c['SVL']} {cip} ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
        f'-A {c["SVL"]} -m comment --comment "default/itp-local -> 10.244.1.12:8080" '
        f'-j {names.endpoint_chain("default/itp-local", "tcp", "10.244.1.12:8080")}']
    assert c["SVC"] not in text  # no KUBE-SVC chain for a pure ClusterIP ITP=Local service


@pytest.mark.parametrize("profile", ["current", "1.18"])
def test_session_affinity(profile):
    """The rcheck rules first, then the split; the DNAT rule records the client."""
    text = iptables.render(features_state(profile), "node1")
    name = names.service_port_name("default", "sticky", "", profile == "1.18")
    c = names.service_chains(name, "tcp")
    seps = [names.endpoint_chain(name, "tcp", a) for a in ("10.244.1.13:8080", "10.244.2.13:8080")]
    svc_rules = [r for r in rules(text, "nat", c["SVC"]) if "-j KUBE-SEP-" in r]
    assert len(svc_rules) == 4
    for rule, sep in zip(svc_rules[:2], seps):
        assert rule.endswith(f"-m recent --name {sep} --rcheck --seconds 600 --reap -j {sep}")
    assert "--probability 0.5000000000" in svc_rules[2] and svc_rules[3].endswith(f"-j {seps[1]}")
    for sep, addr in zip(seps, ("10.244.1.13:8080", "10.244.2.13:8080")):
        assert rules(text, "nat", sep)[1] == (f"-A {sep} -m comment --comment {name} -m recent --name {sep} --set "
                                              f"-m tcp -p tcp -j DNAT --to-destination {addr}")


def test_1_18_etp_local_nodeport_and_xlb():
    """v1.18: loopback masq, jump to XLB; XLB balances over local endpoints only."""
    text = iptables.render(features_state("1.18"), "node1")
    n = "default/local-np:"
    c = names.service_chains(n, "tcp")
    local_sep = names.endpoint_chain(n, "tcp", "10.244.1.11:8080")
    base = f"-A KUBE-NODEPORTS -m comment --comment {n} -m tcp -p tcp --dport 30081"
    assert rules(text, "nat", "KUBE-NODEPORTS")[:2] == [f"{base} -s 127.0.0.0/8 -j KUBE-MARK-MASQ", f"{base} -j {c['XLB']}"]
    assert rules(text, "nat", c["XLB"]) == [
        f'-A {c["XLB"]} -m comment --comment "Redirect pods trying to reach external loadbalancer VIP to clusterIP" '
        f"-s 10.244.0.0/16 -j {c['SVC']}",
        f'-A {c["XLB"]} -m comment --comment "masquerade LOCAL traffic for {n} LB IP" -m addrtype --src-type LOCAL '
        "-j KUBE-MARK-MASQ",
        f'-A {c["XLB"]} -m comment --comment "route LOCAL traffic for {n} LB IP to service chain" '
        f"-m addrtype --src-type LOCAL -j {c['SVC']}",
        f'-A {c["XLB"]} -m comment --comment "Balancing rule 0 for {n}" -j {local_sep}',
    ]
    text2 = iptables.render(features_state("1.18"), "node2")
    assert rules(text2, "nat", c["XLB"])[-1] == (
        f'-A {c["XLB"]} -m comment --comment "{n} has no local endpoints" -j KUBE-MARK-DROP')


def test_1_18_xlb_with_session_affinity():
    """1.18 writes rcheck rules over the local endpoints before XLB's balancing rules."""
    svc = service("sticky-local", "10.96.30.1", port(80, 8080, node_port=30500), external_traffic_policy="Local",
                  session_affinity="ClientIP", affinity_timeout=300)
    local = (ep("10.244.1.5:8080", "node1"), ep("10.244.1.6:8080", "node1"), ep("10.244.2.7:8080", "node2"))
    text = iptables.render(make_state([svc], dict([eps(svc, *local)]), "1.18"), "node1")
    n = "default/sticky-local:"
    xlb = names.service_chains(n, "tcp")["XLB"]
    s1, s2 = (names.endpoint_chain(n, "tcp", a) for a in ("10.244.1.5:8080", "10.244.1.6:8080"))
    assert rules(text, "nat", xlb)[3:] == [
        f"-A {xlb} -m comment --comment {n} -m recent --name {s1} --rcheck --seconds 300 --reap -j {s1}",
        f"-A {xlb} -m comment --comment {n} -m recent --name {s2} --rcheck --seconds 300 --reap -j {s2}",
        f'-A {xlb} -m comment --comment "Balancing rule 0 for {n}" -m statistic --mode random '
        f"--probability 0.5000000000 -j {s1}",
        f'-A {xlb} -m comment --comment "Balancing rule 1 for {n}" -j {s2}',
    ]


def test_masquerade_all():
    svc = service("all", "10.96.30.2", port(80))
    state = make_state([svc], dict([eps(svc, ep("10.244.1.5:80", "node1"))]), "current", masquerade_all=True)
    text = iptables.render(state, "node1")
    chain = names.service_chains("default/all", "tcp")["SVC"]
    assert rules(text, "nat", chain)[0] == (f'-A {chain} -m comment --comment "default/all cluster IP" -m tcp -p tcp '
                                            "-d 10.96.30.2 --dport 80 -j KUBE-MARK-MASQ")


def test_terminating_endpoints_are_a_fallback_only_in_current():
    svc = service("term", "10.96.30.3", port(80))
    terminating = ep("10.244.1.5:80", "node1", ready=False, serving=True, terminating=True)
    current = iptables.render(make_state([svc], dict([eps(svc, terminating)])), "node1")
    assert names.endpoint_chain("default/term", "tcp", "10.244.1.5:80") in current
    old = iptables.render(make_state([svc], dict([eps(svc, terminating)]), "1.18"), "node1")
    assert '"default/term: has no endpoints"' in old


# LoadBalancer ingress IPs --------------------------------------------------------------------


def test_example_b_lb_local_restore_form():
    """Example B's two lb-local lines the model could not express before, in kube-proxy's restore form."""
    lb_rule = ('-A KUBE-SERVICES -m comment --comment "default/lb-local:http loadbalancer IP" -m tcp -p tcp '
               "-d 203.0.113.50 --dport 80 -j KUBE-EXT-36SRL3I7JZKMDG5Q")
    hcnp = ('-A KUBE-NODEPORTS -m comment --comment "default/lb-local:http health check node port" '
            "-m tcp -p tcp --dport 32000 -j ACCEPT")
    node1 = iptables.render(example_b_state(), "node1")
    assert lb_rule in rules(node1, "nat", "KUBE-SERVICES")
    assert rules(node1, "filter", "KUBE-NODEPORTS") == [hcnp]
    assert "lb-local" not in "\n".join(rules(node1, "filter", "KUBE-EXTERNAL-SERVICES"))
    # the master has no lb-local endpoint: the LB IP still leads to EXT (pods and the node itself are
    # served), the filter table drops the rest, and the health check port is still accepted
    master = iptables.render(example_b_state(), "master")
    assert lb_rule in rules(master, "nat", "KUBE-SERVICES")
    assert rules(master, "filter", "KUBE-NODEPORTS") == [hcnp]
    assert ('-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/lb-local:http has no local endpoints" '
            "-m tcp -p tcp -d 203.0.113.50 --dport 80 -j DROP") in rules(master, "filter", "KUBE-EXTERNAL-SERVICES")
    assert rules(master, "nat", "KUBE-EXT-36SRL3I7JZKMDG5Q")[-1].endswith("--src-type LOCAL -j KUBE-SVC-36SRL3I7JZKMDG5Q")


# TestOverallIPTablesRules (upstream proxier_test.go, restore form, as its sorted expectation lists
# them): every line of ns2/svc2 (ETP=Local LoadBalancer, external IP, health check node port, its only
# endpoint on another node) and ns5/svc5 (LoadBalancer with loadBalancerSourceRanges " 203.0.113.0/25")
UPSTREAM_LB_FILTER = r"""
-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
"""
UPSTREAM_LB_NAT = r"""
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
"""


def upstream_lb_state():
    svc2 = service("svc2", "172.30.0.42", port(80, name="p80", node_port=3001), namespace="ns2", type="LoadBalancer",
                   external_ips=("192.168.99.22",), lb_ips=("1.2.3.4",), external_traffic_policy="Local",
                   health_check_node_port=30000)
    svc5 = service("svc5", "172.30.0.45", port(80, name="p80", node_port=3002), namespace="ns5", type="LoadBalancer",
                   lb_ips=("5.6.7.8",), lb_source_ranges=(" 203.0.113.0/25",))
    endpoints = dict([eps(svc2, ep("10.180.0.2:80", "node2"), port_name="p80"),
                      eps(svc5, ep("10.180.0.3:80", "node2"), port_name="p80")])
    return dataclasses.replace(make_state([svc2, svc5], endpoints), cluster_cidr=ipaddress.ip_network("10.0.0.0/8"))


def test_upstream_fixture_load_balancer_lines():
    text = iptables.render(upstream_lb_state(), "node1")
    for table, block in (("filter", UPSTREAM_LB_FILTER), ("nat", UPSTREAM_LB_NAT)):
        expected = parse_rules(f"*{table}\n{block}COMMIT\n")[table]["rules"]
        got = {chain: [r for r in rs if "svc2" in r or "svc5" in r or "GNZBNJ2PO5MGZ6GT" in r or "NUKIZ6OKUXPJNT4C" in r]
               for chain, rs in parse_rules(text)[table]["rules"].items()}
        got = {chain: rs for chain, rs in got.items() if rs}
        assert set(got) == set(expected), table
        for chain, expected_rules in expected.items():
            if chain.startswith(SERVICE_CHAIN_PREFIXES):  # one service's chain: order is kube-proxy's
                assert got[chain] == expected_rules, chain
            else:  # shared chains: services come in Go map order
                assert sorted(got[chain]) == sorted(expected_rules), chain


def test_load_balancer_ip_makes_the_service_external():
    """``ExternallyAccessible`` counts LB IPs: without a nodePort the LB IP still gets the EXT chain."""
    svc = service("lb-only", "10.96.40.2", port(80, 8080), type="LoadBalancer", lb_ips=("192.168.179.241",))
    text = iptables.render(make_state([svc], dict([eps(svc, ep("10.244.1.41:8080", "node1"))])), "node1")
    c = names.service_chains("default/lb-only", "tcp")
    assert rules(text, "nat", "KUBE-SERVICES")[1] == (
        '-A KUBE-SERVICES -m comment --comment "default/lb-only loadbalancer IP" -m tcp -p tcp -d 192.168.179.241 '
        f"--dport 80 -j {c['EXT']}")
    assert rules(text, "nat", c["EXT"]) == [
        f'-A {c["EXT"]} -m comment --comment "masquerade traffic for default/lb-only external destinations" -j KUBE-MARK-MASQ',
        f"-A {c['EXT']} -j {c['SVC']}"]
    assert "KUBE-NODEPORTS -m" not in text and c["FW"] not in text


def test_source_ranges_current_with_the_node_in_a_range():
    """Step 8: a range holding the node IP adds ``-s <LB IP>`` for every LB IP; each LB IP gets its DROP."""
    text = iptables.render(lb_state(lb_ips=("192.168.179.240", "192.168.179.241"),
                                    ranges=("10.1.0.0/16", "192.168.179.0/24")), "node1")
    c = names.service_chains("default/lb", "tcp")
    comment = '-m comment --comment "default/lb loadbalancer IP"'
    assert rules(text, "nat", c["FW"]) == [
        f"-A {c['FW']} {comment} -s 10.1.0.0/16 -j {c['EXT']}",
        f"-A {c['FW']} {comment} -s 192.168.179.0/24 -j {c['EXT']}",
        f"-A {c['FW']} {comment} -s 192.168.179.240 -j {c['EXT']}",
        f"-A {c['FW']} {comment} -s 192.168.179.241 -j {c['EXT']}",
        f'-A {c["FW"]} -m comment --comment "other traffic to default/lb will be dropped by KUBE-PROXY-FIREWALL"',
    ]
    assert [r for r in rules(text, "nat", "KUBE-SERVICES") if "loadbalancer IP" in r] == [
        f"-A KUBE-SERVICES {comment} -m tcp -p tcp -d 192.168.179.{i} --dport 80 -j {c['FW']}" for i in (240, 241)]
    assert rules(text, "filter", "KUBE-PROXY-FIREWALL") == [
        f'-A KUBE-PROXY-FIREWALL -m comment --comment "default/lb traffic not accepted by {c["FW"]}" '
        f"-m tcp -p tcp -d 192.168.179.{i} --dport 80 -j DROP" for i in (240, 241)]


def test_source_ranges_current_without_endpoints():
    """No endpoints: no FW chain and no KUBE-PROXY-FIREWALL rule, just the REJECTs."""
    text = iptables.render(lb_state(ranges=("10.1.0.0/16",), endpoints=()), "node1")
    assert "KUBE-FW-" not in text and rules(text, "filter", "KUBE-PROXY-FIREWALL") == []
    assert ('-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/lb has no endpoints" -m tcp -p tcp '
            "-d 192.168.179.240 --dport 80 -j REJECT") in rules(text, "filter", "KUBE-EXTERNAL-SERVICES")


@pytest.mark.parametrize("svc_type, etp, written", [("LoadBalancer", "Local", True), ("LoadBalancer", "Cluster", False),
                                                    ("NodePort", "Local", False)])
def test_health_check_node_port_rule_needs_an_etp_local_load_balancer(svc_type, etp, written):
    svc = service("hc", "10.96.40.3", port(80, 8080, node_port=30401), type=svc_type, external_traffic_policy=etp,
                  health_check_node_port=30402, lb_ips=("192.168.179.242",) if svc_type == "LoadBalancer" else ())
    for node in ("node1", "node2"):  # the only endpoint is on node2: written on both nodes alike
        text = iptables.render(make_state([svc], dict([eps(svc, ep("10.244.2.42:8080", "node2"))])), node)
        expected = ['-A KUBE-NODEPORTS -m comment --comment "default/hc health check node port" '
                    "-m tcp -p tcp --dport 30402 -j ACCEPT"] if written else []
        assert rules(text, "filter", "KUBE-NODEPORTS") == expected
    assert "30402" not in iptables.render(make_state([svc], {}, "1.18"), "node1")  # 1.18 writes no such rule


_FW_1_18 = '-m comment --comment "default/lb: loadbalancer IP"'


@pytest.mark.parametrize("case, ranges, etp, tail", [
    ("cluster", (), "Cluster", ["-j KUBE-MARK-MASQ", "-j {SVC}", "-j KUBE-MARK-DROP"]),
    ("local", (), "Local", ["-j {XLB}", "-j KUBE-MARK-DROP"]),
    ("ranges", ("203.0.113.0/25", "10.1.0.0/16"), "Cluster",
     ["-j KUBE-MARK-MASQ", "-s 203.0.113.0/25 -j {SVC}", "-s 10.1.0.0/16 -j {SVC}", "-j KUBE-MARK-DROP"]),
    ("node-in-range", ("192.168.179.0/24",), "Local",
     ["-s 192.168.179.0/24 -j {XLB}", "-s 192.168.179.240/32 -j {XLB}", "-j KUBE-MARK-DROP"]),
])
def test_1_18_load_balancer_fw_chain(case, ranges, etp, tail):
    """v1.18: every LB IP goes through KUBE-FW, which ends in KUBE-MARK-DROP."""
    text = iptables.render(lb_state("1.18", ranges=ranges, etp=etp), "node1")
    c = names.service_chains("default/lb:", "tcp")
    assert (f"-A KUBE-SERVICES {_FW_1_18} -m tcp -p tcp -d 192.168.179.240/32 --dport 80 -j {c['FW']}"
            in rules(text, "nat", "KUBE-SERVICES"))
    assert rules(text, "nat", c["FW"]) == [f"-A {c['FW']} {_FW_1_18} {t.format(**c)}" for t in tail]
    assert parse_rules(text)["nat"]["chains"].count(c["FW"]) == 1


def test_1_18_fw_chain_is_written_again_for_each_lb_ip():
    text = iptables.render(lb_state("1.18", lb_ips=("192.168.179.240", "192.168.179.241"),
                                    ranges=("192.168.179.0/24",)), "node1")
    c = names.service_chains("default/lb:", "tcp")
    block = [f"-A {c['FW']} {_FW_1_18} -j KUBE-MARK-MASQ", f"-A {c['FW']} {_FW_1_18} -s 192.168.179.0/24 -j {c['SVC']}"]
    assert rules(text, "nat", c["FW"]) == (
        block + [f"-A {c['FW']} {_FW_1_18} -s 192.168.179.240/32 -j {c['SVC']}", f"-A {c['FW']} {_FW_1_18} -j KUBE-MARK-DROP"]
        + block + [f"-A {c['FW']} {_FW_1_18} -s 192.168.179.241/32 -j {c['SVC']}", f"-A {c['FW']} {_FW_1_18} -j KUBE-MARK-DROP"])


def test_1_18_load_balancer_without_endpoints_rejects_in_kube_services():
    """The LB IP's REJECT sits in filter KUBE-SERVICES (not KUBE-EXTERNAL-SERVICES) in 1.18."""
    text = iptables.render(lb_state("1.18", endpoints=()), "node1")
    assert rules(text, "filter", "KUBE-SERVICES")[-1] == (
        '-A KUBE-SERVICES -m comment --comment "default/lb: has no endpoints" -m tcp -p tcp -d 192.168.179.240/32 '
        "--dport 80 -j REJECT")
    assert "192.168.179.240" not in "\n".join(rules(text, "filter", "KUBE-EXTERNAL-SERVICES"))
    assert "KUBE-FW-" not in text
