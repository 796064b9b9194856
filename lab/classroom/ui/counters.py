"""New connections per service, per path and per endpoint, from the packet counters of a node's
own rules. Pure.

Only the first packet of a connection goes through the nat table, so a nat rule's packet counter
counts new connections. The rules counted are found by ``lab explain``'s walk of the node's rules
read back (lab.classroom.explain.walk), not by name patterns: for each way into a service port
(ClusterIP, the node's NodePort, external and load-balancer IPs) the *path* rule is the first one
that leaves kube-proxy's fixed chains for a chain of that service (``KUBE-SERVICES -d CLUSTER-IP
... -j KUBE-SVC-...``, ``KUBE-NODEPORTS --dport N -j KUBE-EXT-...``), and the *endpoint* rules are
the DNAT rules the walk ends on (``KUBE-SEP-... -j DNAT --to-destination POD:PORT``). A
connection is counted on the node where it entered the service: a NodePort on node1 whose pod is
on node2 counts on node1 (node2 sees a packet to the pod's own address, which no service rule
matches).

In nftables mode kube-proxy's rules carry no counters: the counts come from lab ui's own table
(lab.classroom.ui.nftcount), whose elements count the new connections DNATed on a node by where
they were sent and where they went. A path counts the elements sent to its address, an endpoint
those DNATed to its address from any of its service port's paths; the rules found by the walk
are the same in both modes, so the rows and their hover text are too.

``layout`` (costly: the walks) depends only on the cluster state and the rules' text, so it is
computed again only when one of them changes; ``tally`` puts the counters of the moment in it.
"""

import re
from dataclasses import dataclass, replace

from lab.classroom.diagram import _id, is_system
from lab.classroom.explain import walk, words
from lab.proxy import modes, names
from lab.proxy.serviceports import is_proxied

_COUNTER = re.compile(r"^\[(\d+):(\d+)\] ")


@dataclass(frozen=True)
class RuleCounter:
    """iptables: the rule's own packet counter; a node's counters are {(table, chain, index): packets}."""

    table: str
    chain: str
    index: int

    def read(self, node_counts):
        return node_counts.get((self.table, self.chain, self.index))

    source = None  # the rule itself


@dataclass(frozen=True)
class ConnCounter:
    """nftables: lab ui's elements of the connections sent to one of ``sent_to`` (ip:port/PROTO)
    and DNATed to ``to`` (ip:port; None: anywhere); a node's counters are {(sent to, to): packets}."""

    sent_to: frozenset
    to: str = None

    def read(self, node_counts):
        return sum(n for (sent, to), n in node_counts.items()
                   if sent in self.sent_to and (self.to is None or to == self.to))

    @property
    def source(self):
        if self.to is None:
            return f"lab ui's table (set conns): new connections to {' or '.join(sorted(self.sent_to))}"
        return f"lab ui's table (set conns): new connections to this service port DNATed to {self.to}"


@dataclass(frozen=True)
class RuleRef:
    """One rule of one node and the counter its new connections are read from."""

    node: str
    table: str
    chain: str
    index: int  # the rule's place in its chain
    text: str
    note: str  # what the rule's chain is, as lab explain names it
    counter: object = None  # RuleCounter or ConnCounter

    @property
    def key(self):
        return (self.node, self.table, self.chain, self.index)

    def count(self, counters):
        """Its count in ``counters`` ({node: that node's counters}), None when the node's are unread."""
        node_counts = counters.get(self.node)
        return None if node_counts is None else self.counter.read(node_counts)


def read_iptables_counters(text):
    """``iptables-save -c`` -> (the same text without counters, {(table, chain, index): packets})."""
    plain, counters, table, seen = [], {}, None, {}
    for line in text.splitlines():
        m = _COUNTER.match(line)
        if m:
            line = line[m.end():]
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith("-A ") and table and m:
            chain = line.split()[1]
            index = seen.get((table, chain), 0)
            seen[(table, chain)] = index + 1
            counters[(table, chain, index)] = int(m.group(1))
        if not line.startswith("#"):
            plain.append(line)
    return "\n".join(plain) + "\n", counters


def _local_addresses(node):
    """What ``--dst-type LOCAL`` matches on a node, from the cluster state (no read of the kernel)."""
    return ["127.0.0.0/8", f"{node.ip}/32", f"{node.pod_gateway}/32"]


def _steps(steps):
    for s in steps:
        yield s
        if s.child is not None:
            yield from _steps(s.child.steps)


def _ref(rs, node, step, notes):
    rule = step.rule
    index = next(i for i, r in enumerate(rs.rules(rule.table, rule.chain)) if r is rule)
    chain = rule.chain
    chain_note = f"{chain} = {notes[chain]}" if notes.get(chain) else \
        (f"{chain} = {names.CHAIN_NOTES[chain]}" if chain in names.CHAIN_NOTES else chain)
    target = step.outcome.target
    if target and notes.get(target):
        chain_note = f"on to {target} = {notes[target]}"
    return RuleRef(node.name, rule.table, rule.chain, index, rule.text, chain_note,
                   RuleCounter(rule.table, rule.chain, index))


def _walk_refs(rs, node, entry, ctx, notes, is_service_chain):
    """(path rules, {DNAT address: [rules]}) of one way into a service on one node."""
    paths, dnat = [], {}
    for stage in walk.stages(rs, entry, _local_addresses(node), ctx):
        if stage.ctype != "nat":
            continue
        found_path = False
        for step in _steps(stage.visit.steps):
            target = step.outcome.target
            if not found_path and target and is_service_chain(target) and not is_service_chain(step.rule.chain):
                paths.append(_ref(rs, node, step, notes))
                found_path = True
            if step.outcome.verdict == "DNAT" and step.outcome.to:
                dnat.setdefault(step.outcome.to, []).append(_ref(rs, node, step, notes))
    return paths, dnat


@dataclass(frozen=True)
class Path:
    kind: str  # ClusterIP, NodePort, external IP, LoadBalancer IP
    address: str  # ip:port/PROTO
    refs: tuple  # RuleRef, one per node whose rules take this way in


@dataclass(frozen=True)
class Backend:
    address: str  # the DNAT destination, ip:port
    pod: str  # the pod's name, or None for an address no pod has
    pod_id: str  # the pod's box in the diagram
    node: str
    refs: tuple  # RuleRef: the DNAT rule to it on each node


@dataclass(frozen=True)
class PortLayout:
    service: str  # namespace/name
    service_id: str  # the service's box in the diagram
    port: str  # 3000/TCP (name)
    paths: tuple
    backends: tuple


def layout(cluster, rulesets, include_system=False):
    """[PortLayout] for every proxied service port; ``rulesets`` is {node name: Ruleset} as read
    back now (nodes whose rules could not be read are left out)."""
    mode = modes.of(cluster)
    notes = {name: words.chain_notes(cluster, rs) for name, rs in rulesets.items()}
    out = []
    for svc in sorted(cluster.services, key=lambda s: s.key):
        if not is_proxied(svc) or (not include_system and is_system(svc)):
            continue
        ctx = words.source_context(cluster, svc)
        for port in svc.ports:
            paths, backends = {}, {}
            for node in cluster.nodes:
                rs = rulesets.get(node.name)
                if rs is None:
                    continue
                for entry in walk.entries(svc, node):
                    if (entry.port_name, entry.protocol) != (port.name, port.protocol):
                        continue
                    refs, dnat = _walk_refs(rs, node, entry, ctx, notes[node.name], mode.is_service_chain)
                    key = (entry.kind, f"{entry.ip}:{entry.port}/{entry.protocol}")
                    paths.setdefault(key, {}).update({r.key: r for r in refs})
                    for address, dnat_refs in dnat.items():
                        backends.setdefault(address, {}).update({r.key: r for r in dnat_refs})
            if mode is modes.NFTABLES:
                _count_connections(paths, backends)
            out.append(PortLayout(
                f"{svc.namespace}/{svc.name}", _id("svc", svc.namespace, svc.name),
                f"{port.port}/{port.protocol}" + (f" ({port.name})" if port.name else ""),
                tuple(Path(kind, address, tuple(refs.values())) for (kind, address), refs in paths.items()),
                tuple(_backend(cluster, svc, address, refs) for address, refs in sorted(backends.items()))))
    return out


def _count_connections(paths, backends):
    """nftables: the refs read lab ui's elements instead of the rules' (absent) counters."""
    sent_to = frozenset(address for _, address in paths)
    for (_, address), refs in paths.items():
        for k, r in refs.items():
            refs[k] = replace(r, counter=ConnCounter(frozenset([address])))
    for address, refs in backends.items():
        for k, r in refs.items():
            refs[k] = replace(r, counter=ConnCounter(sent_to, address))


def _backend(cluster, svc, address, refs):
    pod = words.pod_at(cluster, address.rsplit(":", 1)[0])
    return Backend(address, pod.name if pod else None, _id("pod", pod.namespace, pod.name) if pod else None,
                   pod.node if pod else None, tuple(refs.values()))


def tally(layouts, counters, baseline=None):
    """The layout with counts: ``counters`` is {node: its counters} read now (see RuleCounter and
    ConnCounter), ``baseline`` {(node, counter): (text, packets)} taken at the last reset (a rule
    whose text changed, or whose counter went back, was rewritten by kube-proxy, or lab ui's table
    made again: its count starts again from 0). Returns plain data for the page, with each
    endpoint's share of the port's new connections."""
    baseline = baseline or {}

    def count(ref):
        now = ref.count(counters)
        if now is None:
            return None
        text, then = baseline.get((ref.node, ref.counter), (ref.text, 0))
        return now - then if text == ref.text and then <= now else now

    def rule(ref):
        return {"node": ref.node, "table": ref.table, "chain": ref.chain, "rule": ref.text, "note": ref.note,
                "count": count(ref), "counted": ref.counter.source}

    out = []
    for lay in layouts:
        paths = []
        for p in lay.paths:
            rules = [rule(r) for r in p.refs]
            paths.append({"kind": p.kind, "address": p.address, "rules": rules,
                          "count": _sum(r["count"] for r in rules)})
        backends = []
        for b in lay.backends:
            rules = [rule(r) for r in b.refs]
            backends.append({"address": b.address, "pod": b.pod, "pod_id": b.pod_id, "node": b.node,
                             "rules": rules, "count": _sum(r["count"] for r in rules)})
        total = _sum(b["count"] for b in backends)
        for b in backends:
            b["share"] = (b["count"] / total) if total and b["count"] is not None else None
        out.append({"service": lay.service, "service_id": lay.service_id, "port": lay.port, "paths": paths,
                    "backends": backends, "total": total})
    return out


def _sum(values):
    values = [v for v in values if v is not None]
    return sum(values) if values else None


def baseline_of(layouts, counters):
    """What ``tally`` subtracts after a reset: every counted rule's text and packets now."""
    out = {}
    for lay in layouts:
        for ref in [r for p in lay.paths for r in p.refs] + [r for b in lay.backends for r in b.refs]:
            now = ref.count(counters)
            if now is not None:
                out[(ref.node, ref.counter)] = (ref.text, now)
    return out
