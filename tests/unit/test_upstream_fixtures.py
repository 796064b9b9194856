"""Golden tests from Kubernetes' own expectations: kube-proxy's overall-rules unit tests.

The expected dumps are upstream's facts, copied verbatim, not svclab's output:

- ``TestOverallIPTablesRules`` of kube-proxy's iptables proxier tests (a recent version, whose fake
  proxier has both nfacct counters, a fake conntrack and ``localhostNodePorts``): its expected
  ``iptables-restore`` input is ``tests/upstream/overall-iptables.expected``;
- ``TestOverallNFTablesRules`` of the nftables proxier tests (the version whose base rules have
  ``cluster-ips-check`` and the ``*-pre-dnat`` filter chains): its expected table is
  ``tests/upstream/overall-nftables.expected``.

Both create the same six services (``tests/upstream/overall.yml``) on the node of upstream's
``NewFakeProxier`` (``tests/upstream/topology.yml``, ``tests/upstream/kube-proxy-*.yml``). This
module runs ``lab render`` on them as a user would and compares the result with upstream's dump
rule by rule, ordered as upstream's own assertions order them (``sortIPTablesRules`` /
``sortNFTablesTransaction``).

Upstream's inputs that a default `lab render` would refuse or read differently, and how this module
gives them (each also has a test of its own):

1. node ports 3001-3003: outside the default --service-node-port-range (30000-32767); the main
   comparison maps them to 30001-30003 (NODE_PORTS), and test_upstream_node_ports_render renders
   them as they are with ``--service-node-port-range 3000-32767``.
2. svc5's space-padded loadBalancerSourceRange ``" 203.0.113.0/25"`` (upstream keeps it "to ensure
   that invalid value will not result in a crash"): svclab trims it as the apiserver and
   kube-proxy do (test_upstream_padded_source_range_renders).
3. LoadBalancer ingress IPs (``status.loadBalancer.ingress``, 1.2.3.4 and 5.6.7.8): with no load
   balancer in the topology (no controller to assign addresses), svclab takes the manifest's own
   status, as kube-proxy would read it; the comparison includes every rule for them.

The rest of the fake proxier's settings are given as kube-proxy takes them (the
KubeProxyConfiguration files, ``--node-ip``, ``--service-cidr``) or as ``lab render`` flags for
what the host decides: ``--nfacct`` (the iptables fake has both nfacct counters) and
``--no-random-fully`` (its fake iptables has no MASQUERADE --random-fully).
"""

import functools
import os
import re

import pytest
import yaml

from factories import TESTS, run_lab

UPSTREAM = os.path.join(TESTS, "upstream")
MANIFEST = os.path.join(UPSTREAM, "overall.yml")
TOPOLOGY = os.path.join(UPSTREAM, "topology.yml")
IPT_CONFIG = os.path.join(UPSTREAM, "kube-proxy-iptables.yml")
NFT_CONFIG = os.path.join(UPSTREAM, "kube-proxy-nftables.yml")
SERVICE_CIDR = "172.30.0.0/16"  # the fake proxiers' ClusterIPs ("Service ClusterIPs: 172.30.0.0/16")
NODE_IP = "192.168.0.2"  # testNodeIP

NODE_PORTS = {3001: 30001, 3002: 30002, 3003: 30003}  # adaptation 1
LB_IPS = ("1.2.3.4", "5.6.7.8")  # adaptation 3


def _read(name):
    with open(os.path.join(UPSTREAM, name)) as f:
        return f.read()


# normalisation -------------------------------------------------------------------------------

def normalise_marks(text):
    """The one normalisation of svclab's output: kube-proxy formats the masquerade mark with Go's
    ``%#08x``, which pads the digits (``0x00004000``), where upstream's fake proxier sets
    ``masqueradeMark: "0x4000"``; iptables and nft read both as the same 32-bit value."""
    return re.sub(r"\b0x0+([0-9a-f]+)\b", r"0x\1", text)


# inputs --------------------------------------------------------------------------------------

def adapted_manifest(path, node_ports=True, trim_ranges=True):
    """overall.yml with adaptations 1 (node ports) and 2 (trimmed source ranges), written to path."""
    with open(MANIFEST) as f:
        docs = list(yaml.safe_load_all(f))
    for doc in docs:
        spec = doc.get("spec", {}) if doc.get("kind") == "Service" else {}
        for port in spec.get("ports", ()):
            if node_ports and port.get("nodePort") in NODE_PORTS:
                port["nodePort"] = NODE_PORTS[port["nodePort"]]
        if trim_ranges and "loadBalancerSourceRanges" in spec:
            spec["loadBalancerSourceRanges"] = [r.strip() for r in spec["loadBalancerSourceRanges"]]
    with open(path, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    return path


def render_iptables(manifest):
    out = run_lab("render", "iptables", manifest, "--form", "restore", "--profile", "current",
                  "--topology", TOPOLOGY, "--config", IPT_CONFIG, "--node-ip", NODE_IP,
                  "--service-cidr", SERVICE_CIDR, "--no-random-fully", "--nfacct").stdout
    return normalise_marks(out)


def render_nftables(manifest):
    out = run_lab("render", "nftables", manifest, "--form", "restore", "--profile", "current", "--topology", TOPOLOGY,
                  "--config", NFT_CONFIG, "--node-ip", NODE_IP, "--service-cidr", SERVICE_CIDR).stdout
    # `lab render nftables --form restore` prints the nft -f input that recreates the table from scratch:
    # "add table" + "delete table" (so the delete cannot fail), then the table's definition.
    # Upstream compares the fake knftables' Dump() (the table's contents): compare the definition.
    lines = out.splitlines()
    if "delete table ip kube-proxy" in lines:
        lines = lines[lines.index("delete table ip kube-proxy") + 1:]
    return normalise_marks("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return adapted_manifest(str(tmp_path_factory.mktemp("upstream") / "overall.yml"))


@pytest.fixture(scope="module")
def iptables_dump(manifest):
    return parse_iptables(render_iptables(manifest))


@pytest.fixture(scope="module")
def nftables_dump(manifest):
    return parse_nftables(render_nftables(manifest))


# expected dumps, with the same adaptations -----------------------------------------------------

def _map_node_ports(text):
    """Adaptation 1 in the expected dumps: ``--dport 3001`` (iptables), ``tcp . 3001`` (nft)."""
    return re.sub(r"(--dport |tcp \. )(\d+)\b",
                  lambda m: m.group(1) + str(NODE_PORTS.get(int(m.group(2)), m.group(2))), text)


_LB_RULE = re.compile(r"-d (%s)( |$)" % "|".join(re.escape(ip) for ip in LB_IPS))
_LB_ELEMENT = re.compile(r"\{ (%s) \. " % "|".join(re.escape(ip) for ip in LB_IPS))


def expected_iptables(lb=True):
    """Upstream's iptables dump with adaptation 1 (node ports), and unless asked for, without
    the LB-ingress rules (3)."""
    lines = []
    for line in _map_node_ports(_read("overall-iptables.expected")).splitlines():
        if not lb:
            # KUBE-FW-<hash>: only for LB ingress IPs with loadBalancerSourceRanges
            if line.startswith((":KUBE-FW-", "-A KUBE-FW-")) or _LB_RULE.search(line):
                continue
        lines.append(line)
    return parse_iptables("\n".join(lines))


# a service port's firewall- chain (named firewall-<hash>-ns/svc/proto/port): only for LB
# ingress IPs with loadBalancerSourceRanges; not the fixed firewall-check chain
_LB_FIREWALL_CHAIN = re.compile(r"^add (chain|rule) ip kube-proxy firewall-[A-Z2-7]{8}-")


def expected_nftables(lb=True):
    """Upstream's nftables table with adaptation 1, and unless asked for, without the LB-ingress
    elements and the firewall- chain that exists only for them (3)."""
    lines = []
    for line in _map_node_ports(_read("overall-nftables.expected")).splitlines():
        if not lb and (_LB_ELEMENT.search(line) or _LB_FIREWALL_CHAIN.match(line)):
            continue
        lines.append(line)
    return parse_nftables("\n".join(lines))


# iptables: parse and order as upstream's sortIPTablesRules does ---------------------------------

_COMMENT = re.compile(r'-m comment --comment ("[^"]*"|\S+)')


def _comment(rule):
    m = _COMMENT.search(rule)
    return m.group(1).strip('"') if m else None


def _service_name(comment):
    """orderByCommentServiceName: the service name is the comment up to the first space or colon."""
    return re.split(r"[ :]", comment, maxsplit=1)[0]


def _order_by_comment_service_name(last_rule_last):
    def less(a, b):
        ca, cb = _comment(a), _comment(b)
        if last_rule_last:  # nat KUBE-SERVICES: keep the "must be the last rule" rule last
            if ca is not None and "must be the last rule" in ca:
                return False
            if cb is not None and "must be the last rule" in cb:
                return True
        if ca is None or cb is None:
            return False
        return _service_name(ca) < _service_name(cb)

    def cmp(a, b):
        return -1 if less(a, b) else 1 if less(b, a) else 0
    return functools.cmp_to_key(cmp)


def parse_iptables(text):
    """restore input -> {table: {"chains": set of declared chains, "rules": {chain: [rule args]}}},
    with the rules of KUBE-NODEPORTS and KUBE-SERVICES (both tables) stably sorted by service
    name, as sortIPTablesRules sorts them. Upstream also sorts tables and chain declarations;
    here they are compared as sets. Comment lines (# ...) are ignored, as iptables-restore does."""
    tables, table = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = tables.setdefault(line[1:], {"chains": set(), "rules": {}})
        elif line.startswith(":"):
            table["chains"].add(line[1:].split()[0])
        elif line.startswith("-A "):
            chain, _, args = line[3:].partition(" ")
            table["rules"].setdefault(chain, []).append(args)
        else:
            raise AssertionError(f"unexpected restore line: {line!r}")
    for name, t in tables.items():
        for chain in ("KUBE-NODEPORTS", "KUBE-SERVICES"):
            if chain in t["rules"]:
                t["rules"][chain] = sorted(t["rules"][chain], key=_order_by_comment_service_name(
                    name == "nat" and chain == "KUBE-SERVICES"))
    return tables


# nftables: parse and order as upstream's sortNFTablesTransaction does ---------------------------

def parse_nftables(text):
    """``add ... ip kube-proxy`` lines -> {"table": line, "chain"/"set"/"map": {name: line},
    "rules": {chain: [rules]}, "elements": {set or map: set of elements}}.

    sortNFTablesTransaction drops blank lines and comments, orders lines by object type and
    name, keeps rules in the order they were added (per chain, since the name is the chain) and
    sorts everything else by the whole line: so rule order counts within a chain only, and
    chains, sets, maps and elements compare as sets."""
    out = {"table": None, "chain": {}, "set": {}, "map": {}, "rules": {}, "elements": {}}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split(" ")
        assert words[0] == "add" and words[2:4] == ["ip", "kube-proxy"], f"unexpected nft line: {line!r}"
        kind = words[1]
        if kind == "table":
            out["table"] = line
        elif kind in ("chain", "set", "map"):
            out[kind][words[4]] = line
        elif kind == "rule":
            out["rules"].setdefault(words[4], []).append(" ".join(words[5:]))
        elif kind == "element":
            out["elements"].setdefault(words[4], set()).add(" ".join(words[5:]))
        else:
            raise AssertionError(f"unexpected nft line: {line!r}")
    return out


# the iptables comparison ------------------------------------------------------------------------

EXPECTED_IPT = expected_iptables()
IPT_CHAINS = [(t, c) for t in sorted(EXPECTED_IPT) for c in sorted(EXPECTED_IPT[t]["chains"])]


def _iptables_lines(dump):
    return {f"*{t} :{c}" for t in dump for c in dump[t]["chains"]} | {
        f"*{t} -A {c} {r}" for t in dump for c, rules in dump[t]["rules"].items() for r in rules}


def _nftables_lines(dump):
    out = {dump["table"]} | {line for kind in ("chain", "set", "map") for line in dump[kind].values()}
    out |= {f"rule {c}: {r}" for c, rules in dump["rules"].items() for r in rules}
    return out | {f"element {c}: {e}" for c, elements in dump["elements"].items() for e in elements}


def _missing_and_extra(expected, actual):
    return ("\nmissing from lab render:\n  " + "\n  ".join(sorted(expected - actual) or ["(none)"]) +
            "\nnot in upstream's dump:\n  " + "\n  ".join(sorted(actual - expected) or ["(none)"]))


def _diff(expected, actual):
    return ("\nexpected (upstream):\n  " + "\n  ".join(expected or ["(none)"]) +
            "\nactual (lab render):\n  " + "\n  ".join(actual or ["(none)"]))


def test_iptables_tables_and_chains(iptables_dump):
    """The same tables, each declaring the same chains (upstream's chain lines, sorted)."""
    assert sorted(iptables_dump) == sorted(EXPECTED_IPT)
    for table in EXPECTED_IPT:
        assert iptables_dump[table]["chains"] == EXPECTED_IPT[table]["chains"], table


def test_iptables_no_rules_in_unexpected_chains(iptables_dump):
    for table, t in iptables_dump.items():
        extra = set(t["rules"]) - set(EXPECTED_IPT.get(table, {}).get("rules", {}))
        assert not extra, f"{table}: rules in chains upstream leaves empty: {sorted(extra)}"


@pytest.mark.parametrize("table,chain", IPT_CHAINS, ids=[f"{t}/{c}" for t, c in IPT_CHAINS])
def test_iptables_chain(iptables_dump, table, chain):
    expected = EXPECTED_IPT[table]["rules"].get(chain, [])
    actual = iptables_dump.get(table, {"rules": {}})["rules"].get(chain, [])
    assert actual == expected, f"{table} {chain}:" + _diff(expected, actual)


# the nftables comparison ------------------------------------------------------------------------

EXPECTED_NFT = expected_nftables()
NFT_CHAINS = sorted(EXPECTED_NFT["chain"])
NFT_CONTAINERS = sorted(set(EXPECTED_NFT["set"]) | set(EXPECTED_NFT["map"]))


def test_nftables_table_sets_maps_and_chains(nftables_dump):
    """The table, and every set, map and chain declaration, line for line."""
    assert nftables_dump["table"] == EXPECTED_NFT["table"]
    for kind in ("set", "map", "chain"):
        expected, actual = EXPECTED_NFT[kind], nftables_dump[kind]
        assert sorted(actual.values()) == sorted(expected.values()), kind + ":" + _diff(
            sorted(expected.values()), sorted(actual.values()))


def test_nftables_no_rules_or_elements_elsewhere(nftables_dump):
    assert set(nftables_dump["rules"]) <= set(EXPECTED_NFT["rules"])
    assert set(nftables_dump["elements"]) <= set(EXPECTED_NFT["elements"])


@pytest.mark.parametrize("chain", NFT_CHAINS)
def test_nftables_chain(nftables_dump, chain):
    expected = EXPECTED_NFT["rules"].get(chain, [])
    actual = nftables_dump["rules"].get(chain, [])
    assert actual == expected, chain + ":" + _diff(expected, actual)


@pytest.mark.parametrize("container", NFT_CONTAINERS)
def test_nftables_elements(nftables_dump, container):
    expected = EXPECTED_NFT["elements"].get(container, set())
    actual = nftables_dump["elements"].get(container, set())
    assert actual == expected, container + ":" + _diff(sorted(expected), sorted(actual))


# upstream's own inputs, as given ---------------------------------------------------------------

def test_upstream_node_ports_render(tmp_path):
    path = adapted_manifest(str(tmp_path / "overall.yml"), node_ports=False)
    result = run_lab("render", "iptables", path, "--topology", TOPOLOGY, "--config", IPT_CONFIG,
                     "--service-cidr", SERVICE_CIDR, "--service-node-port-range", "3000-32767", check=False)
    assert result.returncode == 0, result.stderr


def test_upstream_padded_source_range_renders(tmp_path):
    path = adapted_manifest(str(tmp_path / "overall.yml"), trim_ranges=False)
    result = run_lab("render", "iptables", path, "--topology", TOPOLOGY, "--config", IPT_CONFIG,
                     "--service-cidr", SERVICE_CIDR, check=False)
    assert result.returncode == 0, result.stderr


def test_iptables_lb_ingress(iptables_dump):
    expected = expected_iptables(lb=True)
    assert iptables_dump == expected, _missing_and_extra(_iptables_lines(expected), _iptables_lines(iptables_dump))


def test_nftables_lb_ingress(nftables_dump):
    expected = expected_nftables(lb=True)
    assert nftables_dump == expected, _missing_and_extra(_nftables_lines(expected), _nftables_lines(nftables_dump))

