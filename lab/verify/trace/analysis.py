"""``lab trace``: reading the kernel's netfilter trace of one connection. Pure functions.

The events come from ``xtables-monitor --trace`` (iptables-nft), one monitor per network
namespace. Its output is a sequence of lines:

    PACKET: 2 0cf47239 IN=eth0 ... SRC=192.168.179.200 DST=192.168.179.100 ... TOS=0xa8 TTL=64 ID=30836 ...
     TRACE: 2 0cf47239 nat:KUBE-NODEPORTS:rule:0x2d:JUMP:KUBE-SVC-GFPAJ7EGCNM4QF4H  -4 -t nat -A KUBE-NODEPORTS ...
     TRACE: 2 0cf47239 mangle:PREROUTING:policy:ACCEPT
     TRACE: 2 0cf47239 nat:KUBE-POSTROUTING:rule:0x21:0xfffffffb  -4 -t nat -A KUBE-POSTROUTING ... -j RETURN

A PACKET line (what the packet looks like) opens every base chain the packet enters; the TRACE
lines after it are the rules that matched, in order, with their verdicts (``CONTINUE`` for a
rule whose target does not decide, ``JUMP:CHAIN``, ``ACCEPT``, ``DROP``, ``0xfffffffb`` for
``RETURN``), and the chain policy when the packet falls off the end of a base chain. All
events of one packet carry the same id (the kernel's trace id).

This module parses that text into an ordered walk per namespace, names kube-proxy's hashed
chains from the cluster state (``KUBE-SEP-… = default/nodeport-svc: -> pod 10.244.0.23:8080``),
and lays the result out for a student (text) or a tool (JSON).
"""

import re

from lab.proxy import names

TRACE_COMMENT = "svclab-trace"  # the comment on the TRACE rules lab trace inserts (and removes)

# verdict codes xtables-monitor prints in hex (kernel's NFT_* verdicts it has no name for)
_VERDICT_CODES = {"0xfffffffb": "RETURN", "0xfffffffe": "BREAK", "0xffffffff": "CONTINUE",
                  "0xfffffffd": "JUMP", "0xfffffffc": "GOTO"}

_HOOKS = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")


# parsing xtables-monitor ---------------------------------------------------------------------

_KV = re.compile(r"([A-Z]+)=(\S+)")


def parse_packet_line(line):
    """``PACKET: 2 id KEY=VALUE ... FLAGS`` -> dict (ports and TTL as ints, TCP flags as a list)."""
    body = line.split("PACKET:", 1)[1].split()
    family, trace_id, fields = body[0], body[1], body[2:]
    pkt = {"id": trace_id, "family": int(family) if family.isdigit() else family}
    flags = []
    for f in fields:
        m = _KV.fullmatch(f)
        if m:
            key, value = m.group(1).lower(), m.group(2)
            if key in ("sport", "dport", "ttl", "len", "id"):
                key = "ip_id" if key == "id" else key
                digits = re.match(r"\d+", value)  # older xtables-monitor runs ``ID=30836DF`` together
                if digits:
                    if value[digits.end():].isalpha() and value[digits.end():].isupper():
                        flags.append(value[digits.end():])
                    value = int(digits.group())
            pkt[key] = value
        elif f.isupper() and f.isalpha():
            flags.append(f)
    pkt["flags"] = flags
    return pkt


def parse_trace_line(line):
    """`` TRACE: 2 id table:chain:rule:0xHANDLE:VERDICT[:TARGET]  -4 -t table -A chain SPEC`` -> dict."""
    body = line.split("TRACE:", 1)[1].strip()
    parts = body.split(None, 2)
    if len(parts) < 3:
        return None
    trace_id, rest = parts[1], parts[2]
    head, _, rule_text = rest.partition(" ")
    fields = head.split(":")
    if len(fields) < 3:
        return None
    table, chain, kind = fields[0], fields[1], fields[2]
    ev = {"id": trace_id, "table": table, "chain": chain, "type": kind, "handle": None,
          "verdict": None, "target": None, "rule": None}
    if kind == "rule":
        ev["handle"] = fields[3] if len(fields) > 3 else None
        verdict = fields[4] if len(fields) > 4 else ""
        ev["verdict"] = _VERDICT_CODES.get(verdict.lower(), verdict)
        if len(fields) > 5:
            ev["target"] = ":".join(fields[5:])
        ev["rule"] = _rule_spec(rule_text.strip(), table, chain)
    elif kind == "policy":
        ev["verdict"] = _VERDICT_CODES.get(fields[3].lower(), fields[3]) if len(fields) > 3 else ""
    elif kind == "return":
        ev["verdict"] = "RETURN"
        ev["target"] = ":".join(fields[3:]) or None
    return ev


def _rule_spec(text, table, chain):
    """``-4 -t nat -A CHAIN SPEC`` -> ``SPEC`` (what iptables-save prints after ``-A CHAIN``)."""
    prefix = re.match(r"-[46]\s+-t\s+\S+\s+-A\s+\S+\s*", text)
    return text[prefix.end():] if prefix else text


def parse_monitor(text):
    """The lines of one monitor's output -> events in order: ``{"kind": "packet"|"trace", ...}``.

    Lines that are neither (warnings, a rule xtables-monitor could not decode) are kept as
    ``{"kind": "note", "text": ...}``.
    """
    events = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("PACKET:"):
            try:
                events.append({"kind": "packet", **parse_packet_line(stripped)})
            except IndexError:
                events.append({"kind": "note", "text": stripped})
        elif stripped.startswith("TRACE:"):
            ev = parse_trace_line(stripped)
            events.append({"kind": "trace", **ev} if ev else {"kind": "note", "text": stripped})
        else:
            events.append({"kind": "note", "text": stripped})
    return events


def tos_of(dscp):
    return dscp << 2


def walk(events, dscp=None):
    """The walk of the first traced packet (with DSCP ``dscp``, if given) through one namespace.

    Returns ``{"ip_id", "trace_ids", "hops": [{"hook", "table", "packet", "steps"}], "other_packets"}``:
    a hop per base chain the packet entered (the PACKET line and the rules after it); lab
    trace's own TRACE rule and the raw table's policy it causes are left out. None if no packet
    was traced.

    A packet is known by its IP ID, which NAT and forwarding keep: the kernel's trace id can
    change on the way through one namespace (a packet bridged by cni0 and then routed gets a
    second one), and a retransmitted SYN is another packet with another IP ID.
    """
    key_of, keys = {}, []  # trace id -> packet key (IP ID); keys in order of appearance
    want = tos_of(dscp) if dscp is not None else None
    for ev in events:
        if ev["kind"] != "packet" or ev["id"] in key_of:
            continue
        tos = _tos_value(ev.get("tos"))
        if want is not None and tos is not None and tos & 0xfc != want:
            key_of[ev["id"]] = None  # someone else's packet
            continue
        key = ("ip_id", ev["ip_id"]) if isinstance(ev.get("ip_id"), int) else ("trace", ev["id"])
        key_of[ev["id"]] = key
        if key not in keys:
            keys.append(key)
    if not keys:
        return None
    first = keys[0]
    chosen = [tid for tid, key in key_of.items() if key == first]
    hops, current = [], {}
    for ev in events:
        tid = ev.get("id")
        if tid not in chosen:
            continue
        if ev["kind"] == "packet":
            current[tid] = {"hook": None, "table": None, "packet": _packet_view(ev), "steps": []}
            hops.append(current[tid])
            continue
        if ev["kind"] != "trace":
            continue
        hop = current.get(tid)
        if hop is None:
            hop = current[tid] = {"hook": None, "table": None, "packet": None, "steps": []}
            hops.append(hop)
        if hop["table"] is None:
            hop["hook"] = ev["chain"] if ev["chain"] in _HOOKS else None
            hop["table"] = ev["table"]
        if _is_own(ev):
            hop["own"] = True
            continue
        hop["steps"].append(_step_view(ev))
    for hop in hops:
        # the raw table's policy after our own TRACE rule is noise, unless raw had rules of its own
        if hop.pop("own", False) and all(s["type"] == "policy" for s in hop["steps"]):
            hop["steps"] = []
        if hop["hook"] is None and hop["packet"] is not None:
            hop["hook"] = _guess_hook(hop["packet"])
    ip_id = first[1] if first[0] == "ip_id" else None
    return {"ip_id": ip_id, "trace_ids": chosen, "hops": hops, "other_packets": len(keys) - 1}


def _tos_value(tos):
    if tos is None:
        return None
    try:
        return int(str(tos), 16)
    except ValueError:
        return None


def _is_own(ev):
    return ev["type"] == "rule" and ev["table"] == "raw" and TRACE_COMMENT in (ev.get("rule") or "")


def _guess_hook(pkt):
    if pkt.get("in") and pkt.get("out"):
        return "FORWARD"
    return "PREROUTING" if pkt.get("in") else "OUTPUT"


def _packet_view(ev):
    keep = ("in", "out", "src", "dst", "sport", "dport", "ttl", "tos", "mark", "flags")
    return {k: ev.get(k) for k in keep if ev.get(k) not in (None, [])}


def _step_view(ev):
    return {"table": ev["table"], "chain": ev["chain"], "type": ev["type"], "handle": ev["handle"],
            "verdict": ev["verdict"], "target": ev["target"], "rule": ev["rule"]}


# what a step did ------------------------------------------------------------------------------

_TO = re.compile(r"--to-(?:destination|source)\s+(\S+)")
_JUMP = re.compile(r"(?:^|\s)-[jg]\s+(\S+)")


def rule_target(rule):
    """The ``-j``/``-g`` target of a rule spec (the last one), or None."""
    found = _JUMP.findall(rule or "")
    return found[-1] if found else None


def action(step):
    """What the step did, in iptables' words: ``jump KUBE-SVC-…``, ``DNAT to 10.244.0.23:8080``,
    ``MASQUERADE``, ``ACCEPT``, ``policy ACCEPT``, ``continue``, ``RETURN``."""
    verdict = (step.get("verdict") or "").upper()
    if step["type"] == "policy":
        return f"policy {verdict}"
    if step["type"] == "return":
        return "return" + (f" to {step['target']}" if step.get("target") else "")
    rule = step.get("rule") or ""
    target = rule_target(rule)
    if verdict in ("JUMP", "GOTO"):
        return f"{verdict.lower()} {step.get('target') or target}"
    if verdict == "CONTINUE":
        return "continue"
    if target in ("DNAT", "SNAT"):
        to = _TO.search(rule)
        return f"{target} to {to.group(1)}" if to else target
    if target == "MASQUERADE":
        return "MASQUERADE" + (" --random-fully" if "--random-fully" in rule else "")
    if target == "REJECT":
        how = re.search(r"--reject-with\s+(\S+)", rule)
        return "REJECT" + (f" with {how.group(1)}" if how else "")
    return verdict or "?"


def is_final(step):
    """True for the verdicts that end the packet's walk through a hook."""
    act = action(step)
    return act.split()[0] in ("DNAT", "SNAT", "MASQUERADE", "ACCEPT", "DROP", "REJECT", "policy", "QUEUE", "STOLEN")


def netns_labels(cluster):
    """``{netns: "node node1" | "host client" | "pod default/name"}``."""
    out = {n.netns: f"node {n.name}" for n in cluster.nodes}
    out.update({h.netns: f"host {h.name}" for h in cluster.hosts})
    out.update({p.netns: f"pod {p.namespace}/{p.name}" for p in cluster.pods})
    if cluster.lb is not None:
        out[cluster.lb.netns] = "load balancer"
    return out


# the report -----------------------------------------------------------------------------------

def split_visits(hops):
    """A namespace's hops cut into visits: the packet can pass through one namespace twice (a pod
    reaching its own service leaves through OUTPUT and comes back through PREROUTING). A visit
    starts at PREROUTING or OUTPUT, unless the hop before was in that same hook (another table)."""
    visits = []
    for hop in hops:
        starts = hop["hook"] in ("PREROUTING", "OUTPUT")
        if not visits or (starts and visits[-1][-1]["hook"] != hop["hook"]):
            visits.append([])
        visits[-1].append(hop)
    return visits


def _first_packet(hops):
    return next((h["packet"] for h in hops if h.get("packet")), {})


def _last_packet(hops):
    return next((h["packet"] for h in reversed(hops) if h.get("packet")), {})


def order_visits(visits, source):
    """``[(netns, hops)]`` in the order the packet made them.

    The source's first visit comes first; then, repeatedly, the visit the packet went on to:
    one it entered with the destination it left the last one with (after any DNAT there; a
    MASQUERADE on the way out only shows in the next namespace), the highest TTL first (each
    routed hop takes one off); failing that, the highest TTL.
    """
    def ttl(item):
        value = _first_packet(item[1]).get("ttl")
        return value if isinstance(value, int) else 0

    left = list(visits)
    first = next((v for v in left if v[0] == source), None) or max(left, key=ttl, default=None)
    ordered = []
    while first is not None:
        ordered.append(first)
        left.remove(first)
        dst = _endpoint(_last_packet(first[1]), "dst")
        following = [v for v in left if dst and _endpoint(_first_packet(v[1]), "dst") == dst]
        first = max(following or left, key=ttl, default=None)
    return ordered


def build_report(cluster, source_netns, walks, probe, url, source_name, notes=None):
    """Everything ``lab trace`` knows, as plain data (what ``--json`` prints).

    ``walks`` is ``{netns: walk(...)}`` (None for a namespace that saw nothing). The report's
    ``namespaces`` are the packet's visits in order: a namespace it passed through twice is
    listed twice.
    """
    known = names.chain_owners(cluster)
    labels = netns_labels(cluster)
    visits = []
    for netns, w in walks.items():
        if w and w["hops"]:
            visits += [(netns, hops) for hops in split_visits(w["hops"])]
    namespaces, chains, counted = [], {}, set()
    for netns, visit in order_visits(visits, source_netns):
        w = walks[netns]
        hops = []
        for hop in visit:
            steps = []
            for s in hop["steps"]:
                step = dict(s, action=action(s))
                note = names.describe_chain(s["chain"], known)
                if note:
                    chains.setdefault(s["chain"], note)
                jump_to = s.get("target") if s.get("verdict") in ("JUMP", "GOTO") else None
                if jump_to:
                    target_note = names.describe_chain(jump_to, known)
                    if target_note:
                        chains.setdefault(jump_to, target_note)
                    if names.is_hashed(jump_to):
                        step["target_note"] = target_note
                steps.append(step)
            hops.append({"hook": hop["hook"], "table": hop.get("table"), "packet": hop["packet"], "steps": steps})
        namespaces.append({"netns": netns, "what": labels.get(netns, ""), "ip_id": w["ip_id"],
                           "trace_ids": w["trace_ids"], "other_packets": 0 if netns in counted else w["other_packets"],
                           "hops": hops})
        counted.add(netns)
    notes = list(notes or [])
    if [ns["netns"] for ns in namespaces] == [source_netns] and probe.get("result") != "established":
        notes.append(f"only {source_netns} saw the packet: no node got it (from outside the cluster, "
                     f"a ClusterIP or a pod IP leads nowhere: the LAN has no route to it)")
    return {"lab": cluster.lab, "from": source_name, "source_netns": source_netns, "url": url,
            "destination": f"{probe.get('dst')}:{probe.get('dport')}", "probe": probe,
            "namespaces": namespaces, "chains": chains, "nat": nat_changes(namespaces),
            "notes": notes}


def _endpoint(pkt, which):
    if not pkt or pkt.get(which) is None:
        return None
    port = pkt.get("sport" if which == "src" else "dport")
    return f"{pkt[which]}:{port}" if port is not None else pkt[which]


def nat_changes(namespaces):
    """Where the packet's addresses changed: ``{"what": "destination"|"source", "before", "after",
    "seen_in", "by"}``, ``by`` naming the NAT rule that did it (the last one seen before)."""
    changes, last_pkt, last_nat = [], None, {"destination": None, "source": None}
    for ns in namespaces:
        for hop in ns["hops"]:
            pkt = hop.get("packet")
            if pkt and last_pkt:
                for what, key in (("destination", "dst"), ("source", "src")):
                    before, after = _endpoint(last_pkt, key), _endpoint(pkt, key)
                    if before and after and before != after:
                        changes.append({"what": what, "before": before, "after": after, "seen_in": ns["netns"],
                                        "by": last_nat[what]})
                        last_nat[what] = None
            if pkt:
                last_pkt = pkt
            for s in hop["steps"]:
                first = s["action"].split()[0]
                if first == "DNAT":
                    last_nat["destination"] = f"{ns['netns']} {s['table']} {s['chain']}: {s['action']}"
                elif first in ("SNAT", "MASQUERADE"):
                    last_nat["source"] = f"{ns['netns']} {s['table']} {s['chain']}: {s['action']}"
    return changes


def _packet_text(pkt):
    text = f"{_endpoint(pkt, 'src')} -> {_endpoint(pkt, 'dst')}"
    where = [f"in {pkt['in']}"] if pkt.get("in") else []
    where += [f"out {pkt['out']}"] if pkt.get("out") else []
    where += [f"mark {pkt['mark']}"] if pkt.get("mark") else []
    where += [f"ttl {pkt['ttl']}"] if pkt.get("ttl") is not None else []
    return text + ("  (" + ", ".join(where) + ")" if where else "")


def format_text(report):
    """The walk as a student reads it: per namespace, per hook, one line per rule that matched."""
    probe = report["probe"]
    lines = [f"Trace of one new TCP connection from {report['from']} "
             f"({probe.get('src') or '?'}:{probe.get('sport') or '?'}) to {report['destination']} "
             f"in lab {report['lab']!r}"]
    result = probe.get("result")
    if result:
        lines.append(f"Connection: {result}" + (f"; answer: {probe['answer']}" if probe.get("answer") else ""))
    width = max([len(f"{s['table']} {s['chain']}") for ns in report["namespaces"] for h in ns["hops"]
                 for s in h["steps"]] + [10])
    for ns in report["namespaces"]:
        lines.append("")
        lines.append(f"{ns['netns']} ({ns['what']})" if ns["what"] else ns["netns"])
        shown, any_steps = None, False
        for hop in ns["hops"]:
            pkt = hop.get("packet")
            view = (hop["hook"], _packet_text(pkt) if pkt else None)
            if pkt and view != shown:
                lines.append(f"  {hop['hook'] or '?'}: {view[1]}")
                shown = view
            for s in hop["steps"]:
                any_steps = True
                where = f"{s['table']} {s['chain']}".ljust(width)
                if s["type"] == "rule":
                    line = f"    {where}  rule: {s['rule']}"
                    if s.get("target_note"):
                        line += f"  ({s['target_note']})"
                    lines.append(line)
                    if is_final(s):
                        lines.append(f"    {'':{width}}  verdict {s['action']}")
                else:
                    lines.append(f"    {where}  {s['action']}")
        if not any_steps:
            lines.append("    (no iptables rule matched here)")
        if ns["other_packets"]:
            lines.append(f"    ({ns['other_packets']} more packet(s) of this connection traced here, "
                         f"retransmissions: not shown)")
    if report["chains"]:
        lines.append("")
        lines.append("Chains:")
        for chain, what in report["chains"].items():
            lines.append(f"  {chain} = {what}")
    if report["nat"]:
        lines.append("")
        lines.append("Addresses rewritten on the way:")
        for c in report["nat"]:
            by = f" by {c['by']}" if c.get("by") else ""
            lines.append(f"  {c['what']} {c['before']} -> {c['after']}{by} (seen in {c['seen_in']})")
    for note in report.get("notes") or []:
        lines.append("")
        lines.append(f"Note: {note}")
    return "\n".join(lines)
