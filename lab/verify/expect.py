"""What Kubernetes says should happen: which pods may answer a request, and how it is split.
Pure: from the cluster state, a source and a destination address.

A destination is a pod IP, a ClusterIP:port, a node IP:nodePort, a load-balancer address:port,
or something else. From outside the cluster (the client) only node ports and load-balancer
addresses are reachable; from a node or a pod everything is. A service without endpoints is
refused (kube-proxy's REJECT); externalTrafficPolicy/internalTrafficPolicy Local with no
local endpoint drops (a timeout).
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Expectation:
    outcome: str  # reached, refused, unreachable (timeout or no route), unknown
    shares: dict = field(default_factory=dict)  # pod name -> expected share of new connections
    what: str = ""  # the destination in words
    affinity: bool = False  # sessionAffinity ClientIP: one pod takes every connection

    def matches(self, outcome):
        if self.outcome == "unknown":
            return True
        if self.outcome == "unreachable":
            return outcome.kind in ("timeout", "unreachable")
        if self.outcome == "reached":  # a connect-only probe cannot say which pod took it
            return outcome.kind == "reached" and (outcome.pod is None or not self.shares or outcome.pod in self.shares)
        return outcome.kind == self.outcome


def _uniform(endpoints):
    pods = sorted({e.pod for e in endpoints if e.pod})
    return {p: 1 / len(pods) for p in pods} if pods else {}


def _ready(cluster, svc, port):
    return [e for e in cluster.endpoints_for(svc, port) if e.ready]


def source_kind(cluster, netns_name):
    """(kind, node name) of a source namespace: ("client", None), ("node", n), ("pod", n)."""
    for n in cluster.nodes:
        if n.netns == netns_name:
            return "node", n.name
    for p in cluster.pods:
        if p.netns == netns_name:
            return "pod", p.node
    return "client", None


def expect(cluster, source_netns, host, port):
    kind, src_node = source_kind(cluster, source_netns)
    inside = kind != "client"
    for pod in cluster.pods:
        if str(pod.ip) == host:
            if not inside:
                return Expectation("unreachable", what=f"pod {pod.name} (pod IPs are not routed outside the cluster)")
            ok = port in pod.serving_ports or any(p.container_port == port for p in pod.ports)
            return Expectation("reached" if ok else "refused", {pod.name: 1.0} if ok else {}, f"pod {pod.name}")
    for svc in cluster.services:
        for sp in svc.ports:
            if svc.cluster_ip == host and sp.port == port and sp.protocol == "TCP":
                name = f"ClusterIP of {svc.namespace}/{svc.name}:{sp.port}"
                if not inside:
                    return Expectation("unreachable", what=name + " (a ClusterIP is only reachable in the cluster)")
                eps = _ready(cluster, svc, sp)
                if svc.internal_traffic_policy == "Local":
                    eps = [e for e in eps if e.node == src_node]
                    if not eps and _ready(cluster, svc, sp):
                        return Expectation("unreachable", what=name + " (internalTrafficPolicy Local: none local)")
                return _to_endpoints(svc, eps, name)
            if sp.node_port == port and sp.protocol == "TCP":
                node = next((n for n in cluster.nodes if str(n.ip) == host), None)
                if node is not None:
                    return _external(cluster, svc, sp, [node], f"NodePort {port} of {svc.namespace}/{svc.name} on "
                                     f"{node.name}", kind, src_node, via_lb=False)
            if host in svc.lb_ips and sp.port == port and sp.protocol == "TCP":
                return _external(cluster, svc, sp, list(cluster.nodes), f"load balancer {host}:{port} of "
                                 f"{svc.namespace}/{svc.name}", kind, src_node, via_lb=not inside)
    return Expectation("unknown", what=f"{host}:{port}")


def _to_endpoints(svc, eps, name):
    if not eps:
        return Expectation("refused", what=name + " (no endpoints)")
    return Expectation("reached", _uniform(eps), name, affinity=svc.session_affinity == "ClientIP")


def _external(cluster, svc, sp, nodes, name, kind, src_node, via_lb):
    """A node port or load-balancer address: every endpoint (Cluster), or the nodes' local ones (Local)."""
    eps = _ready(cluster, svc, sp)
    if not eps:
        return Expectation("refused", what=name + " (no endpoints)")
    if svc.external_traffic_policy != "Local" or (kind in ("pod", "node") and not via_lb
                                                  and src_node in {n.name for n in nodes}):
        # traffic from a node's own pods or the node itself is short-circuited to the cluster-wide
        # service chain; a pod's packets to another node's NodePort leave masqueraded (flannel),
        # so they arrive there as external traffic
        return _to_endpoints(svc, eps, name)
    if via_lb:  # nginx spreads over the healthy nodes, each node over its own pods
        healthy = sorted({e.node for e in eps})
        shares = {}
        for node in healthy:
            local = sorted({e.pod for e in eps if e.node == node})
            for pod in local:
                shares[pod] = shares.get(pod, 0) + 1 / len(healthy) / len(local)
        return Expectation("reached", shares, name + " (Local: healthy nodes only)",
                           affinity=svc.session_affinity == "ClientIP")
    local = [e for e in eps if e.node in {n.name for n in nodes}]
    if not local:
        return Expectation("unreachable", what=name + " (externalTrafficPolicy Local: no local endpoint, dropped)")
    return Expectation("reached", _uniform(local), name + " (Local: this node's pods only)",
                       affinity=svc.session_affinity == "ClientIP")
