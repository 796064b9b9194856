"""``lab explain``: a service's or a pod's networking, in words and in the node's real rules. Pure.

For a service, every way in (its ClusterIP, each node's NodePort, external and load-balancer
IPs) is walked through the rules a node really has (read back by lab.proxy.ruleset), the way the
first packet of a new connection would go: base chain, KUBE-SERVICES, KUBE-SVC, KUBE-SEP, DNAT.
What depends on the unknown source (masquerade marks, hairpin, traffic policies, session
affinity) and on chance (``-m statistic``, ``numgen``) becomes branches said in words; hashed
chain names are named after their service and pod. The cluster state only names things: the
path itself is whatever the node's rules say, so a rule a student deleted is simply not there.
"""

from dataclasses import replace

from lab.classroom.explain.match import MASQ_CHAINS
from lab.classroom.explain.walk import DROP_CHAINS, State, entries, flow, fraction_words, stages
from lab.proxy import modes, names, options

CHAIN_ROLES = {
    "SVC": "the service port's chain: picks one endpoint per new connection",
    "SVL": "the service port's local endpoints only (traffic policy Local)",
    "EXT": "traffic from outside the service's ClusterIP (NodePort, external or load-balancer IP)",
    "FW": "the load-balancer IP's source ranges (loadBalancerSourceRanges)",
    "XLB": "external traffic under externalTrafficPolicy Local (kube-proxy 1.18)",
    "SEP": "one endpoint: DNAT to it",
}


# naming things -------------------------------------------------------------------------------

def source_context(cluster, svc):
    """Addresses and CIDRs the lab knows, in words, for the source conditions."""
    ctx = {str(cluster.cluster_cidr): ("a pod", "not a pod: a node, or a machine outside the cluster"),
           "127.0.0.0/8": ("localhost", "not localhost")}
    endpoint_pods = {e.pod for port in svc.ports for e in cluster.endpoints_for(svc, port)} if svc else set()
    for n in cluster.nodes:
        ctx[str(n.ip)] = (f"node {n.name}", f"not node {n.name}")
        ctx[str(n.pod_cidr)] = (f"a pod on {n.name}", f"not a pod on {n.name}")
    for p in cluster.pods:
        own = f"pod {p.name} itself: hairpin" if p.name in endpoint_pods else ""
        ctx[str(p.ip)] = (own or f"pod {p.name}", f"not pod {p.name}")
    ctx[str(cluster.lan_cidr)] = ("the LAN", "not the LAN")
    if svc:  # -m recent lists are named after the endpoint chain
        for p in svc.ports:
            name = names.service_port_name(svc.namespace, svc.name, p.name, _trailing_colon(cluster))
            for e in cluster.endpoints_for(svc, p):
                chain = names.endpoint_chain(name, p.protocol, e.address)
                ctx[chain] = (f"pod {e.pod}" if e.pod else e.address, "")
    return ctx


def _trailing_colon(cluster):
    profile = options.PROFILES.get(cluster.kube_proxy.profile)
    return bool(profile and profile.trailing_colon)


def chain_notes(cluster, rs):
    """{chain: what it is} for the hashed chains (iptables) or service chains (nftables)."""
    mode = modes.MODES[rs.kind]
    if mode is modes.NFTABLES:
        return {chain: _nft_chain_note(chain, cluster) for (_, chain) in rs.chains if mode.is_service_chain(chain)}
    known = names.chain_owners(cluster) if cluster.kube_proxy.profile in options.PROFILES else {}
    out = {}
    for (_, chain), rules in rs.chains.items():
        if not mode.is_service_chain(chain):
            continue
        kind = chain.split("-")[1]
        what = known.get(chain) or next((r.comment for r in rules if r.comment), None)
        out[chain] = f"{what} ({CHAIN_ROLES[kind]})" if what else \
            f"{CHAIN_ROLES[kind]}; not in the lab's cluster state (a stale chain?)"
    return out


def _nft_chain_note(chain, cluster):
    kind, _, rest = chain.partition("-")
    name = rest.split("-", 1)[1] if "-" in rest else rest
    roles = {"service": "SVC", "local": "SVL", "external": "EXT", "firewall": "FW", "endpoint": "SEP"}
    role = CHAIN_ROLES.get(roles.get(kind, ""), kind)
    if kind == "endpoint" and "__" in name:
        svc_part, ep = name.split("__", 1)
        ip, _, port = ep.rpartition("/")
        pod = pod_at(cluster, ip)
        return f"{svc_part} -> {('pod ' + pod.name + ' ') if pod else ''}{ip}:{port} ({role})"
    return f"{name} ({role})"


def pod_at(cluster, ip):
    return next((p for p in cluster.pods if str(p.ip) == str(ip)), None)


def _destination_words(cluster, address):
    ip = address.rsplit(":", 1)[0]
    pod = pod_at(cluster, ip)
    if pod:
        return f"pod {pod.name} ({address}, on {pod.node})"
    node = next((n for n in cluster.nodes if str(n.ip) == ip), None)
    return f"{address} (node {node.name})" if node else address


def _target_words(target, notes):
    note = notes.get(target) or names.CHAIN_NOTES.get(target)
    return f"{target} = {note}" if note else target


def step_words(step, cluster, notes, masq_mark):
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
        text = f"DNAT: the destination becomes {_destination_words(cluster, oc.to or '?')}"
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


def _step_line(step, cluster, notes, masq_mark):
    parts = []
    if step.otherwise:
        parts.append("otherwise")
    if step.conds:
        parts.append("if " + " and ".join(step.conds))
    if step.share_text:
        parts.append(step.share_text)
    head = ", ".join(parts)
    words = step_words(step, cluster, notes, masq_mark)
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
    mode = modes.MODES[rs.kind]
    out = []
    for table, chain in (mode.mark_chain, mode.masquerade_chain):
        for r in rs.rules(table, chain) or []:
            out.append(r.text if mode is modes.IPTABLES else f"chain {chain}: {r.text}")
    return out


def _leaf_dict(leaf, cluster, node):
    step = leaf.step
    verdict = step.outcome.verdict if step else "none"
    masq = list(dict.fromkeys(leaf.state.masq))
    masq = ["always"] if "always" in masq else masq
    out = {"conditions": list(leaf.state.conds), "otherwise": leaf.state.otherwise,
           "share": fraction_words(leaf.state.share), "verdict": verdict, "masquerade": masq}
    if step and verdict == "DNAT":
        out["to"] = step.outcome.to
        ip = (step.outcome.to or "").rsplit(":", 1)[0]
        # the hairpin rule names the endpoint's own address: say it once for every endpoint
        out["masquerade"] = [HAIRPIN if m.startswith(f"the source is {ip} ") or m == f"the source is {ip}" else m
                             for m in masq]
        pod = pod_at(cluster, ip)
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


def summary(stage_list, cluster, node):
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
    paths = [_leaf_dict(l, cluster, node) for l in leaves]
    dnat = [p for p in paths if p["verdict"] == "DNAT"]
    if not dnat and not any(p["verdict"] in ("REJECT", "DROP") for p in paths):
        paths += [{"conditions": list(s.conds), "otherwise": s.otherwise, "share": fraction_words(s.share), "verdict": "none",
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


def step_dict(step, cluster, notes, masq_mark):
    oc = step.outcome
    out = {"table": step.rule.table, "chain": step.rule.chain, "rule": step.rule.text,
           "conditions": step.conds, "otherwise": step.otherwise, "verdict": oc.verdict,
           "explain": _step_line(step, cluster, notes, masq_mark)}
    if step.share is not None:
        out["share"] = fraction_words(step.share)
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
        out["steps"] = [step_dict(s, cluster, notes, masq_mark) for s in step.child.steps]
        if step.child.missing:
            out["missing_chain"] = True
    return out


def service_report(cluster, svc, node_rules, node_names=None):
    """Everything ``lab explain svc`` says, as plain data (what ``-o json`` prints).

    ``node_rules`` is ``{node name: (Ruleset, [local addresses], source description)}``.
    """
    ctx = source_context(cluster, svc)
    nodes = []
    for node in cluster.nodes:
        if node.name not in node_rules or (node_names and node.name not in node_names):
            continue
        rs, addresses, source = node_rules[node.name]
        notes = chain_notes(cluster, rs)
        mark = masq_mark_of(rs)
        items, used = [], {}
        for e in entries(svc, node):
            st = stages(rs, e, addresses, ctx)
            for s in st:
                _collect_targets(s.visit, notes, used)
            items.append({"kind": e.kind, "address": f"{e.ip}:{e.port}", "protocol": e.protocol,
                          "port_name": e.port_name, "words": summary(st, cluster, node),
                          "stages": [{"hook": s.hook, "table": s.table, "chain": s.chain, "label": s.label,
                                      "steps": [step_dict(x, cluster, notes, mark) for x in s.visit.steps]}
                                     for s in st]})
        nodes.append({"node": node.name, "netns": node.netns, "ip": str(node.ip), "rules_from": source,
                      "entries": items, "chains": used, "masquerade_mark": mark,
                      "masquerade_rules": masquerade_rules(rs)})
    return {"lab": cluster.lab, "mode": cluster.kube_proxy.mode, "profile": cluster.kube_proxy.profile,
            "service": _service_dict(cluster, svc), "nodes": nodes}


def _collect_targets(visit, notes, used):
    for s in visit.steps:
        t = s.outcome.target
        if t and t in notes:
            used.setdefault(t, notes[t])
        if s.child is not None:
            _collect_targets(s.child, notes, used)


def _service_dict(cluster, svc):
    ports = []
    for p in svc.ports:
        eps = []
        for e in cluster.endpoints_for(svc, p):
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


def intro_lines(cluster, s):
    """The service in words, from the cluster state."""
    d = _service_dict(cluster, s)
    lines = [f"Service {s.namespace}/{s.name}: type {s.type}, ClusterIP {s.cluster_ip}"
             + (f", external IPs {', '.join(s.external_ips)}" if s.external_ips else "")
             + (f", load-balancer IP {', '.join(s.lb_ips)}" if s.lb_ips else "")]
    sel = ",".join(f"{k}={v}" for k, v in (s.selector or ()))
    lines.append(f"  selector {sel or '<none>'}; kube-proxy {cluster.kube_proxy.mode}, profile {cluster.kube_proxy.profile}")
    for p in d["ports"]:
        name = f" ({p['name']})" if p["name"] else ""
        node_port = f", NodePort {p['nodePort']} on every node" if p["nodePort"] else ""
        lines.append(f"  port {p['port']}/{p['protocol']}{name} -> targetPort {p['targetPort']}{node_port}")
        if not p["endpoints"]:
            lines.append("    endpoints: none (kube-proxy REJECTs new connections)")
        for e in p["endpoints"]:
            condition = "ready" if e["ready"] else ("terminating, serving" if e["serving"] else "not ready")
            lines.append(f"    endpoint {e['address']}  pod {e['pod']} on {e['node']} ({condition})")
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
    mode = modes.MODES[rs_kind]
    mark_chain, post = mode.mark_chain[1], mode.masquerade_chain[1]
    return [f"# {mark_chain} only sets mark {mark} on the packet. In nat POSTROUTING, {post} lets unmarked",
            "# packets go, clears the mark and MASQUERADEs the rest: their source becomes the address of the",
            f"# interface they leave {node.name} by ({node.ip} on eth0, {node.pod_gateway} on cni0). The pod then sees",
            "# the node, not the client, and its answer comes back through this node, which undoes the NAT."]


def format_service(report, cluster, svc):
    lines = intro_lines(cluster, svc)
    for n in report["nodes"]:
        node = cluster.node(n["node"])
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
