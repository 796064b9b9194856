"""``lab explain``: a service's or a pod's networking, in words and in the node's real rules. Pure.

For a service, every way in (its ClusterIP, each node's NodePort, external and load-balancer
IPs) is walked through the rules a node really has (parsed by lab.explain_rules), the way the
first packet of a new connection would go: base chain, KUBE-SERVICES, KUBE-SVC, KUBE-SEP, DNAT.
What depends on the unknown source (masquerade marks, hairpin, traffic policies, session
affinity) and on chance (``-m statistic``, ``numgen``) becomes branches said in words; hashed
chain names are named after their service and pod. The cluster state only names things: the
path itself is whatever the node's rules say, so a rule a student deleted is simply not there.
"""

import ipaddress
from dataclasses import dataclass, field, replace
from fractions import Fraction

from lab import trace
from lab.explain_rules import FINAL, MASQ_CHAINS, Packet, outcomes
from lab.proxy import iptables as proxy_iptables
from lab.proxy import names

MAX_DEPTH = 24
DROP_CHAINS = ("KUBE-MARK-DROP",)
CHAIN_ROLES = {
    "SVC": "the service port's chain: picks one endpoint per new connection",
    "SVL": "the service port's local endpoints only (traffic policy Local)",
    "EXT": "traffic from outside the service's ClusterIP (NodePort, external or load-balancer IP)",
    "FW": "the load-balancer IP's source ranges (loadBalancerSourceRanges)",
    "XLB": "external traffic under externalTrafficPolicy Local (kube-proxy 1.18)",
    "SEP": "one endpoint: DNAT to it",
}


# the walk ------------------------------------------------------------------------------------

@dataclass
class Step:
    rule: object  # explain_rules.Rule
    outcome: object  # explain_rules.Outcome
    share: Fraction = None  # of the new connections that reach this chain
    share_text: str = None
    otherwise: bool = False  # an earlier rule of the chain took the packets its conditions matched
    child: object = None  # Visit of the chain jumped to
    group: int = 0  # steps of one rule (nft numgen) share a group number

    @property
    def conds(self):
        return [c.text for c in self.outcome.conds if c.kind != "probability"]

    @property
    def probability(self):
        p = Fraction(1)
        found = False
        for c in self.outcome.conds:
            if c.kind == "probability":
                p, found = p * c.probability, True
        return p if found else None

    @property
    def numgen(self):
        return any(c.kind == "probability" and c.text.startswith("numgen") for c in self.outcome.conds)

    @property
    def is_masq(self):
        return self.outcome.verdict in ("jump", "goto") and self.outcome.target in MASQ_CHAINS

    @property
    def kind(self):
        v = self.outcome.verdict
        if self.is_masq or v in ("MARK", "note") or (v == "jump" and self.outcome.target in DROP_CHAINS):
            return "other"
        if v in FINAL:
            return "final"
        if v == "RETURN":
            return "return"
        if v in ("jump", "goto"):
            return v
        return "other"


@dataclass
class Visit:
    table: str
    chain: str
    steps: list = field(default_factory=list)
    missing: bool = False
    loop: bool = False


def walk(rs, table, chain, pkt, context, stack=(), prune=False):
    """The rules of ``chain`` that can match ``pkt``, in order, with the chains they jump to
    walked in turn. With ``prune``, jumps into chains where nothing matched are left out."""
    visit = Visit(table, chain)
    rules = rs.rules(table, chain)
    if rules is None:
        visit.missing = True
        return visit
    if (table, chain) in stack or len(stack) > MAX_DEPTH:
        visit.loop = True
        return visit
    remaining, had_stat, otherwise = Fraction(1), False, False
    for group, rule in enumerate(rules):
        found = outcomes(rule, pkt, rs, context)
        for oc in found:
            step = Step(rule, oc, group=group, otherwise=otherwise)
            p = step.probability
            if step.numgen:
                step.share = p
                step.share_text = f"{_frac(p)} of new connections"
            elif p is not None:
                step.share = remaining * p
                step.share_text = (f"{_frac(p)} of the rest = {_frac(step.share)}" if had_stat
                                   else f"{_frac(p)} of new connections")
            elif had_stat and not step.conds and step.kind in ("jump", "goto", "final"):
                step.share = remaining
                step.share_text = f"the rest = {_frac(remaining)}"
            if step.kind in ("jump", "goto") and oc.target:
                step.child = walk(rs, table, oc.target, pkt, context, stack + ((table, chain),), prune)
                if prune and not step.child.steps and not step.child.missing:
                    continue
            visit.steps.append(step)
        if not found:
            continue
        steps = [s for s in visit.steps if s.group == group]
        if any(s.numgen for s in steps) and not any(s.conds for s in steps):
            break
        if len(found) != 1 or not steps:
            continue
        step = steps[0]
        if step.probability is not None:
            remaining *= 1 - step.probability
            had_stat = True
            continue
        if step.conds:
            if _stops(step):
                otherwise = True
            continue
        if _stops(step):
            break
    return visit


def _stops(step):
    """True when a matching packet never comes back to the rule after this one."""
    kind = step.kind
    if kind in ("final", "return", "goto"):
        return True
    if kind == "jump":
        return step.child is None or step.child.missing or _always_leaves(step.child)
    return False


def _always_leaves(visit):
    """The visit ends every packet (DNAT, REJECT, ...) rather than returning it to the caller."""
    _, live = flow(visit, [State()])
    return not live


def _frac(f):
    return "1" if f == 1 else f"{f.numerator}/{f.denominator}"


# paths ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class State:
    conds: tuple = ()
    share: Fraction = Fraction(1)
    otherwise: bool = False
    masq: tuple = ()  # when the path was marked for masquerade ("always" or the conditions)


@dataclass(frozen=True)
class Leaf:
    state: State
    step: Step  # the rule that decided (DNAT, REJECT, ...), None when no rule did


def _groups(steps):
    out = []
    for s in steps:
        if out and out[-1][0].group == s.group:
            out[-1].append(s)
        else:
            out.append([s])
    return out


def flow(visit, states):
    """Where packets in ``states`` end after ``visit``: (leaves, states that come back out)."""
    leaves, back = [], []
    live = list(states)
    for group in _groups(visit.steps):
        nxt = []
        for st in live:
            rest = st
            for step in group:
                if rest is None:
                    break
                p = step.probability
                share = (st.share * p) if step.numgen else (rest.share * p if p is not None else rest.share)
                matched = replace(rest, conds=rest.conds + tuple(step.conds), share=share)
                if step.is_masq:
                    rest = replace(rest, masq=rest.masq + (" and ".join(step.conds) or "always",))
                    continue
                kind = step.kind
                if kind == "other":
                    continue
                if kind in ("jump", "goto") and step.child is not None and not step.child.missing:
                    child_leaves, child_back = flow(step.child, [matched])
                    leaves += child_leaves
                    (nxt if kind == "jump" else back).extend(child_back)
                elif kind in ("final", "jump", "goto"):
                    leaves.append(Leaf(matched, step))
                elif kind == "return":
                    back.append(matched)
                if step.numgen:
                    continue
                if p is not None:
                    rest = replace(rest, share=rest.share * (1 - p))
                elif step.conds:
                    # packets that met these conditions were taken: their masquerade is not the rest's
                    taken = " and ".join(step.conds)
                    rest = replace(rest, otherwise=True, masq=tuple(m for m in rest.masq if m != taken))
                else:
                    rest = None
            if rest is not None and not (group[0].numgen and not any(s.conds for s in group)):
                nxt.append(rest)
        live = nxt
    return leaves, back + live


# entry points --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    kind: str  # ClusterIP, NodePort, external IP, LoadBalancer IP
    ip: str
    port: int
    protocol: str  # TCP, UDP
    port_name: str


def entries(svc, node):
    """The ways into a service that the rules of ``node`` handle."""
    out = []
    for p in svc.ports:
        if svc.cluster_ip not in (None, "None"):
            out.append(Entry("ClusterIP", svc.cluster_ip, p.port, p.protocol, p.name))
        if p.node_port:
            out.append(Entry("NodePort", str(node.ip), p.node_port, p.protocol, p.name))
        out += [Entry("external IP", ip, p.port, p.protocol, p.name) for ip in svc.external_ips]
        out += [Entry("LoadBalancer IP", ip, p.port, p.protocol, p.name) for ip in svc.lb_ips]
    return out


@dataclass
class Stage:
    hook: str
    table: str
    chain: str
    label: str
    visit: Visit
    ctype: str = "nat"  # the base chain's type: nat or filter


def stages(rs, entry, local_addresses, context):
    """The base chains the first packet of a connection to ``entry`` passes, walked in order."""
    dst = ipaddress.IPv4Address(entry.ip)
    local = any(dst in ipaddress.ip_network(a, strict=False) for a in local_addresses) or dst.is_loopback
    pkt = Packet(dst, entry.protocol.lower(), entry.port, local)
    out, dnat_all, marked = [], False, False
    for _, table, chain, ctype in rs.hooks.get("prerouting", []):
        visit = walk(rs, table, chain, pkt, context, prune=ctype != "nat")
        if ctype == "nat":
            leaves, back = flow(visit, [State()])
            dnat_all = bool(leaves) and not back and all(l.step.outcome.verdict == "DNAT" for l in leaves)
            marked = None if any(l.state.masq for l in leaves) or any(s.masq for s in back) else False
            own = [v for _, t, c, ty in rs.hooks.get("output", []) if ty == "nat"
                   for v in [walk(rs, t, c, pkt, context)]]
            same = bool(own) and _signature(own[0].steps) == _signature(visit.steps)
            label = ("packets from pods and other machines" +
                     ("; the node's own connections (nat OUTPUT) go the same way" if same else ""))
            out.append(Stage("prerouting", table, chain, label, visit))
            if own and not same:
                out.append(Stage("output", own[0].table, own[0].chain, "the node's own connections", own[0]))
        elif visit.steps:
            out.append(Stage("prerouting", table, chain, "before DNAT", visit, ctype))
    if not dnat_all:
        hook = "input" if local else "forward"
        filtered = replace(pkt, marked=marked)
        for _, table, chain, ctype in rs.hooks.get(hook, []):
            if ctype != "filter":
                continue
            visit = walk(rs, table, chain, filtered, context, prune=True)
            if visit.steps:
                out.append(Stage(hook, table, chain, "for packets no DNAT rule rewrote", visit, ctype))
    return out


def _signature(steps):
    return tuple((s.rule.text.split(" ", 2)[-1] if s.rule.text.startswith("-A ") else s.rule.text,
                  s.outcome.target, _signature(s.child.steps) if s.child else None) for s in steps)


# naming things -------------------------------------------------------------------------------

def source_context(cs, svc):
    """Addresses and CIDRs the lab knows, in words, for the source conditions."""
    ctx = {str(cs.cluster_cidr): ("a pod", "not a pod: a node, or a machine outside the cluster"),
           "127.0.0.0/8": ("localhost", "not localhost")}
    endpoint_pods = {e.pod for port in svc.ports for e in cs.endpoints_for(svc, port)} if svc else set()
    for n in cs.nodes:
        ctx[str(n.ip)] = (f"node {n.name}", f"not node {n.name}")
        ctx[str(n.pod_cidr)] = (f"a pod on {n.name}", f"not a pod on {n.name}")
    for p in cs.pods:
        own = f"pod {p.name} itself: hairpin" if p.name in endpoint_pods else ""
        ctx[str(p.ip)] = (own or f"pod {p.name}", f"not pod {p.name}")
    ctx[str(cs.lan_cidr)] = ("the LAN", "not the LAN")
    if svc:  # -m recent lists are named after the endpoint chain
        for p in svc.ports:
            name = names.service_port_name(svc.namespace, svc.name, p.name, _trailing_colon(cs))
            for e in cs.endpoints_for(svc, p):
                chain = names.endpoint_chain(name, p.protocol, e.address)
                ctx[chain] = (f"pod {e.pod}" if e.pod else e.address, "")
    return ctx


def _trailing_colon(cs):
    profile = proxy_iptables.PROFILES.get(cs.kube_proxy.profile)
    return bool(profile and profile.trailing_colon)


def chain_notes(cs, rs):
    """{chain: what it is} for the hashed chains (iptables) or service chains (nftables)."""
    if rs.kind == "nftables":
        return {chain: _nft_chain_note(chain, cs) for (_, chain) in rs.chains if "/" in chain}
    known = trace.chain_names(cs) if cs.kube_proxy.profile in proxy_iptables.PROFILES else {}
    out = {}
    for (_, chain), rules in rs.chains.items():
        if not trace.is_hashed(chain):
            continue
        kind = chain.split("-")[1]
        what = known.get(chain) or next((r.comment for r in rules if r.comment), None)
        out[chain] = f"{what} ({CHAIN_ROLES[kind]})" if what else \
            f"{CHAIN_ROLES[kind]}; not in the lab's cluster state (a stale chain?)"
    return out


def _nft_chain_note(chain, cs):
    kind, _, rest = chain.partition("-")
    name = rest.split("-", 1)[1] if "-" in rest else rest
    roles = {"service": "SVC", "local": "SVL", "external": "EXT", "firewall": "FW", "endpoint": "SEP"}
    role = CHAIN_ROLES.get(roles.get(kind, ""), kind)
    if kind == "endpoint" and "__" in name:
        svc_part, ep = name.split("__", 1)
        ip, _, port = ep.rpartition("/")
        pod = pod_at(cs, ip)
        return f"{svc_part} -> {('pod ' + pod.name + ' ') if pod else ''}{ip}:{port} ({role})"
    return f"{name} ({role})"


def pod_at(cs, ip):
    return next((p for p in cs.pods if str(p.ip) == str(ip)), None)


def _destination_words(cs, address):
    ip = address.rsplit(":", 1)[0]
    pod = pod_at(cs, ip)
    if pod:
        return f"pod {pod.name} ({address}, on {pod.node})"
    node = next((n for n in cs.nodes if str(n.ip) == ip), None)
    return f"{address} (node {node.name})" if node else address


def _target_words(target, notes):
    note = notes.get(target) or trace.CHAIN_NOTES.get(target)
    return f"{target} = {note}" if note else target


def step_words(step, cs, notes, masq_mark):
    """What one rule does, in words (the part after its conditions)."""
    oc, rule = step.outcome, step.rule
    v = oc.verdict
    if step.is_masq:
        return f"mark the connection for masquerade (mark {masq_mark}): on the way out it is SNATed to the node's address"
    if v == "jump" and oc.target in DROP_CHAINS:
        return "mark the packet to be dropped (0x8000; the filter table's KUBE-FIREWALL drops it)"
    if v in ("jump", "goto"):
        verb = "on to" if v == "jump" else "go to"
        text = f"{verb} {_target_words(oc.target, notes)}"
        if step.child is not None and step.child.missing:
            text += " (no such chain!)"
        return text
    if v == "DNAT":
        text = f"DNAT: the destination becomes {_destination_words(cs, oc.to or '?')}"
        if rule.affinity_set:
            text += f"; the client's address is remembered in {rule.affinity_set} (session affinity)"
        return text
    if v == "REJECT":
        why = f" ({rule.comment})" if rule.comment else ""
        return f"REJECT{why}: the client gets 'connection refused' (ICMP port unreachable)"
    if v == "DROP":
        why = f" ({rule.comment})" if rule.comment else ""
        return f"DROP{why}: the packet is thrown away; the client times out"
    if v == "ACCEPT":
        return "ACCEPT: let through"
    if v == "RETURN":
        return "back to the chain that jumped here"
    if v == "MASQUERADE":
        return "MASQUERADE: the source becomes the address of the interface the packet leaves by"
    if v == "MARK":
        return f"set the packet's mark ({oc.to})"
    if rule.affinity_set:
        return f"remember the client's address in {rule.affinity_set} (session affinity)"
    if rule.comment:
        return f"no target: only a note ({rule.comment})"
    return v or "no target"


def _step_line(step, cs, notes, masq_mark):
    parts = []
    if step.otherwise:
        parts.append("otherwise")
    if step.conds:
        parts.append("if " + " and ".join(step.conds))
    if step.share_text:
        parts.append(step.share_text)
    head = ", ".join(parts)
    words = step_words(step, cs, notes, masq_mark)
    return f"{head}: {words}" if head else words


# the report ---------------------------------------------------------------------------------

def masq_mark_of(rs):
    for chain in MASQ_CHAINS:
        for table in ("nat", "kube-proxy"):
            for rule in rs.rules(table, chain) or []:
                if rule.verdict == "MARK":
                    args = " ".join(rule.target_args)
                    for token in args.replace("|", " ").split():
                        if token.startswith("0x"):
                            return token.split("/")[0]
    return "?"


def masquerade_rules(rs):
    """The rules that mark and masquerade, as the node has them."""
    if rs.kind == "nftables":
        names = (("kube-proxy", "mark-for-masquerade"), ("kube-proxy", "masquerading"))
    else:
        names = (("nat", "KUBE-MARK-MASQ"), ("nat", "KUBE-POSTROUTING"))
    out = []
    for table, chain in names:
        for r in rs.rules(table, chain) or []:
            out.append(r.text if rs.kind == "iptables" else f"chain {chain}: {r.text}")
    return out


def _leaf_dict(leaf, cs, node):
    step = leaf.step
    verdict = step.outcome.verdict if step else "none"
    masq = list(dict.fromkeys(leaf.state.masq))
    masq = ["always"] if "always" in masq else masq
    out = {"conditions": list(leaf.state.conds), "otherwise": leaf.state.otherwise,
           "share": _frac(leaf.state.share), "verdict": verdict, "masquerade": masq}
    if step and verdict == "DNAT":
        out["to"] = step.outcome.to
        ip = (step.outcome.to or "").rsplit(":", 1)[0]
        # the hairpin rule names the endpoint's own address: say it once for every endpoint
        out["masquerade"] = [HAIRPIN if m.startswith(f"the source is {ip} ") or m == f"the source is {ip}" else m
                             for m in masq]
        pod = pod_at(cs, ip)
        if pod:
            out["pod"] = pod.name
            out["pod_node"] = pod.node
            out["seen_source"] = (f"{node.pod_gateway} ({node.name}'s cni0)" if pod.node == node.name
                                  else f"{node.ip} ({node.name}'s eth0)")
    elif step and verdict in ("jump", "goto"):
        out["target"] = step.outcome.target
    elif step:
        out["comment"] = step.rule.comment
    return out


HAIRPIN = "the source is the chosen pod itself (hairpin: a pod reaching its own service)"


def summary(stage_list, cs, node):
    """The entry in words: where new connections go, and when they are masqueraded."""
    leaves, back = [], []
    for st in stage_list:
        if st.hook == "output":
            continue
        l, b = flow(st.visit, [State()])
        if st.ctype == "nat":
            leaves += l
            back += b
        else:
            leaves += [x for x in l if x.step.outcome.verdict in ("REJECT", "DROP")]
    if any(l.step and l.step.outcome.verdict == "DNAT" for l in leaves):
        # a filter verdict only meets the packets no DNAT rule took
        leaves = [l if l.step and l.step.outcome.verdict == "DNAT" or l.state.otherwise
                  else replace(l, state=replace(l.state, otherwise=True)) for l in leaves]
    paths = [_leaf_dict(l, cs, node) for l in leaves]
    dnat = [p for p in paths if p["verdict"] == "DNAT"]
    if not dnat and not any(p["verdict"] in ("REJECT", "DROP") for p in paths):
        paths += [{"conditions": list(s.conds), "otherwise": s.otherwise, "share": _frac(s.share), "verdict": "none",
                   "masquerade": list(s.masq)} for s in back]
    return paths


def _path_line(p):
    if p["verdict"] == "DNAT":
        what = f"pod {p['pod']} ({p['to']}, on {p['pod_node']})" if p.get("pod") else p.get("to")
    elif p["verdict"] in ("REJECT", "DROP"):
        what = f"{p['verdict']}" + (f" ({p['comment']})" if p.get("comment") else "")
    elif p["verdict"] == "none":
        what = "no rule rewrites the destination: the packet goes on unchanged (nothing listens there)"
    else:
        what = f"{p['verdict']} {p.get('target') or ''}".strip()
    return what if p["share"] == "1" else f"{p['share']} -> {what}"


def words_lines(paths, node_name):
    """The summary as text lines: per condition, where new connections go; then when they are
    masqueraded (once, when it is the same for every group)."""
    groups = {}
    for p in paths:
        groups.setdefault((p["otherwise"], tuple(p["conditions"])), []).append(p)
    masq_of = {}
    for key, ps in groups.items():
        dnat = [p for p in ps if p["verdict"] == "DNAT"]
        if dnat:
            masq_of[key] = tuple(dict.fromkeys(m for p in dnat for m in p["masquerade"]))
            if any(not p["masquerade"] for p in dnat):
                masq_of[key] += ("",)  # some paths are not masqueraded at all
    shared = len(set(masq_of.values())) == 1
    lines = []
    for key, ps in groups.items():
        otherwise, conds = key
        head = ("otherwise, " if otherwise else "") + ("if " + " and ".join(conds) if conds else "")
        head = head.rstrip(", ") or "new connections"
        if len(ps) == 1:
            lines.append(f"{head}: {_path_line(ps[0])}")
        else:
            lines.append(f"{head}:")
            lines += [f"  {_path_line(p)}" for p in ps]
        if key in masq_of and not shared:
            lines += [f"  {l}" for l in _masq_lines(masq_of[key], node_name)]
    if shared and masq_of:
        lines += _masq_lines(next(iter(masq_of.values())), node_name)
    return lines


def _masq_lines(whens, node_name):
    if "always" in whens:
        return [f"masqueraded always: the pod sees {node_name}'s address, not the client's"]
    real = [w for w in whens if w]
    if not real:
        return ["not masqueraded: the pod sees the client's own address"]
    if real == [HAIRPIN]:
        return ["not masqueraded: the pod sees the client's own address (except when the client is the chosen "
                "pod itself: hairpin)"]
    return ([f"masqueraded (the pod sees {node_name}'s address, not the client's) if:"] +
            [f"  {'or ' if i else ''}{w}" for i, w in enumerate(real)])


def step_dict(step, cs, notes, masq_mark):
    oc = step.outcome
    out = {"table": step.rule.table, "chain": step.rule.chain, "rule": step.rule.text,
           "conditions": step.conds, "otherwise": step.otherwise, "verdict": oc.verdict,
           "explain": _step_line(step, cs, notes, masq_mark)}
    if step.share is not None:
        out["share"] = _frac(step.share)
        out["share_text"] = step.share_text
    if oc.target:
        out["target"] = oc.target
        if oc.target in notes:
            out["target_note"] = notes[oc.target]
    if oc.to:
        out["to"] = oc.to
    if oc.via:
        out["via"] = oc.via
    if step.child is not None:
        out["steps"] = [step_dict(s, cs, notes, masq_mark) for s in step.child.steps]
        if step.child.missing:
            out["missing_chain"] = True
    return out


def service_report(cs, svc, node_rules, node_names=None):
    """Everything ``lab explain svc`` says, as plain data (what ``-o json`` prints).

    ``node_rules`` is ``{node name: (Ruleset, [local addresses], source description)}``.
    """
    ctx = source_context(cs, svc)
    nodes = []
    for node in cs.nodes:
        if node.name not in node_rules or (node_names and node.name not in node_names):
            continue
        rs, addresses, source = node_rules[node.name]
        notes = chain_notes(cs, rs)
        mark = masq_mark_of(rs)
        items, used = [], {}
        for e in entries(svc, node):
            st = stages(rs, e, addresses, ctx)
            for s in st:
                _collect_targets(s.visit, notes, used)
            items.append({"kind": e.kind, "address": f"{e.ip}:{e.port}", "protocol": e.protocol,
                          "port_name": e.port_name, "words": summary(st, cs, node),
                          "stages": [{"hook": s.hook, "table": s.table, "chain": s.chain, "label": s.label,
                                      "steps": [step_dict(x, cs, notes, mark) for x in s.visit.steps]}
                                     for s in st]})
        nodes.append({"node": node.name, "netns": node.netns, "ip": str(node.ip), "rules_from": source,
                      "entries": items, "chains": used, "masquerade_mark": mark,
                      "masquerade_rules": masquerade_rules(rs)})
    return {"lab": cs.lab, "mode": cs.kube_proxy.mode, "profile": cs.kube_proxy.profile,
            "service": _service_dict(cs, svc), "nodes": nodes}


def _collect_targets(visit, notes, used):
    for s in visit.steps:
        t = s.outcome.target
        if t and t in notes:
            used.setdefault(t, notes[t])
        if s.child is not None:
            _collect_targets(s.child, notes, used)


def _service_dict(cs, svc):
    ports = []
    for p in svc.ports:
        eps = []
        for e in cs.endpoints_for(svc, p):
            eps.append({"address": e.address, "pod": e.pod, "node": e.node, "ready": e.ready,
                        "serving": e.serving, "terminating": e.terminating})
        ports.append({"name": p.name, "protocol": p.protocol, "port": p.port, "targetPort": p.target_port,
                      "nodePort": p.node_port, "endpoints": eps})
    return {"namespace": svc.namespace, "name": svc.name, "type": svc.type, "clusterIP": svc.cluster_ip,
            "externalIPs": list(svc.external_ips), "loadBalancerIPs": list(svc.lb_ips),
            "sessionAffinity": svc.session_affinity,
            "affinityTimeout": svc.affinity_timeout if svc.session_affinity == "ClientIP" else None,
            "externalTrafficPolicy": svc.external_traffic_policy,
            "internalTrafficPolicy": svc.internal_traffic_policy,
            "loadBalancerSourceRanges": list(svc.lb_source_ranges),
            "selector": dict(svc.selector) if svc.selector else None, "ports": ports}


def intro_lines(cs, s):
    """The service in words, from the cluster state."""
    d = _service_dict(cs, s)
    lines = [f"Service {s.namespace}/{s.name}: type {s.type}, ClusterIP {s.cluster_ip}"
             + (f", external IPs {', '.join(s.external_ips)}" if s.external_ips else "")
             + (f", load-balancer IP {', '.join(s.lb_ips)}" if s.lb_ips else "")]
    sel = ",".join(f"{k}={v}" for k, v in (s.selector or ()))
    lines.append(f"  selector {sel or '<none>'}; kube-proxy {cs.kube_proxy.mode}, profile {cs.kube_proxy.profile}")
    for p in d["ports"]:
        name = f" ({p['name']})" if p["name"] else ""
        node_port = f", NodePort {p['nodePort']} on every node" if p["nodePort"] else ""
        lines.append(f"  port {p['port']}/{p['protocol']}{name} -> targetPort {p['targetPort']}{node_port}")
        if not p["endpoints"]:
            lines.append("    endpoints: none (kube-proxy REJECTs new connections)")
        for e in p["endpoints"]:
            state = "ready" if e["ready"] else ("terminating, serving" if e["serving"] else "not ready")
            lines.append(f"    endpoint {e['address']}  pod {e['pod']} on {e['node']} ({state})")
    policy = []
    if s.session_affinity == "ClientIP":
        policy.append(f"sessionAffinity ClientIP: each client stays on one pod for {s.affinity_timeout} s "
                      "after its last new connection (-m recent)")
    if s.external_traffic_policy == "Local" and s.type in ("NodePort", "LoadBalancer"):
        policy.append("externalTrafficPolicy Local: NodePort and LB traffic goes only to pods on the node it "
                      "arrives at, and keeps the client's address")
    if s.internal_traffic_policy == "Local":
        policy.append("internalTrafficPolicy Local: ClusterIP traffic goes only to pods on the sender's node")
    if s.lb_source_ranges:
        policy.append(f"loadBalancerSourceRanges {', '.join(s.lb_source_ranges)}: other sources are dropped at "
                      "the LB IP")
    lines += [f"  {p}" for p in policy]
    return lines


def _masq_paragraph(rs_kind, mark, node):
    post = "masquerading" if rs_kind == "nftables" else "KUBE-POSTROUTING"
    mark_chain = "mark-for-masquerade" if rs_kind == "nftables" else "KUBE-MARK-MASQ"
    return [f"# {mark_chain} only sets mark {mark} on the packet. In nat POSTROUTING, {post} lets unmarked",
            f"# packets go, clears the mark and MASQUERADEs the rest: their source becomes the address of the",
            f"# interface they leave {node.name} by ({node.ip} on eth0, {node.pod_gateway} on cni0). The pod then sees",
            "# the node, not the client, and its answer comes back through this node, which undoes the NAT."]


def format_service(report, cs, svc):
    lines = intro_lines(cs, svc)
    for n in report["nodes"]:
        node = cs.node(n["node"])
        lines.append("")
        lines.append(f"== node {n['node']} ({n['netns']}, {n['ip']}): rules read from `{n['rules_from']}`")
        for e in n["entries"]:
            lines.append("")
            lines.append(f"  {e['kind']} {e['address']}/{e['protocol']}"
                         + (f" ({n['node']}'s address)" if e["kind"] == "NodePort" else ""))
            lines.append("    In words:")
            shown = set()
            lines += [f"      {l}" for l in words_lines(e["words"], n["node"])] or ["      (no rule of this node matches)"]
            for st in e["stages"]:
                lines.append(f"    {st['table']} {st['chain']} ({st['label']}):")
                lines += _steps_text(st["steps"], 6, shown)
        if n["chains"]:
            lines.append("")
            lines.append("  Chains on this path:")
            lines += [f"    {c} = {w}" for c, w in n["chains"].items()]
        lines.append("")
        lines.append("  Masquerade, as this node's rules have it:")
        lines += [f"    {r}" for r in n["masquerade_rules"]] or ["    (no masquerade rules on this node!)"]
        lines += [f"    {l}" for l in _masq_paragraph(report["mode"], n["masquerade_mark"], node)]
    return "\n".join(lines)


def _steps_text(steps, indent, shown=None):
    """The walk as indented rules, each followed by what it does; a chain already shown for
    this entry is not repeated."""
    shown = set() if shown is None else shown
    pad = " " * indent
    out, last = [], None
    for s in steps:
        rule = s["rule"] if s["rule"].startswith("-A ") else f"chain {s['chain']}: {s['rule']}"
        if rule != last:  # one nft numgen rule, several branches
            out.append(f"{pad}{rule}")
        last = rule
        out.append(f"{pad}  # {s['explain']}")
        if s.get("via"):
            out.append(f"{pad}  # chosen by {s['via']}")
        if s.get("steps") and s.get("target") in shown:
            out.append(f"{pad}  # ({s['target']}: its rules are shown above)")
            continue
        if s.get("target"):
            shown.add(s["target"])
        out += _steps_text(s.get("steps", []), indent + 2, shown)
    return out


# pods ---------------------------------------------------------------------------------------

def selecting_services(cs, pod):
    """Services whose selector picks the pod, and whether the pod is in their endpoints."""
    labels = pod.label_dict
    out = []
    for s in cs.services:
        if not s.selector or not all(labels.get(k) == v for k, v in s.selector):
            continue
        in_eps = any(e.pod == pod.name for port in s.ports for e in cs.endpoints_for(s, port))
        out.append({"namespace": s.namespace, "name": s.name, "clusterIP": s.cluster_ip, "endpoint": in_eps})
    return out


def pod_report(cs, pod, kernel):
    """``kernel`` is what explain_runtime.pod_facts read: interfaces, routes, bridge port, files."""
    node = cs.node(pod.node)
    return {"lab": cs.lab, "namespace": pod.namespace, "name": pod.name, "netns": pod.netns,
            "node": pod.node, "node_netns": node.netns if node else None, "ip": str(pod.ip),
            "labels": dict(pod.labels), "ready": pod.ready, "terminating": pod.terminating,
            "ports": [{"containerPort": p.container_port, "protocol": p.protocol, "name": p.name} for p in pod.ports],
            "services": selecting_services(cs, pod), "expected_host_veth": pod.host_veth, **kernel}


def format_pod(r):
    lines = [f"Pod {r['namespace']}/{r['name']} on node {r['node']}: network namespace {r['netns']}"]
    labels = ",".join(f"{k}={v}" for k, v in r["labels"].items()) or "<none>"
    lines.append(f"  labels {labels}; {'ready' if r['ready'] else 'not ready'}"
                 + ("; terminating" if r["terminating"] else ""))
    ifc = r.get("interface") or {}
    addrs = ", ".join(ifc.get("addresses", [])) or "no address!"
    lines.append("")
    lines.append(f"  Interface (inside the pod): {ifc.get('name', 'eth0')} {addrs}, mac {ifc.get('mac', '?')}, "
                 f"{ifc.get('state', '?')}" + (f", veth peer ifindex {ifc['peer_ifindex']} in the node"
                                               if ifc.get("peer_ifindex") else ""))
    peer = r.get("peer") or {}
    if peer:
        hair = {True: "on", False: "off"}.get(peer.get("hairpin"), "?")
        lines.append(f"  Its other end (in {r['node_netns']}): {peer.get('name')}, port of bridge "
                     f"{peer.get('master') or 'none!'}, {peer.get('state', '?')}, hairpin {hair}")
        lines.append(f"    # a veth pair is a cable: what the pod sends on {ifc.get('name', 'eth0')} comes out of "
                     f"{peer.get('name')} in the node, which the bridge {peer.get('master') or '?'} switches to the")
        lines.append("    # other pods of the node or hands to the node's routing (the bridge's address is the "
                     "pod's gateway).")
        if peer.get("hairpin") is True:
            lines.append("    # hairpin on: the bridge may send a frame back out of the port it came in by, so the "
                         "pod can reach")
            lines.append("    # itself through its service's ClusterIP (the DNAT sends the packet back to it).")
        elif peer.get("hairpin") is False:
            lines.append("    # hairpin off: a pod reaching itself through its service gets no answer.")
    else:
        lines.append(f"  Its other end in the node: not found ({r.get('peer_error', 'no veth peer')})")
    lines.append("")
    lines.append("  Routes inside the pod (ip route):")
    lines += [f"    {l}" for l in r.get("routes", [])] or ["    (none!)"]
    lines.append("")
    lines.append(f"  Resolver ({r.get('resolv_path')}, which `ip netns exec` lays over /etc/resolv.conf):")
    lines += [f"    {l}" for l in (r.get("resolv_conf") or "(missing)\n").splitlines()]
    lines.append("")
    if r["services"]:
        lines.append("  Services selecting it:")
        for s in r["services"]:
            where = "in its endpoints" if s["endpoint"] else "not in its endpoints (not ready?)"
            lines.append(f"    {s['namespace']}/{s['name']} (ClusterIP {s['clusterIP']}): {where}")
    else:
        lines.append("  Services selecting it: none")
    return "\n".join(lines)
