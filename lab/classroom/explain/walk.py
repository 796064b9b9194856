"""The walk behind ``lab explain``: a node's parsed rules (lab.proxy.ruleset) followed the way the
first packet of a new connection goes, from a base chain down to its verdicts, with what depends
on the unknown source or on chance kept as branches (``flow``), per way into a service
(``entries``, ``stages``). Pure."""

import ipaddress
from dataclasses import dataclass, field, replace
from fractions import Fraction

from lab.classroom.explain.match import FINAL, MASQ_CHAINS, Packet, outcomes

MAX_DEPTH = 24
DROP_CHAINS = ("KUBE-MARK-DROP",)

# the walk ------------------------------------------------------------------------------------

@dataclass
class WalkStep:
    rule: object  # ruleset.Rule
    outcome: object  # match.RuleOutcome
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
            step = WalkStep(rule, oc, group=group, otherwise=otherwise)
            p = step.probability
            if step.numgen:
                step.share = p
                step.share_text = f"{fraction_words(p)} of new connections"
            elif p is not None:
                step.share = remaining * p
                step.share_text = (f"{fraction_words(p)} of the rest = {fraction_words(step.share)}" if had_stat
                                   else f"{fraction_words(p)} of new connections")
            elif had_stat and not step.conds and step.kind in ("jump", "goto", "final"):
                step.share = remaining
                step.share_text = f"the rest = {fraction_words(remaining)}"
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


def fraction_words(f):
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
    step: WalkStep  # the rule that decided (DNAT, REJECT, ...), None when no rule did


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
