"""The packet probes of ``lab probe``, on a running lab: a SYN to a NodePort followed hop by hop,
and ARP plus a SYN for a ClusterIP from a machine on the LAN (lab.verify.packets does the
capturing and the reading)."""

from lab.errors import LabError
from lab.kernel.record import PROG
from lab.verify import packets


def source_of(cluster, name):
    """The probing machine: {"name", "role", "ip", "netns"} of a host, node or pod."""
    for h in cluster.hosts:
        if name == h.name:
            return {"name": h.name, "role": "host", "ip": str(h.ip), "netns": h.netns}
    for n in cluster.nodes:
        if name in (n.name, n.hostname):
            return {"name": n.name, "role": "node", "ip": str(n.ip), "netns": n.netns}
    pods = [p for p in cluster.pods if p.name == name]
    if len(pods) == 1:
        p = pods[0]
        return {"name": p.name, "role": "pod", "ip": str(p.ip), "netns": p.exec_netns, "node": p.node}
    if len(pods) > 1:
        raise LabError(f"several pods are named {name!r}; probe from a host or a node instead")
    names = [h.name for h in cluster.hosts] + [n.name for n in cluster.nodes]
    raise LabError(f"no host, node or pod named {name!r} (hosts and nodes: {', '.join(names)}; "
                   f"pods: see {PROG} get pods -A)")


def node_of(cluster, name):
    for n in cluster.nodes:
        if name in (n.name, n.hostname) or name == str(n.ip):
            return n
    raise LabError(f"no node named {name!r} (nodes: {', '.join(n.name for n in cluster.nodes)})")


def _endpoint_pods(cluster, svc, port):
    """(endpoint, pod) pairs of a service port, for the pods that exist."""
    out = []
    for ep in cluster.endpoints_for(svc, port):
        pod = next((p for p in cluster.pods if p.namespace == svc.namespace and p.name == ep.pod), None)
        if pod is not None:
            out.append((ep, pod))
    return out


def _service_info(svc, port, eps):
    target = sorted({ep.port for ep, _ in eps})
    return {"namespace": svc.namespace, "name": svc.name, "type": svc.type, "port": port.port,
            "target_port": target[0] if len(target) == 1 else (target or port.target_port),
            "node_port": port.node_port, "external_traffic_policy": svc.external_traffic_policy,
            "endpoints": [f"{ep.address} ({pod.name} on {pod.node})" for ep, pod in eps]}


def _points(cluster, source, eps, lan=False):
    """Capture points: FROM's eth0, the LAN gateway (br0), every node's eth0, every endpoint pod's eth0."""
    pts = [packets.Point(source["name"], source["role"], source["netns"], "eth0")]
    if lan and cluster.switch_netns:
        pts.append(packets.Point("lan", "lan", cluster.switch_netns, "br0"))
    for n in cluster.nodes:
        pts.append(packets.Point(n.name, "node", n.netns, "eth0"))
    for _, pod in eps:
        pts.append(packets.Point(pod.name, "pod", pod.exec_netns, "eth0"))
    seen, out = set(), []
    for p in pts:
        if p.netns not in seen:
            seen.add(p.netns)
            out.append(p)
    return out


def _side_effects(what, fn, *args):
    try:
        return fn(*args)
    except FileNotFoundError as exc:
        raise LabError(f"{what}: a namespace of the lab is missing ({exc.filename}); is the lab healthy? "
                       f"(see {PROG} status)") from None
    except PermissionError:
        raise LabError(f"{what}: needs root (raw sockets inside the lab's namespaces); run with sudo") from None
    except OSError as exc:
        raise LabError(f"{what}: {exc.strerror or exc}") from None


# the probes -----------------------------------------------------------------------------------

def probe_nodeport(cluster, source_name, node_name, port_number, timeout=2.0):
    source = source_of(cluster, source_name)
    node = node_of(cluster, node_name)
    found = [(s, p) for s in cluster.services for p in s.ports if p.node_port == port_number and p.protocol == "TCP"]
    if not found:
        raise LabError(f"no service has the TCP NodePort {port_number} (see: {PROG} get svc -A)")
    svc, port = found[0]
    eps = _endpoint_pods(cluster, svc, port)
    points = _points(cluster, source, eps)
    connection, seen = _side_effects("probe nodeport", packets.trace_tcp, points, source["netns"], str(node.ip),
                                     port_number, timeout)
    has_local = any(ep.node == node.name for ep, _ in eps)
    return packets.nodeport_report(cluster.lab, _public(source), {"name": node.name, "ip": str(node.ip)}, port_number,
                                   _service_info(svc, port, eps), connection, seen, packets.address_book(cluster),
                                   target_has_local_pod=has_local)


def probe_clusterip(cluster, source_name, ip_text, port_number=None, timeout=1.0):
    source = source_of(cluster, source_name)
    ip = packets.valid_ipv4(ip_text)
    if ip is None:
        raise LabError(f"{ip_text!r} is not an IPv4 address")
    svc = next((s for s in cluster.services if s.cluster_ip == ip), None)
    service, eps = None, []
    if svc is not None:
        tcp = [p for p in svc.ports if p.protocol == "TCP"]
        if port_number is None:
            if not tcp:
                raise LabError(f"service {svc.namespace}/{svc.name} has no TCP port; say which with --port")
            port = tcp[0]
        else:
            port = next((p for p in tcp if p.port == port_number), None)
        if port is not None:
            eps = _endpoint_pods(cluster, svc, port)
            service = _service_info(svc, port, eps)
            port_number = port.port
        else:
            service = {"namespace": svc.namespace, "name": svc.name, "type": svc.type, "port": port_number}
    elif port_number is None:
        raise LabError(f"{ip} is not the ClusterIP of any service (see: {PROG} get svc -A); "
                       "to probe it anyway, say which port with --port")
    if source["role"] == "pod":
        gw = str(cluster.node(source["node"]).pod_gateway)
        control = (gw, f"control: node {source['node']}'s cni0, this pod's gateway")
    else:
        control = (str(cluster.gateway), "control: the LAN gateway")
    arp = _side_effects("probe clusterip (ARP)", packets.arp_probe, source["netns"], "eth0", source["ip"],
                        [ip, control[0]], timeout)
    arp["queries"][0]["note"] = "the ClusterIP"
    arp["queries"][1]["note"] = control[1]
    points = _points(cluster, source, eps, lan=source["role"] in ("host", "node"))
    connection, seen = _side_effects("probe clusterip", packets.trace_tcp, points, source["netns"], ip,
                                     port_number, timeout)
    return packets.clusterip_report(cluster.lab, _public(source), ip, port_number, service, arp, connection, seen,
                                    packets.address_book(cluster))


def _public(source):
    return {k: v for k, v in source.items() if k != "netns"}
