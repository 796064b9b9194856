"""kube-proxy's iptables mode: the ``iptables-restore`` input it writes for one node.

Pure functions of the cluster state. Two rule layouts, chosen by the kube-proxy profile:

- ``1.18``: the layout of kube-proxy v1.18 (the seed's cluster): port names with a trailing
  colon, NodePort rules jumping to KUBE-MARK-MASQ then KUBE-SVC, the ClusterIP masquerade
  rule in KUBE-SERVICES, a KUBE-FW chain behind every LoadBalancer IP.
- ``current``: the layout of recent releases (KUBE-EXT / KUBE-SVL chains, masquerade rules
  inside the service chain, ``"N -> IP:port"`` comments, KUBE-PROXY-FIREWALL, KUBE-FIREWALL,
  KUBE-FW only for loadBalancerSourceRanges, health check node port ACCEPTs).

Services are visited in (namespace, name, port) order; real kube-proxy walks a Go map, whose
order is random, and only the order within each chain is significant.
"""

from lab.proxy import names
from lab.proxy.options import options_for
from lab.proxy.serviceports import allows_node, health_check_node_port, service_ports, source_ranges

NODEPORTS_COMMENT = '"kubernetes service nodeports; NOTE: this must be the last rule in this chain"'


# the jump rules kube-proxy ensures in the built-in chains (``iptablesJumpChains``), in the
# order it inserts them, each at position 1 (so they end up in reverse order)
_JUMPS_CURRENT = (
    ("filter", "INPUT", "KUBE-EXTERNAL-SERVICES", "kubernetes externally-visible service portals", True),
    ("filter", "FORWARD", "KUBE-EXTERNAL-SERVICES", "kubernetes externally-visible service portals", True),
    ("filter", "INPUT", "KUBE-NODEPORTS", "kubernetes health check service ports", False),
    ("filter", "FORWARD", "KUBE-SERVICES", "kubernetes service portals", True),
    ("filter", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals", True),
    ("filter", "FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules", False),
    ("filter", "INPUT", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", True),
    ("filter", "OUTPUT", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", True),
    ("filter", "FORWARD", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", True),
    ("nat", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals", False),
    ("nat", "PREROUTING", "KUBE-SERVICES", "kubernetes service portals", False),
    ("nat", "POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules", False),
    ("filter", "INPUT", "KUBE-FIREWALL", None, False),
    ("filter", "OUTPUT", "KUBE-FIREWALL", None, False),
)
_JUMPS_1_18 = (
    ("filter", "INPUT", "KUBE-EXTERNAL-SERVICES", "kubernetes externally-visible service portals", True),
    ("filter", "FORWARD", "KUBE-SERVICES", "kubernetes service portals", True),
    ("filter", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals", True),
    ("filter", "INPUT", "KUBE-SERVICES", "kubernetes service portals", True),
    ("filter", "FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules", False),
    ("nat", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals", False),
    ("nat", "PREROUTING", "KUBE-SERVICES", "kubernetes service portals", False),
    ("nat", "POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules", False),
)
CANARY = "KUBE-PROXY-CANARY"


def jump_rules(profile):
    """(table, built-in chain, target chain, rule args) for each jump, in kube-proxy's insert order."""
    out = []
    for table, src, dst, comment, new_only in (_JUMPS_1_18 if profile.legacy_layout else _JUMPS_CURRENT):
        args = []
        if new_only:
            args += ["-m", "conntrack", "--ctstate", "NEW"]
        if comment:
            args += ["-m", "comment", "--comment", f'"{comment}"']
        out.append((table, src, dst, " ".join(args + ["-j", dst])))
    return out


# kubelet (v1.18) owns KUBE-MARK-DROP, which kube-proxy 1.18 jumps to, and the filter
# KUBE-FIREWALL chain; newer kube-proxy writes its own KUBE-FIREWALL and never drops by mark.
_KUBELET_1_18 = {
    "nat": (("KUBE-MARK-DROP", "-j MARK --or-mark 0x00008000"),),
    "filter": (
        ("KUBE-FIREWALL", '-m comment --comment "kubernetes firewall for dropping marked packets" '
                          "-m mark --mark 0x00008000/0x00008000 -j DROP"),
        ("KUBE-FIREWALL", '-m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 '
                          "! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"),
    ),
}
_KUBELET_1_18_JUMPS = (("filter", "INPUT", "KUBE-FIREWALL", "-j KUBE-FIREWALL"),
                       ("filter", "OUTPUT", "KUBE-FIREWALL", "-j KUBE-FIREWALL"))


def render_bootstrap(profile, localhost_node_ports=True):
    """Restore input that creates the chains and jump rules of a node that kubelet and
    kube-proxy have just started on, in a fresh network namespace.

    kube-proxy does this with ``iptables -N`` / ``-C`` / ``-I … 1`` calls at every full sync; the
    effect on an empty namespace is the same. Its own KUBE-FIREWALL jumps come only with
    localhost NodePorts (the chain guards them).
    """
    jumps = [j for j in jump_rules(profile) if localhost_node_ports or j[2] != "KUBE-FIREWALL"]
    kubelet = _KUBELET_1_18 if profile.legacy_layout else {}
    if profile.legacy_layout:
        jumps += _KUBELET_1_18_JUMPS
    lines = []
    for table in ("mangle", "filter", "nat"):
        lines.append(f"*{table}")
        chains = {CANARY} | {dst for t, _, dst, _ in jumps if t == table}
        chains |= {chain for chain, _ in kubelet.get(table, ())}
        lines += [f":{c} - [0:0]" for c in sorted(chains)]
        lines += [f"-A {chain} {args}" for chain, args in kubelet.get(table, ())]
        lines += [f"-I {src} 1 {args}" for t, src, _, args in jumps if t == table]
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"


class _Writer:
    """kube-proxy's four line buffers: filter chains, filter rules, nat chains, nat rules."""

    def __init__(self):
        self.chains = {"filter": {}, "nat": {}}  # ordered sets: chains in the order first declared
        self.rules = {"filter": [], "nat": []}

    def chain(self, table, name):
        self.chains[table].setdefault(name, None)

    def rule(self, table, chain, *args):
        self.rules[table].append(" ".join(("-A", chain) + tuple(a for a in args if a)))

    def text(self):
        out = []
        for table in ("filter", "nat"):
            out.append(f"*{table}")
            out += [f":{c} - [0:0]" for c in self.chains[table]]
            out += self.rules[table]
            out.append("COMMIT")
        return "\n".join(out) + "\n"


def _q(text):
    return f'"{text}"'


def probability(n):
    """kube-proxy's ``computeProbability``: 1/n with 10 decimals."""
    return f"{1.0 / n:0.10f}"


def render(cluster, node_name):
    """The restore input kube-proxy on ``node_name`` feeds to ``iptables-restore --noflush``."""
    opts = options_for(cluster, node_name)
    return render_ports(service_ports(cluster, opts), opts)


def render_ports(ports, opts):
    w = _Writer()
    if opts.profile.legacy_layout:
        _static_chains_legacy(w)
        _postrouting(w, opts)
        for p in ports:
            _service_legacy(w, p, opts)
        _static_rules_legacy(w, opts)
    else:
        _static_current(w, opts)
        for p in ports:
            _service_current(w, p, opts)
        _nodeports_tail(w, opts)
    return w.text()


def _nodeports_tail(w, opts):
    """The last rule of KUBE-SERVICES: NodePorts on every local address, or only on the chosen ones."""
    if opts.node_port_addresses:
        for ip in opts.node_port_addresses:
            w.rule("nat", "KUBE-SERVICES", "-m comment --comment", NODEPORTS_COMMENT, f"-d {ip} -j KUBE-NODEPORTS")
    else:
        loopback = "" if opts.localhost_node_ports else "! -d 127.0.0.0/8"
        w.rule("nat", "KUBE-SERVICES", "-m comment --comment", NODEPORTS_COMMENT, "-m addrtype --dst-type LOCAL",
               loopback, "-j KUBE-NODEPORTS")


def _host(ip, opts):
    return f"{ip}/32" if opts.profile.host_cidrs else str(ip)


def _cluster_ip_match(p, opts):
    return (f"-m comment --comment {_q(p.name + ' cluster IP')} -m {p.proto} -p {p.proto} "
            f"-d {_host(p.svc.cluster_ip, opts)} --dport {p.port.port}")


def _fw_source_rules(w, opts, fw, comment, target, ranges, lb_ips):
    """The FW chain's allow rules: one ``-s <range>`` per range, then ``-s <LB IP>`` if the node is in a range."""
    for cidr in ranges:
        w.rule("nat", fw, comment, f"-s {cidr} -j {target}")
    if allows_node(ranges, opts):
        for ip in lb_ips:
            w.rule("nat", fw, comment, f"-s {_host(ip, opts)} -j {target}")


def _masq_rule(opts):
    rule = f"-A KUBE-POSTROUTING -m comment --comment {_q('kubernetes service traffic requiring SNAT')} -j MASQUERADE"
    return rule + (" --random-fully" if opts.random_fully else "")


def _postrouting(w, opts):
    w.rule("nat", "KUBE-POSTROUTING", f"-m mark ! --mark {opts.mark_with_mask} -j RETURN")
    w.rule("nat", "KUBE-POSTROUTING", f"-j MARK --xor-mark {opts.mark}")
    w.rules["nat"].append(_masq_rule(opts))
    w.rule("nat", "KUBE-MARK-MASQ", f"-j MARK --or-mark {opts.mark}")


def _affinity_rules(w, p, chain, eps, comment):
    """ClientIP affinity: a client seen recently goes back to the same endpoint (checked first)."""
    if p.svc.session_affinity != "ClientIP":
        return
    for e in eps:
        sep = names.endpoint_chain(p.name, p.proto, e.address)
        w.rule("nat", chain, "-m comment --comment", comment(e),
               f"-m recent --name {sep} --rcheck --seconds {p.svc.affinity_timeout} --reap -j {sep}")


def _balance_rule(w, p, chain, eps, i, comment):
    """Rule ``i`` of the random split: probability 1/(n-i), the last one unconditional."""
    n = len(eps)
    sep = names.endpoint_chain(p.name, p.proto, eps[i].address)
    stat = f"-m statistic --mode random --probability {probability(n - i)}" if i < n - 1 else ""
    w.rule("nat", chain, "-m comment --comment", comment, stat, f"-j {sep}")


def _endpoint_rules(w, p, chain, eps, opts):
    """``writeServiceToEndpointRules``: affinity checks, then the random split."""
    comment = (lambda e: _q(f"{p.name} -> {e.address}")) if opts.profile.endpoint_comments else (lambda e: p.name)
    _affinity_rules(w, p, chain, eps, comment)
    for i, e in enumerate(eps):
        _balance_rule(w, p, chain, eps, i, comment(e))


def _sep_rules(w, p, e, opts):
    sep = names.endpoint_chain(p.name, p.proto, e.address)
    w.chain("nat", sep)
    w.rule("nat", sep, "-m comment --comment", p.name, f"-s {_host(e.ip, opts)} -j KUBE-MARK-MASQ")
    recent = f"-m recent --name {sep} --set" if p.svc.session_affinity == "ClientIP" else ""
    w.rule("nat", sep, "-m comment --comment", p.name, recent,
           f"-m {p.proto} -p {p.proto} -j DNAT --to-destination {e.address}")


# current layout -------------------------------------------------------------------------------

def _static_current(w, opts):
    firewall = ("KUBE-FIREWALL",) if opts.localhost_node_ports else ()  # only with localhost NodePorts
    for c in ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS",
              "KUBE-PROXY-FIREWALL") + firewall:
        w.chain("filter", c)
    for c in ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"):
        w.chain("nat", c)
    if opts.localhost_node_ports:
        w.rule("filter", "KUBE-FIREWALL", "-m comment --comment", _q("block incoming localnet connections"),
               "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP")
    counter = "-m nfacct --nfacct-name ct_state_invalid_dropped_pkts" if opts.nfacct else ""
    w.rule("filter", "KUBE-FORWARD", "-m conntrack --ctstate INVALID", counter, "-j DROP")
    w.rule("filter", "KUBE-FORWARD", "-m comment --comment", _q("kubernetes forwarding rules"),
           f"-m mark --mark {opts.mark_with_mask} -j ACCEPT")
    w.rule("filter", "KUBE-FORWARD", "-m comment --comment", _q("kubernetes forwarding conntrack rule"),
           "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    _postrouting(w, opts)


def _no_endpoints(w, p, chain, match, local):
    reason, verdict = ("has no local endpoints", "DROP") if local else ("has no endpoints", "REJECT")
    w.rule("filter", chain, "-m comment --comment", _q(f"{p.name} {reason}"), match, f"-j {verdict}")


def _service_current(w, p, opts):
    c = p.chains
    uses_cluster = p.svc.internal_traffic_policy != "Local" or p.externally_accessible
    uses_local = p.itp_local or p.etp_local
    cluster_eps = p.cluster_eps if uses_cluster else ()
    local_eps = p.local_eps if uses_local else ()
    internal_chain, has_internal = (c["SVL"], bool(local_eps)) if p.itp_local else (c["SVC"], p.has_endpoints)
    has_external = bool(local_eps) if p.etp_local else p.has_endpoints
    proto = f"-m {p.proto} -p {p.proto}"

    if has_internal:
        match = _cluster_ip_match(p, opts)
        if opts.masquerade_all:
            w.rule("nat", internal_chain, match, "-j KUBE-MARK-MASQ")
        elif opts.if_not_local:
            w.rule("nat", internal_chain, match, f"{opts.if_not_local} -j KUBE-MARK-MASQ")
        w.rule("nat", "KUBE-SERVICES", match, f"-j {internal_chain}")
    else:
        _no_endpoints(w, p, "KUBE-SERVICES", f"{proto} -d {_host(p.svc.cluster_ip, opts)} --dport {p.port.port}",
                      local=p.has_endpoints)
    for eip in p.svc.external_ips:
        if p.has_endpoints:
            w.rule("nat", "KUBE-SERVICES", "-m comment --comment", _q(f"{p.name} external IP"),
                   f"{proto} -d {_host(eip, opts)} --dport {p.port.port} -j {c['EXT']}")
        if not has_external:
            _no_endpoints(w, p, "KUBE-EXTERNAL-SERVICES", f"{proto} -d {_host(eip, opts)} --dport {p.port.port}",
                          local=p.has_endpoints)
    uses_fw = p.has_endpoints and bool(p.lb_ips) and bool(source_ranges(p, opts))
    _lb_ips_current(w, p, opts, uses_fw, has_external)
    if p.port.node_port:
        if p.has_endpoints:
            if opts.nfacct and opts.localhost_node_ports and not opts.node_port_addresses:
                w.rule("nat", "KUBE-NODEPORTS", "-m comment --comment", p.name,
                       f"{proto} -d 127.0.0.0/8 --dport {p.port.node_port} "
                       f"-m nfacct --nfacct-name localhost_nps_accepted_pkts -j {c['EXT']}")
            w.rule("nat", "KUBE-NODEPORTS", "-m comment --comment", p.name,
                   f"{proto} --dport {p.port.node_port} -j {c['EXT']}")
        if not has_external:
            _no_endpoints(w, p, "KUBE-EXTERNAL-SERVICES",
                          f"-m addrtype --dst-type LOCAL {proto} --dport {p.port.node_port}", local=p.has_endpoints)
    hcnp = health_check_node_port(p.svc)
    if hcnp:  # written whether or not this node has local endpoints
        w.rule("filter", "KUBE-NODEPORTS", "-m comment --comment", _q(f"{p.name} health check node port"),
               f"-m tcp -p tcp --dport {hcnp} -j ACCEPT")
    if not p.has_endpoints:
        return

    uses_svc = bool(cluster_eps)
    uses_svl = bool(local_eps)
    if uses_svc:
        w.chain("nat", c["SVC"])
    if uses_svl:
        w.chain("nat", c["SVL"])
    if p.externally_accessible:
        w.chain("nat", c["EXT"])
        _ext_chain(w, p, opts, uses_svl)
    if uses_fw:
        w.chain("nat", c["FW"])
        _fw_chain(w, p, opts)
    if has_internal and internal_chain not in w.chains["nat"]:
        w.chain("nat", internal_chain)
    if uses_svc:
        _endpoint_rules(w, p, c["SVC"], cluster_eps, opts)
    if uses_svl:
        _endpoint_rules(w, p, c["SVL"], local_eps, opts)
    for e in sorted(set(cluster_eps) | set(local_eps), key=lambda e: e.address):
        _sep_rules(w, p, e, opts)


def _lb_ips_current(w, p, opts, uses_fw, has_external):
    """Step 3: each LB IP jumps to EXT (or to FW with source ranges, whose leftovers the filter
    KUBE-PROXY-FIREWALL drops); without usable endpoints the filter table rejects or drops."""
    c = p.chains
    proto = f"-m {p.proto} -p {p.proto}"
    for lb_ip in p.lb_ips:
        match = f"{proto} -d {_host(lb_ip, opts)} --dport {p.port.port}"
        if p.has_endpoints:
            w.rule("nat", "KUBE-SERVICES", "-m comment --comment", _q(f"{p.name} loadbalancer IP"), match,
                   f"-j {c['FW'] if uses_fw else c['EXT']}")
        if uses_fw:
            w.rule("filter", "KUBE-PROXY-FIREWALL", "-m comment --comment",
                   _q(f"{p.name} traffic not accepted by {c['FW']}"), match, "-j DROP")
    if not has_external:  # after all the LB IPs' nat rules, as kube-proxy writes them
        for lb_ip in p.lb_ips:
            _no_endpoints(w, p, "KUBE-EXTERNAL-SERVICES", f"{proto} -d {_host(lb_ip, opts)} --dport {p.port.port}",
                          local=p.has_endpoints)


def _ext_chain(w, p, opts, has_local):
    c = p.chains
    if not p.etp_local:
        w.rule("nat", c["EXT"], "-m comment --comment", _q(f"masquerade traffic for {p.name} external destinations"),
               "-j KUBE-MARK-MASQ")
        w.rule("nat", c["EXT"], f"-j {c['SVC']}")
        return
    if opts.if_local:
        w.rule("nat", c["EXT"], "-m comment --comment", _q(f"pod traffic for {p.name} external destinations"),
               f"{opts.if_local} -j {c['SVC']}")
    w.rule("nat", c["EXT"], "-m comment --comment", _q(f"masquerade LOCAL traffic for {p.name} external destinations"),
           "-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ")
    w.rule("nat", c["EXT"], "-m comment --comment", _q(f"route LOCAL traffic for {p.name} external destinations"),
           f"-m addrtype --src-type LOCAL -j {c['SVC']}")
    if has_local:
        w.rule("nat", c["EXT"], f"-j {c['SVL']}")


def _fw_chain(w, p, opts):
    """loadBalancerSourceRanges: allowed sources go on to EXT; the rest falls off the end of the
    chain without DNAT and is dropped by the KUBE-PROXY-FIREWALL rule for the LB IP."""
    fw = p.chains["FW"]
    comment = f"-m comment --comment {_q(p.name + ' loadbalancer IP')}"
    _fw_source_rules(w, opts, fw, comment, p.chains["EXT"], source_ranges(p, opts), p.lb_ips)
    w.rule("nat", fw, "-m comment --comment", _q(f"other traffic to {p.name} will be dropped by KUBE-PROXY-FIREWALL"))


# 1.18 layout ----------------------------------------------------------------------------------

def _static_chains_legacy(w):
    for c in ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD"):
        w.chain("filter", c)
    for c in ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"):
        w.chain("nat", c)


def _static_rules_legacy(w, opts):
    w.rule("nat", "KUBE-SERVICES", "-m comment --comment", NODEPORTS_COMMENT,
           "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
    w.rule("filter", "KUBE-FORWARD", "-m conntrack --ctstate INVALID -j DROP")
    w.rule("filter", "KUBE-FORWARD", "-m comment --comment", _q("kubernetes forwarding rules"),
           f"-m mark --mark {opts.mark_with_mask} -j ACCEPT")
    for end in ("source", "destination"):
        w.rule("filter", "KUBE-FORWARD", "-m comment --comment", _q(f"kubernetes forwarding conntrack pod {end} rule"),
               "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")


def _service_legacy(w, p, opts):
    c = p.chains
    svc_chain, xlb_chain = c["SVC"], c["XLB"]
    only_local = p.etp_local
    eps = p.cluster_eps
    has_endpoints = bool(eps)
    proto = f"-m {p.proto} -p {p.proto}"
    if has_endpoints:
        w.chain("nat", svc_chain)
    if only_local:
        w.chain("nat", xlb_chain)

    if has_endpoints:
        match = _cluster_ip_match(p, opts)
        if opts.masquerade_all:
            w.rule("nat", "KUBE-SERVICES", match, "-j KUBE-MARK-MASQ")
        elif opts.if_not_local:
            w.rule("nat", "KUBE-SERVICES", match, f"{opts.if_not_local} -j KUBE-MARK-MASQ")
        w.rule("nat", "KUBE-SERVICES", match, f"-j {svc_chain}")
    else:
        w.rule("filter", "KUBE-SERVICES", "-m comment --comment", _q(f"{p.name} has no endpoints"),
               f"{proto} -d {p.svc.cluster_ip}/32 --dport {p.port.port} -j REJECT")
    for eip in p.svc.external_ips:
        match = (f"-m comment --comment {_q(p.name + ' external IP')} {proto} -d {eip}/32 --dport {p.port.port}")
        if has_endpoints:
            w.rule("nat", "KUBE-SERVICES", match, "-j KUBE-MARK-MASQ")
            w.rule("nat", "KUBE-SERVICES", match, f"-m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j {svc_chain}")
            w.rule("nat", "KUBE-SERVICES", match, f"-m addrtype --dst-type LOCAL -j {svc_chain}")
        else:
            w.rule("filter", "KUBE-EXTERNAL-SERVICES", "-m comment --comment", _q(f"{p.name} has no endpoints"),
                   f"{proto} -d {eip}/32 --dport {p.port.port} -j REJECT")
    for lb_ip in p.lb_ips:
        if has_endpoints:
            w.chain("nat", c["FW"])
            w.rule("nat", "KUBE-SERVICES", "-m comment --comment", _q(f"{p.name} loadbalancer IP"),
                   f"{proto} -d {lb_ip}/32 --dport {p.port.port} -j {c['FW']}")
            _fw_chain_legacy(w, p, opts, lb_ip)
        else:
            w.rule("filter", "KUBE-SERVICES", "-m comment --comment", _q(f"{p.name} has no endpoints"),
                   f"{proto} -d {lb_ip}/32 --dport {p.port.port} -j REJECT")
    if p.port.node_port:
        if has_endpoints:
            match = f"-m comment --comment {p.name} {proto} --dport {p.port.node_port}"
            if not only_local:
                w.rule("nat", "KUBE-NODEPORTS", match, "-j KUBE-MARK-MASQ")
                w.rule("nat", "KUBE-NODEPORTS", match, f"-j {svc_chain}")
            else:
                w.rule("nat", "KUBE-NODEPORTS", match, "-s 127.0.0.0/8 -j KUBE-MARK-MASQ")
                w.rule("nat", "KUBE-NODEPORTS", match, f"-j {xlb_chain}")
        else:
            w.rule("filter", "KUBE-EXTERNAL-SERVICES", "-m comment --comment", _q(f"{p.name} has no endpoints"),
                   f"-m addrtype --dst-type LOCAL {proto} --dport {p.port.node_port} -j REJECT")
    if not has_endpoints:
        return

    for e in eps:
        w.chain("nat", names.endpoint_chain(p.name, p.proto, e.address))
    _affinity_rules(w, p, svc_chain, eps, lambda e: p.name)
    for i, e in enumerate(eps):  # 1.18 writes each endpoint's split rule, then its chain
        _balance_rule(w, p, svc_chain, eps, i, p.name)
        _sep_rules(w, p, e, opts)
    if only_local:
        _xlb_chain(w, p, opts, eps)


def _fw_chain_legacy(w, p, opts, lb_ip):
    """1.18's KUBE-FW, written again for every LB IP: masquerade (ETP=Cluster), the allowed sources
    on to SVC (or XLB for ETP=Local), then whatever is left is marked for kubelet's drop rule."""
    fw = p.chains["FW"]
    comment = f"-m comment --comment {_q(p.name + ' loadbalancer IP')}"
    target = p.chains["XLB"] if p.etp_local else p.chains["SVC"]
    if not p.etp_local:
        w.rule("nat", fw, comment, "-j KUBE-MARK-MASQ")
    ranges = source_ranges(p, opts)
    if ranges:
        _fw_source_rules(w, opts, fw, comment, target, ranges, (lb_ip,))
    else:
        w.rule("nat", fw, comment, f"-j {target}")
    w.rule("nat", fw, comment, "-j KUBE-MARK-DROP")


def _xlb_chain(w, p, opts, eps):
    c = p.chains
    xlb = c["XLB"]
    if opts.if_local:
        w.rule("nat", xlb, "-m comment --comment",
               _q("Redirect pods trying to reach external loadbalancer VIP to clusterIP"), f"{opts.if_local} -j {c['SVC']}")
    w.rule("nat", xlb, "-m comment --comment", _q(f"masquerade LOCAL traffic for {p.name} LB IP"),
           "-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ")
    w.rule("nat", xlb, "-m comment --comment", _q(f"route LOCAL traffic for {p.name} LB IP to service chain"),
           f"-m addrtype --src-type LOCAL -j {c['SVC']}")
    local = [e for e in eps if e.node == opts.node]
    if not local:
        w.rule("nat", xlb, "-m comment --comment", _q(f"{p.name} has no local endpoints"), "-j KUBE-MARK-DROP")
        return
    _affinity_rules(w, p, xlb, local, lambda e: p.name)
    for i in range(len(local)):
        _balance_rule(w, p, xlb, local, i, _q(f"Balancing rule {i} for {p.name}"))
