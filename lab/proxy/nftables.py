"""kube-proxy's nftables mode: the ``nft -f`` input it writes for one node.

Pure functions of the cluster state, like lab.proxy.iptables; both share the endpoint
categorisation (``CategorizeEndpoints``) of lab.proxy.serviceports. The layout is kube-proxy's
nftables proxier as upstream's ``TestOverallNFTablesRules`` fixture pins it (kube-proxy about
v1.34-v1.35: base chains ``filter-prerouting-pre-dnat`` / ``filter-output-pre-dnat`` at priority
-110, the ``cluster-ips`` set, ``service-endpoints-check`` / ``nodeport-endpoints-check``, the
``mark-for-masquerade`` chain (inlined in later releases), and the ClusterIP masquerade rule
without a port match).

One table, ``ip kube-proxy``:

- maps ``service-ips`` (ClusterIP, externalIP and LB IP . protocol . port -> ``goto`` a chain) and
  ``service-nodeports`` (protocol . nodePort), looked up from the ``services`` chain that the
  ``nat-prerouting`` / ``nat-output`` base chains jump to;
- per service port, chains named ``<prefix><hash>-<ns>/<svc>/<proto>/<port name>``: ``service-``
  (Cluster policy: the ClusterIP masquerade rule and ``numgen random mod N vmap``), ``local-``
  (Local policy), ``external-`` (NodePort, externalIP, LB IP), ``firewall-``
  (loadBalancerSourceRanges), and per endpoint ``endpoint-…__<ip>/<port>`` (hairpin masquerade,
  then DNAT) with, for ClientIP affinity, an ``affinity-…`` set;
- ``no-endpoint-services`` / ``no-endpoint-nodeports`` (``goto reject-chain``, or ``drop`` when a
  Local policy has no local endpoint), checked by the filter base chains before DNAT;
- ``cluster-ips``: traffic to a ClusterIP port that is not a service port is rejected, to an
  unallocated address of the service CIDR dropped.

NodePorts are accepted on the addresses of ``--nodeport-addresses``, whose default in nftables
mode is ``primary`` (kube-proxy's ``platformApplyDefaults``): the node IP,
in the ``nodeport-ips`` set. ``node_port_addresses`` is ``PRIMARY``, ``ALL`` (CIDRs matching
everything: ``fib daddr type local``, never 127.0.0.0/8) or the node addresses themselves.

Services are written in (namespace, name, port) order; kube-proxy walks a Go map, and only the
order inside each chain counts. Within a service, every chain is declared before the rules and
map elements that name it, since ``nft -f`` does not accept forward references.

Sync model: kube-proxy runs one knftables transaction per sync: ``add`` (create if missing) and
``flush`` every chain, set and map it owns, then their rules and elements; the affinity sets are
added but not flushed (their dynamic entries survive); stale service chains are flushed and
deleted a second later (kernels before 6.2 release a chain referenced by a deleted vmap element
late), stale affinity sets deleted at once. ``transaction(current, previous)`` builds that input
(stale chains are deleted in the same transaction, which kernels since 6.2 accept);
``transaction(current)`` with no previous sync recreates the table from scratch
(``add table`` + ``delete table`` + the definition), which is atomic and idempotent.
"""

import re
from dataclasses import dataclass, field

from lab.proxy import names
from lab.proxy.options import options_for
from lab.proxy.serviceports import allows_node, service_ports, source_ranges

TABLE = "ip kube-proxy"
PRIMARY = "primary"  # --nodeport-addresses primary: the node IP (the nftables-mode default)
ALL = "all"  # --nodeport-addresses matching every address: fib daddr type local

# knftables.NameLengthMax (256) minus chainNamePrefixLengthMax (16); early alphas used 128 - 16

SERVICE, LOCAL, EXTERNAL, FIREWALL, ENDPOINT, AFFINITY = (
    "service-", "local-", "external-", "firewall-", "endpoint-", "affinity-")

MARK_MASQ = "mark-for-masquerade"
REJECT_CHAIN = "reject-chain"

# (name, type, hook, priority): setupNFTables' base chains
BASE_CHAINS = (
    ("filter-prerouting-pre-dnat", "filter", "prerouting", -110),
    ("filter-output-pre-dnat", "filter", "output", -110),
    ("filter-forward", "filter", "forward", 0),
    ("filter-input", "filter", "input", 0),
    ("filter-output", "filter", "output", 0),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
    ("nat-prerouting", "nat", "prerouting", -100),
)
_KEY = "ipv4_addr . inet_proto . inet_service : verdict"
MAPS = (
    ("firewall-ips", _KEY, "destinations that are subject to LoadBalancerSourceRanges"),
    ("no-endpoint-nodeports", "inet_proto . inet_service : verdict",
     "vmap to drop or reject packets to service nodeports with no endpoints"),
    ("no-endpoint-services", _KEY, "vmap to drop or reject packets to services with no endpoints"),
    ("service-ips", _KEY, "ClusterIP, ExternalIP and LoadBalancer IP traffic"),
    ("service-nodeports", "inet_proto . inet_service : verdict", "NodePort traffic"),
)
NO_LOCALHOST = "ip daddr != 127.0.0.0/8"


# the writer ------------------------------------------------------------------------------------

class _Writer:
    def __init__(self):
        self.lines = []

    def add(self, kind, name, spec=None):
        self.lines.append(f"add {kind} {TABLE} {name}" + (f" {{ {spec} ; }}" if spec else ""))

    def chain(self, name, spec=None):
        self.add("chain", name, spec)

    def rule(self, chain, rule, comment=None):
        self.lines.append(f"add rule {TABLE} {chain} {rule}" + (f' comment "{comment}"' if comment else ""))

    def element(self, container, key, value=None, comment=None):
        text = key + (f' comment "{comment}"' if comment else "") + (f" : {value}" if value else "")
        self.lines.append(f"add element {TABLE} {container} {{ {text} }}")

    def text(self):
        return "\n".join(self.lines) + "\n"


def definition(cluster, node_name, node_port_addresses=PRIMARY):
    """The kube-proxy table of ``node_name`` as ``nft -f`` commands that create it in an empty
    namespace (the form of upstream's fixture: sets, maps, chains, rules, elements).

    ``node_port_addresses``: ``PRIMARY`` (the node IP, kube-proxy's default in this mode), ``ALL``,
    or the addresses (``GetNodeIPs`` of the CIDRs) that go in ``nodeport-ips``."""
    opts = options_for(cluster, node_name)
    w = _Writer()
    _base(w, opts, [str(cluster.service_cidr)], node_port_addresses)
    for p in service_ports(cluster, opts):
        _service(w, p, opts)
    return w.text()


def render(cluster, node_name, node_port_addresses=PRIMARY):
    """What kube-proxy on ``node_name`` loads with ``nft -f``: the whole table, recreated from
    scratch in one atomic transaction (safe to run again, whatever the table held)."""
    return transaction(definition(cluster, node_name, node_port_addresses))


def _base(w, opts, service_cidrs, node_port_addresses):
    """``setupNFTables``: the table, its sets and maps, base chains and fixed rules."""
    all_addresses = node_port_addresses == ALL
    w.lines.append(f'add table {TABLE} {{ comment "rules for kube-proxy" ; }}')
    w.add("set", "cluster-ips", 'type ipv4_addr ; comment "Active ClusterIPs"')
    if not all_addresses:
        w.add("set", "nodeport-ips", 'type ipv4_addr ; comment "IPs that accept NodePort traffic"')
    for name, key, comment in MAPS:
        w.add("map", name, f'type {key} ; comment "{comment}"')
    chains = {name: f"type {kind} hook {hook} priority {prio}" for name, kind, hook, prio in BASE_CHAINS}
    chains.update({"cluster-ips-check": None, "firewall-check": None, MARK_MASQ: None, "masquerading": None,
                   "nodeport-endpoints-check": None, "services": None, "service-endpoints-check": None,
                   REJECT_CHAIN: 'comment "helper for @no-endpoint-services / @no-endpoint-nodeports"'})
    order = ("cluster-ips-check", "filter-prerouting-pre-dnat", "filter-output-pre-dnat", "filter-forward",
             "filter-input", "filter-output", "firewall-check", MARK_MASQ, "masquerading", "nat-output",
             "nat-postrouting", "nat-prerouting", "nodeport-endpoints-check", REJECT_CHAIN, "services",
             "service-endpoints-check")
    for name in order:
        w.chain(name, chains[name])

    w.rule("cluster-ips-check", "ip daddr @cluster-ips reject", "Reject traffic to invalid ports of ClusterIPs")
    if service_cidrs:
        w.rule("cluster-ips-check", f"ip daddr {{ {','.join(service_cidrs)} }} drop",
               "Drop traffic to unallocated ClusterIPs")
    # nftablesJumpChains: the endpoint checks before DNAT (reject needs input/forward/output),
    # the source-range firewall before DNAT, DNAT itself, masquerading, and the ClusterIP checks
    w.rule("filter-prerouting-pre-dnat", "ct state new jump firewall-check")
    w.rule("filter-forward", "ct state new jump service-endpoints-check")
    w.rule("filter-forward", "ct state new jump cluster-ips-check")
    w.rule("filter-input", "ct state new jump nodeport-endpoints-check")
    w.rule("filter-input", "ct state new jump service-endpoints-check")
    w.rule("filter-output", "ct state new jump service-endpoints-check")
    w.rule("filter-output-pre-dnat", "ct state new jump firewall-check")
    w.rule("filter-output", "ct state new jump cluster-ips-check")
    w.rule("firewall-check", "ip daddr . meta l4proto . th dport vmap @firewall-ips")
    w.rule(MARK_MASQ, f"mark set mark or {opts.mark}")
    w.rule("masquerading", f"mark and {opts.mark} == 0 return")
    w.rule("masquerading", f"mark set mark xor {opts.mark}")
    w.rule("masquerading", "masquerade fully-random")
    w.rule("nat-output", "jump services")
    w.rule("nat-postrouting", "jump masquerading")
    w.rule("nat-prerouting", "jump services")
    if all_addresses:
        w.rule("nodeport-endpoints-check", f"{NO_LOCALHOST} meta l4proto . th dport vmap @no-endpoint-nodeports")
    else:
        w.rule("nodeport-endpoints-check", "ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports")
    w.rule(REJECT_CHAIN, "reject")
    w.rule("services", "ip daddr . meta l4proto . th dport vmap @service-ips")
    if all_addresses:
        w.rule("services", f"fib daddr type local {NO_LOCALHOST} meta l4proto . th dport vmap @service-nodeports")
    else:
        w.rule("services", "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports")
        if node_port_addresses == PRIMARY:  # NodePortAddresses.GetNodeIPs: the primary node IP
            node_port_addresses = (opts.node_ip,) if opts.node_ip else ()
        for ip in node_port_addresses:
            if not ip.startswith("127."):  # "localhost NodePorts are not supported"
                w.element("nodeport-ips", ip)
    w.rule("service-endpoints-check", "ip daddr . meta l4proto . th dport vmap @no-endpoint-services")


@dataclass
class _Chains:
    """The per-service-port chain names (``newServiceInfo``)."""

    service: str
    local: str
    external: str
    firewall: str


def _endpoint_base(p, e):
    return names.endpoint_chain_base(p.svc.namespace, p.svc.name, p.proto, p.port.name, e.ip, e.port)


def _service(w, p, opts):
    """``syncProxyRules`` for one service port: chains, then rules, then map elements."""
    base = names.service_chain_base(p.svc.namespace, p.svc.name, p.proto, p.port.name)
    c = _Chains(SERVICE + base, LOCAL + base, EXTERNAL + base, FIREWALL + base)
    uses_cluster = p.svc.internal_traffic_policy != "Local" or p.externally_accessible  # UsesClusterEndpoints
    uses_local = p.itp_local or p.etp_local  # UsesLocalEndpoints
    cluster_eps = p.cluster_eps if uses_cluster else ()
    local_eps = p.local_eps if uses_local else ()
    reachable = sorted(set(cluster_eps) | set(local_eps), key=lambda e: e.address)  # allLocallyReachable
    internal_chain, has_internal = (c.local, bool(local_eps)) if p.itp_local else (c.service, p.has_endpoints)
    external_policy_chain, has_external = (c.local, bool(local_eps)) if p.etp_local else (c.service, p.has_endpoints)
    uses_external = p.has_endpoints and p.externally_accessible
    ranges = source_ranges(p, opts)
    uses_firewall = bool(p.lb_ips) and bool(ranges)
    verdict = f"goto {REJECT_CHAIN}" if not p.has_endpoints else "drop"  # "drop": no local endpoints
    affinity = p.svc.session_affinity == "ClientIP"

    if affinity and reachable:
        for e in reachable:  # dynamic: the packet path adds to it; timeout: entries age out
            w.add("set", AFFINITY + _endpoint_base(p, e),
                  f"type ipv4_addr ; flags dynamic,timeout ; timeout {p.svc.affinity_timeout}s")
    if cluster_eps:
        w.chain(c.service)
    if local_eps:
        w.chain(c.local)
    if uses_external:
        w.chain(c.external)
    for e in reachable:
        w.chain(ENDPOINT + _endpoint_base(p, e))
    if uses_firewall:
        w.chain(c.firewall)

    for chain, eps in ((c.service, cluster_eps), (c.local, local_eps)):
        if not eps:
            continue
        if has_internal and chain == internal_chain:
            _internal_masquerade(w, p, chain, opts)
        _endpoint_rules(w, p, chain, eps, affinity)
    if uses_external:
        _external_rules(w, p, c, opts, external_policy_chain if has_external else None)
    for e in reachable:
        chain = ENDPOINT + _endpoint_base(p, e)
        w.rule(chain, f"ip saddr {e.ip} jump {MARK_MASQ}")  # hairpin: a pod reaching itself
        if affinity:
            w.rule(chain, f"update @{AFFINITY}{_endpoint_base(p, e)} {{ ip saddr }}")
        w.rule(chain, f"meta l4proto {p.proto} dnat to {e.address}")
    if uses_firewall:
        sources = list(ranges)
        if allows_node(ranges, opts):  # the node reaching its own LB IP, SNATted to it
            sources += list(p.lb_ips)
        w.rule(c.firewall, f"ip saddr != {{ {' , '.join(sources)} }} drop")

    _elements(w, p, c, internal_chain, has_internal, has_external, uses_firewall, verdict)


def _internal_masquerade(w, p, chain, opts):
    """Off-cluster traffic to the ClusterIP is masqueraded (it may leave the node again)."""
    if opts.masquerade_all:
        w.rule(chain, f"ip daddr {p.svc.cluster_ip} {p.proto} dport {p.port.port} jump {MARK_MASQ}")
    elif opts.cluster_cidr:
        w.rule(chain, f"ip daddr {p.svc.cluster_ip} ip saddr != {opts.cluster_cidr} jump {MARK_MASQ}")


def _endpoint_rules(w, p, chain, eps, affinity):
    """``writeServiceToEndpointRules``: affinity lookups, then one equal-weight random pick."""
    if affinity:
        for e in eps:
            b = _endpoint_base(p, e)
            w.rule(chain, f"ip saddr @{AFFINITY}{b} goto {ENDPOINT}{b}")
    picks = " , ".join(f"{i} : goto {ENDPOINT}{_endpoint_base(p, e)}" for i, e in enumerate(eps))
    w.rule(chain, f"numgen random mod {len(eps)} vmap {{ {picks} }}")


def _external_rules(w, p, c, opts, policy_chain):
    if not p.etp_local:
        w.rule(c.external, f"jump {MARK_MASQ}")  # the endpoint may be on another node
    else:
        if opts.cluster_cidr:
            w.rule(c.external, f"ip saddr {opts.cluster_cidr} goto {c.service}", "short-circuit pod traffic")
        w.rule(c.external, f"fib saddr type local jump {MARK_MASQ}", "masquerade local traffic")
        w.rule(c.external, f"fib saddr type local goto {c.service}", "short-circuit local traffic")
    if policy_chain:
        w.rule(c.external, f"goto {policy_chain}")


def _elements(w, p, c, internal_chain, has_internal, has_external, uses_firewall, verdict):
    key = lambda ip: f"{ip} . {p.proto} . {p.port.port}"  # noqa: E731
    w.element("cluster-ips", str(p.svc.cluster_ip))
    if has_internal:
        w.element("service-ips", key(p.svc.cluster_ip), f"goto {internal_chain}")
    else:
        w.element("no-endpoint-services", key(p.svc.cluster_ip), verdict, comment=p.name)
    for eip in p.svc.external_ips:
        if p.has_endpoints:
            w.element("service-ips", key(eip), f"goto {c.external}")
        if not has_external:
            w.element("no-endpoint-services", key(eip), verdict, comment=p.name)
    for lb_ip in p.lb_ips:
        if p.has_endpoints:
            w.element("service-ips", key(lb_ip), f"goto {c.external}")
        if uses_firewall:
            w.element("firewall-ips", key(lb_ip), f"goto {c.firewall}")
    if not has_external:
        for lb_ip in p.lb_ips:
            w.element("no-endpoint-services", key(lb_ip), verdict, comment=p.name)
    if p.port.node_port:  # nodeports are not subject to loadBalancerSourceRanges
        np_key = f"{p.proto} . {p.port.node_port}"
        if p.has_endpoints:
            w.element("service-nodeports", np_key, f"goto {c.external}")
        if not has_external:
            w.element("no-endpoint-nodeports", np_key, verdict, comment=p.name)


# transactions ----------------------------------------------------------------------------------

_LINE = re.compile(r"^add (table|set|map|chain|rule|element) ip kube-proxy ?(\S*)")


@dataclass
class Parsed:
    """A definition's commands: {name: command} for sets, maps and chains, and the rules and
    elements (``body``), each in order."""

    table: str = ""
    sets: dict = field(default_factory=dict)
    maps: dict = field(default_factory=dict)
    chains: dict = field(default_factory=dict)
    body: list = field(default_factory=list)


def parse(text):
    out = Parsed()
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        kind, name = m.groups()
        if kind == "table":
            out.table = line
        elif kind in ("set", "map", "chain"):
            getattr(out, kind + "s")[name] = line
        else:
            out.body.append(line)
    return out


def transaction(current, previous=None):
    """The ``nft -f`` input that takes the table from ``previous`` (the definition loaded by the
    last successful sync; None: unknown) to ``current``.

    Without a previous sync the table is recreated from scratch: ``add table`` (so that the
    ``delete`` cannot fail), ``delete table``, then the definition. Otherwise kube-proxy's full
    sync: every chain, set and map added (a no-op if present) and flushed, affinity sets added
    and kept (an affinity set whose definition changed is deleted and made again), stale service
    chains and sets flushed and deleted, then every rule and element."""
    if previous is None:
        return f"add table {TABLE}\ndelete table {TABLE}\n" + current
    cur, old = parse(current), parse(previous)
    out = [cur.table]
    for name, line in cur.chains.items():
        out += [line, f"flush chain {TABLE} {name}"]
    stale_chains = [c for c in old.chains if c not in cur.chains]
    out += [f"flush chain {TABLE} {c}" for c in stale_chains]
    stale_sets = [s for s in old.sets if s not in cur.sets]
    for name, line in cur.sets.items():
        if name.startswith(AFFINITY):
            if name in old.sets and old.sets[name] != line:
                out.append(f"delete set {TABLE} {name}")
            out.append(line)
        else:
            out += [line, f"flush set {TABLE} {name}"]
    for name, line in cur.maps.items():
        out += [line, f"flush map {TABLE} {name}"]
    out += [f"delete chain {TABLE} {c}" for c in stale_chains]
    out += [f"delete set {TABLE} {s}" for s in stale_sets]
    out += [f"delete map {TABLE} {m}" for m in old.maps if m not in cur.maps]
    out += cur.body
    return "\n".join(out) + "\n"
