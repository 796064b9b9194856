"""A lab's topology with its services overlaid, as Mermaid and Graphviz DOT text (pure), and SVG or
PNG rendered by Graphviz's ``dot``.

``scene(state)`` lays the cluster state out as nested boxes and links (the LAN, its machines,
each node's eth0, cni0 and pods; services and the pods that back them); ``mermaid`` and ``dot``
print one scene in either language, in a fixed order, so the same state gives the same text.
"""

import ipaddress
import re
import shutil
import subprocess
from dataclasses import dataclass

from lab.errors import LabError
from lab.net import nginx

SYSTEM_NAMESPACES = ("kube-system",)


@dataclass(frozen=True)
class Box:
    id: str
    lines: tuple  # the label, one line each
    kind: str  # switch, host, lb, eth, bridge, pod, pod-notready, pod-terminating, service, address


@dataclass(frozen=True)
class Group:
    id: str
    title: str
    kind: str  # lan, node, node-notready, services
    boxes: tuple = ()
    groups: tuple = ()


@dataclass(frozen=True)
class Link:
    src: str
    dst: str
    kind: str  # wire (a cable or veth, no direction), backend, backend-notready, lb
    label: str = ""


@dataclass(frozen=True)
class Scene:
    title: str
    groups: tuple
    links: tuple


# the scene --------------------------------------------------------------------------------------

def is_system(obj):
    """The cluster's own objects: kube-system's, and the apiserver's ``kubernetes`` service."""
    if obj.namespace in SYSTEM_NAMESPACES:
        return True
    return getattr(obj, "key", None) == ("default", "kubernetes") and obj.selector is None


def _id(prefix, *parts):
    """An identifier both languages take; distinct names give distinct ids ('a-b' and 'a.b' too)."""
    def word(text):
        text = re.sub(r"[^A-Za-z0-9-]", lambda m: f"_x{ord(m.group()):x}_", text)
        return text.replace("-", "_")
    return "_".join([prefix] + [word(p) for p in parts])


def _qualified(obj):
    return obj.name if obj.namespace == "default" else f"{obj.namespace}/{obj.name}"


def scene(cluster, include_system=False):
    pods = [p for p in cluster.pods if include_system or not is_system(p)]
    services = sorted((s for s in cluster.services if include_system or not is_system(s)), key=lambda s: s.key)
    pod_ids = {(p.namespace, p.name): _id("pod", p.namespace, p.name) for p in pods}
    # where an endpoint without a pod of the service's namespace lands: a pod or a node by address
    address_ids = {**{str(n.ip): _id("eth", n.name) for n in cluster.nodes},
                   **{str(p.ip): pod_ids[(p.namespace, p.name)] for p in pods}}

    lan_boxes = [Box("lan_switch", ("LAN switch br0", f"gateway {cluster.gateway}"), "switch")]
    links = []
    for h in cluster.hosts:
        lan_boxes.append(Box(_id("host", h.name), (h.name, str(h.ip)), "host"))
        links.append(Link("lan_switch", _id("host", h.name), "wire"))
    if cluster.lb is not None:
        lan_boxes.append(Box("lb", _lb_lines(cluster), "lb"))
        links.append(Link("lan_switch", "lb", "wire"))
    node_groups = []
    for node in cluster.nodes:
        group, node_links = _node(node, [p for p in pods if p.node == node.name], pod_ids)
        node_groups.append(group)
        links += [Link("lan_switch", _id("eth", node.name), "wire")] + node_links
    lan = Group("lan", f"LAN {cluster.lan_cidr}", "lan", tuple(lan_boxes), tuple(node_groups))

    service_boxes, addresses = [], {}
    for svc in services:
        service_boxes.append(Box(_id("svc", svc.namespace, svc.name), _service_lines(cluster, svc), "service"))
        links += _backend_links(cluster, svc, pod_ids, address_ids, addresses)
    service_boxes += [Box(box_id, ("endpoint", ip), "address")
                      for ip, box_id in sorted(addresses.items(), key=lambda kv: ipaddress.ip_address(kv[0]))]
    links += _lb_links(cluster, services)
    groups = (lan,) + ((Group("services", "Services", "services", tuple(service_boxes)),) if service_boxes else ())
    kp = cluster.kube_proxy
    title = f"lab {cluster.lab}: kube-proxy {kp.mode} (profile {kp.profile})"
    return Scene(title, groups, tuple(links))


def _lb_lines(cluster):
    if not nginx.needs_nginx(cluster):
        return ("load balancer (idle)", str(cluster.lb.ip))
    held = sorted({ip for s in cluster.services for ip in s.lb_ips}, key=ipaddress.ip_address)
    return ("load balancer (nginx)", str(cluster.lb.ip)) + tuple(f"holds {ip}" for ip in held)


def _node(node, pods, pod_ids):
    eth, cni0 = _id("eth", node.name), _id("cni0", node.name)
    boxes = [Box(eth, ("eth0", str(node.ip)), "eth"),
             Box(cni0, ("cni0", f"{node.pod_gateway}/{node.pod_cidr.prefixlen}"), "bridge")]
    links = [Link(eth, cni0, "wire")]
    for p in sorted(pods, key=lambda p: (p.ip, p.namespace, p.name)):
        status = "terminating" if p.terminating else ("ready" if p.ready else "not ready")
        kind = {"ready": "pod", "not ready": "pod-notready", "terminating": "pod-terminating"}[status]
        pod_id = pod_ids[(p.namespace, p.name)]
        boxes.append(Box(pod_id, (_qualified(p), f"{p.ip}  {status}"), kind))
        links.append(Link(cni0, pod_id, "wire"))
    title = f"node {node.name} ({node.hostname})" + ("" if node.ready else " NotReady")
    return Group(_id("node", node.name), title, "node" if node.ready else "node-notready", tuple(boxes)), links


def _service_lines(cluster, svc):
    kind = svc.type
    if svc.cluster_ip == "None":
        kind += ", headless"
    if svc.external_traffic_policy == "Local" and svc.type in ("NodePort", "LoadBalancer"):
        kind += ", externalTrafficPolicy Local"
    if svc.internal_traffic_policy == "Local":
        kind += ", internalTrafficPolicy Local"
    if svc.session_affinity == "ClientIP":
        kind += ", sessionAffinity ClientIP"
    lines = [_qualified(svc), kind]
    if svc.type == "ExternalName":
        return tuple(lines + [f"-> {svc.external_name}"])
    lines.append(f"ClusterIP {svc.cluster_ip}")
    for p in svc.ports:
        text = f"{p.port}/{p.protocol} -> {p.target_port}"
        lines.append(text + (f", NodePort {p.node_port} on every node" if p.node_port else ""))
    external = list(svc.lb_ips) + list(svc.external_ips)
    if external:
        lines.append("external " + ", ".join(external))
    elif svc.type == "LoadBalancer":
        lines.append("external <pending>")
    if not any(cluster.endpoints_for(svc, p) for p in svc.ports):
        lines.append("no endpoints")
    return tuple(lines)


def _backend_links(cluster, svc, pod_ids, address_ids, addresses):
    """One link per (service, backend), labelled with the ports it serves the service on."""
    backends = {}  # target id -> (ports, worst state)
    for port in svc.ports:
        for e in cluster.endpoints_for(svc, port):
            target = pod_ids.get((svc.namespace, e.pod)) if e.pod else None
            target = target or address_ids.get(str(e.ip))
            if target is None:
                target = addresses.setdefault(str(e.ip), _id("addr", str(e.ip).replace(".", "-")))
            ports, condition = backends.get(target, ([], ""))
            port_text = f"{e.port}/{port.protocol}"
            if port_text not in ports:
                ports.append(port_text)
            if e.terminating:
                condition = "terminating"
            elif not e.ready and not condition:
                condition = "not ready"
            backends[target] = (ports, condition)
    source = _id("svc", svc.namespace, svc.name)
    return [Link(source, target, "backend-notready" if condition else "backend",
                 ", ".join(ports) + (f" ({condition})" if condition else ""))
            for target, (ports, condition) in backends.items()]


def _lb_links(cluster, services):
    if cluster.lb is None or not nginx.needs_nginx(cluster):
        return []
    shown = {s.key for s in services}
    links = [Link("lb", _id("svc", s.namespace, s.name), "lb", ", ".join(f"{ip}:{p.port}" for ip in s.lb_ips
                                                                         for p in s.ports))
             for s in services if s.lb_ips]
    links += [Link("lb", _id("svc", f.namespace, f.service), "lb", f"Host {f.host}")
              for f in cluster.frontends if (f.namespace, f.service) in shown]
    return links


def all_groups(groups):
    for g in groups:
        yield g
        yield from all_groups(g.groups)


# Mermaid ----------------------------------------------------------------------------------------

MERMAID_STYLES = {
    "switch": "fill:#e8e8e8,stroke:#555", "host": "fill:#fff2cc,stroke:#b58900",
    "lb": "fill:#e6d5f5,stroke:#6c3fa0", "eth": "fill:#dae8fc,stroke:#4a6fa5",
    "bridge": "fill:#dae8fc,stroke:#4a6fa5", "pod": "fill:#d5f5d5,stroke:#2a7d2a",
    "pod-notready": "fill:#fde2c8,stroke:#c06000", "pod-terminating": "fill:#eeeeee,stroke:#888,stroke-dasharray:4",
    "service": "fill:#fff9c4,stroke:#a08000", "address": "fill:#ffffff,stroke:#888",
}
MERMAID_GROUP_STYLES = {
    "lan": "fill:#f7f7f7,stroke:#999", "node": "fill:#eef4fb,stroke:#4a6fa5",
    "node-notready": "fill:#fbeeee,stroke:#c00,stroke-dasharray:5", "services": "fill:#fffdf0,stroke:#a08000",
}
MERMAID_ARROWS = {"wire": "---", "backend": "-->", "backend-notready": "-.->", "lb": "==>"}


def _mermaid_text(text):
    for raw, entity in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(raw, entity)
    return text


def mermaid(sc):
    title = sc.title.replace("\\", "\\\\").replace('"', '\\"')  # a YAML double-quoted string
    out = ["---", f'title: "{title}"', "---", "flowchart TB"]

    def group(g, indent):
        out.append(f'{indent}subgraph {g.id}["{_mermaid_text(g.title)}"]')
        for b in g.boxes:
            out.append(f'{indent}  {b.id}["{"<br/>".join(_mermaid_text(line) for line in b.lines)}"]')
        for child in g.groups:
            group(child, indent + "  ")
        out.append(f"{indent}end")

    for g in sc.groups:
        group(g, "  ")
    for link in sc.links:
        label = f'|"{_mermaid_text(link.label)}"|' if link.label else ""
        out.append(f"  {link.src} {MERMAID_ARROWS[link.kind]}{label} {link.dst}")
    boxes = [b for g in all_groups(sc.groups) for b in g.boxes]
    for kind, style in MERMAID_STYLES.items():
        ids = [b.id for b in boxes if b.kind == kind]
        if ids:
            name = kind.replace("-", "_")
            out.append(f"  classDef {name} {style}")
            out.append(f"  class {','.join(ids)} {name}")
    for g in all_groups(sc.groups):
        out.append(f"  style {g.id} {MERMAID_GROUP_STYLES[g.kind]}")
    return "\n".join(out) + "\n"


# Graphviz DOT -----------------------------------------------------------------------------------

DOT_BOXES = {
    "switch": 'shape=box, style="filled", fillcolor="#e8e8e8", color="#555555"',
    "host": 'shape=box, style="rounded,filled", fillcolor="#fff2cc", color="#b58900"',
    "lb": 'shape=box, style="rounded,filled", fillcolor="#e6d5f5", color="#6c3fa0"',
    "eth": 'shape=box, style="filled", fillcolor="#dae8fc", color="#4a6fa5"',
    "bridge": 'shape=box, style="filled", fillcolor="#dae8fc", color="#4a6fa5"',
    "pod": 'shape=box, style="rounded,filled", fillcolor="#d5f5d5", color="#2a7d2a"',
    "pod-notready": 'shape=box, style="rounded,filled", fillcolor="#fde2c8", color="#c06000"',
    "pod-terminating": 'shape=box, style="rounded,filled,dashed", fillcolor="#eeeeee", color="#888888"',
    "service": 'shape=box, style="filled", fillcolor="#fff9c4", color="#a08000"',
    "address": 'shape=box, style="dashed", color="#888888"',
}
DOT_GROUPS = {
    "lan": 'style="filled", fillcolor="#f7f7f7", color="#999999"',
    "node": 'style="rounded,filled", fillcolor="#eef4fb", color="#4a6fa5"',
    "node-notready": 'style="rounded,filled,dashed", fillcolor="#fbeeee", color="#cc0000"',
    "services": 'style="filled", fillcolor="#fffdf0", color="#a08000"',
}
DOT_LINKS = {
    "wire": 'dir=none, color="#555555"',
    "backend": 'color="#a08000", fontcolor="#806000"',
    "backend-notready": 'color="#c06000", fontcolor="#c06000", style=dashed',
    "lb": 'color="#6c3fa0", fontcolor="#6c3fa0", penwidth=2',
}


def _dot_text(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(lines):
    return '"' + "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines) + '"'


def dot(sc):
    out = ["digraph svclab {",
           f'  graph [label={_dot_text(sc.title)}, labelloc=t, fontname="Helvetica", fontsize=16, '
           'rankdir=TB, nodesep=0.3, ranksep=0.5, newrank=true];',
           '  node [fontname="Helvetica", fontsize=11];',
           '  edge [fontname="Helvetica", fontsize=9];']

    def group(g, indent):
        out.append(f"{indent}subgraph cluster_{g.id} {{")
        out.append(f"{indent}  graph [label={_dot_text(g.title)}, {DOT_GROUPS[g.kind]}];")
        if g.kind == "services" and g.boxes:  # one row under the LAN, whatever their links
            out.append(f"{indent}  {{rank=same; {'; '.join(b.id for b in g.boxes)}}}")
        for b in g.boxes:
            out.append(f"{indent}  {b.id} [label={_dot_label(b.lines)}, {DOT_BOXES[b.kind]}];")
        for child in g.groups:
            group(child, indent + "  ")
        out.append(f"{indent}}}")

    for g in sc.groups:
        group(g, "  ")
    for link in sc.links:
        label = f"label={_dot_text(link.label)}, " if link.label else ""
        if link.kind.startswith("backend"):
            # written pod -> service with the arrow drawn backwards, so services rank below the pods
            out.append(f"  {link.dst} -> {link.src} [{label}dir=back, {DOT_LINKS[link.kind]}];")
        else:
            out.append(f"  {link.src} -> {link.dst} [{label}{DOT_LINKS[link.kind]}];")
    out.append("}")
    return "\n".join(out) + "\n"


def render_with_dot(dot_text, fmt):
    """SVG or PNG bytes from Graphviz's ``dot``."""
    if shutil.which("dot") is None:
        raise LabError(f"--format {fmt} needs Graphviz's dot, which is not installed: install it with "
                       "'apt-get install graphviz', or use --format mermaid|dot")
    try:
        done = subprocess.run(["dot", f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise LabError(f"dot -T{fmt} took over 60 s; use --format dot and render it yourself") from None
    if done.returncode != 0:
        problem = done.stderr.decode(errors="replace").strip().splitlines()
        raise LabError(f"dot -T{fmt} failed: {problem[0] if problem else f'exit code {done.returncode}'}")
    return done.stdout
