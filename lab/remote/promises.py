"""The split of new connections Kubernetes promises for a destination, from a cluster's own
Service and Endpoints objects (as lab.verify.expect does from a lab's state). Pure."""

from lab.verify.expect import Expectation


def _ready(endpoints, port_name):
    """[(pod name, node name)] of the ready addresses for the service port named ``port_name``."""
    out = []
    for subset in (endpoints or {}).get("subsets") or []:
        names = {p.get("name") or "" for p in subset.get("ports") or []}
        if port_name not in names and len(names) > 1:
            continue
        for a in subset.get("addresses") or []:
            out.append(((a.get("targetRef") or {}).get("name") or a.get("ip"), a.get("nodeName")))
    return out


def _uniform(eps, what, affinity):
    pods = sorted({p for p, _ in eps})
    if not pods:
        return Expectation("refused", what=what + " (no endpoints)")
    return Expectation("reached", {p: 1 / len(pods) for p in pods}, what, affinity=affinity)


def expectation(host, port, services, endpoints, nodes, source_node=None):
    """``services``: Service objects; ``endpoints``: {(namespace, name): Endpoints object};
    ``nodes``: ClusterNodes; ``source_node``: the cluster node the request leaves from."""
    node_at = {n.ip: n.name for n in nodes}
    for s in services:
        meta, spec = s["metadata"], s.get("spec") or {}
        key = (meta.get("namespace"), meta["name"])
        affinity = spec.get("sessionAffinity") == "ClientIP"
        ingress = [i.get("ip") for i in ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
        for p in spec.get("ports") or []:
            if (p.get("protocol") or "TCP") != "TCP":
                continue
            eps = _ready(endpoints.get(key), p.get("name") or "")
            name = f"{key[0]}/{key[1]}:{p.get('port')}"
            if spec.get("clusterIP") == host and p.get("port") == port:
                if spec.get("internalTrafficPolicy") == "Local" and eps:
                    eps = [e for e in eps if e[1] == source_node]
                return _uniform(eps, f"ClusterIP of {name}", affinity)
            local = spec.get("externalTrafficPolicy") == "Local"
            if p.get("nodePort") == port and host in node_at:
                node = node_at[host]
                if local and node != source_node:
                    eps = [e for e in eps if e[1] == node]
                return _uniform(eps, f"NodePort {port} of {name} on {node}", affinity)
            if host in ingress and p.get("port") == port:
                return _uniform(eps, f"load balancer {host}:{port} of {name}", affinity)
    return Expectation("unknown", what=f"{host}:{port}")
