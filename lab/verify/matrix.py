"""Who can reach what: every source (the client, each node, a pod on each node) against every
target (pod IPs, ClusterIPs, node ports on each node, load-balancer addresses, DNS names),
with the outcome Kubernetes semantics predict beside the one observed."""

from dataclasses import dataclass

from lab.tables import table
from lab.verify import expect, probe

CELL = {"refused": "refused", "timeout": "timeout", "unreachable": "no route"}


@dataclass
class Cell:
    got: str  # pod short name, refused, timeout, no route, resolved address, nxdomain
    expected: str
    deviation: bool


def sources(cluster):
    out = [(h.name, h.netns) for h in cluster.hosts] + [(n.name, n.netns) for n in cluster.nodes]
    for node in cluster.nodes:
        pods = sorted(cluster.pods_on(node.name), key=lambda p: (p.app == "coredns", p.name))
        if pods:
            out.append((pods[0].name, pods[0].exec_netns))
    return out


def targets(cluster):
    """(label, kind, host, port, connect_only) for every probe target."""
    out = [(f"pod {p.name}", "tcp", str(p.ip), p.serving_ports[0], False)
           for p in cluster.pods if p.app in ("kubia", "echo")]
    for s in cluster.services:
        if s.selector is None or s.cluster_ip in (None, "None"):
            continue
        web = _serves_http(cluster, s)
        for p in s.ports:
            if p.protocol != "TCP":
                continue
            out.append((f"{s.name}:{p.port} ClusterIP", "tcp", s.cluster_ip, p.port, not web))
            if p.node_port:
                out += [(f"{s.name} {n.name}:{p.node_port}", "tcp", str(n.ip), p.node_port, not web)
                        for n in cluster.nodes]
            out += [(f"{s.name} LB {ip}:{p.port}", "tcp", ip, p.port, not web) for ip in s.lb_ips]
    for s in cluster.services:
        if s.selector is not None and s.type != "ExternalName":
            out.append((f"dns {s.name}.{s.namespace}", "dns", f"{s.name}.{s.namespace}", None, False))
    return out


def _serves_http(cluster, svc):
    return any(p.app in ("kubia", "echo") for p in cluster.pods
               if p.namespace == svc.namespace and all(p.label_dict.get(k) == v for k, v in svc.selector))


def _short(pod):
    return pod.rsplit("-", 1)[-1] if pod else "ok"


def measure(cluster, timeout=1.0):
    srcs, tgts = sources(cluster), targets(cluster)
    tcp = [(s, t) for s in srcs for t in tgts if t[1] == "tcp"]
    outcomes = probe.run(_all(tcp, timeout))
    cells = {}
    for (src, tgt), outcome in zip(tcp, outcomes):
        exp = expect.expect(cluster, src[1], tgt[2], tgt[3])
        got = _short(outcome.pod) if outcome.ok else CELL.get(outcome.kind, outcome.kind)
        cells[(src[0], tgt[0])] = Cell(got, exp.outcome, not exp.matches(outcome))
    for src in srcs:
        kind, _ = expect.source_kind(cluster, src[1])
        for tgt in tgts:
            if tgt[1] != "dns":
                continue
            addresses = probe.resolve(cluster, src[1], tgt[2], timeout)
            svc = cluster.service(*reversed(tgt[2].split(".", 1)))
            wanted = [svc.cluster_ip] if svc.cluster_ip != "None" else None
            ok = (addresses == wanted or (wanted is None and bool(addresses))) if kind != "client" else not addresses
            cells[(src[0], tgt[0])] = Cell(",".join(addresses) or "nxdomain",
                                           "resolved" if kind != "client" else "unresolved", not ok)
    return srcs, tgts, cells


async def _all(pairs, timeout):
    import asyncio
    return await asyncio.gather(*(probe.http_get(src[1], tgt[2], tgt[3], "/", timeout, connect_only=tgt[4])
                                  for src, tgt in pairs))


def render(srcs, tgts, cells):
    headers = ["TARGET \\ FROM"] + [_column(s[0]) for s in srcs]
    rows = []
    for t in tgts:
        row = [t[0]]
        for s in srcs:
            c = cells[(s[0], t[0])]
            row.append(c.got + ("!" if c.deviation else ""))
        rows.append(row)
    deviations = [(s, t, c) for (s, t), c in cells.items() if c.deviation]
    lines = [table(headers, rows), "",
             "a pod's name means it answered (its last 5 characters); refused: REJECTed or nothing listening; "
             "timeout: dropped or not routed; ! marks a result Kubernetes semantics do not predict"]
    if deviations:
        lines.append("")
        lines.append(f"{len(deviations)} deviation(s):")
        lines += [f"  {s} -> {t}: expected {c.expected}, got {c.got}" for s, t, c in deviations]
    else:
        lines.append("no deviations: every result is what Kubernetes semantics predict")
    return "\n".join(lines)


def _column(name):
    return name if len(name) <= 12 else name[:6] + "~" + name[-5:]


def as_json(srcs, tgts, cells):
    return [{"from": s[0], "target": t[0], "got": cells[(s[0], t[0])].got,
             "expected": cells[(s[0], t[0])].expected, "deviation": cells[(s[0], t[0])].deviation}
            for t in tgts for s in srcs]
