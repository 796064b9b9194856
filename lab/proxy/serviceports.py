"""The Kubernetes logic every kube-proxy mode shares: which services get rules, each service
port with its endpoints categorized for one node (``CategorizeEndpoints``), the source ranges
of a load balancer, and the endpoints a health check counts. Pure."""

import ipaddress
from dataclasses import dataclass

from lab.proxy import names


def is_proxied(svc):
    """``ShouldSkipService``: headless and ExternalName services get no rules."""
    return svc.cluster_ip not in (None, "None")


def health_check_node_port(svc):
    """``HealthCheckNodePort()``: set only when the service ``NeedsHealthCheck`` (LoadBalancer, ETP=Local)."""
    if svc.type == "LoadBalancer" and svc.external_traffic_policy == "Local":
        return svc.health_check_node_port
    return None


@dataclass(frozen=True)
class ProxiedPort:
    """One service port as kube-proxy sees it, with its endpoints categorized for this node."""

    svc: object
    port: object
    name: str  # ServicePortName string
    proto: str  # tcp / udp / sctp
    chains: dict
    cluster_eps: tuple
    local_eps: tuple
    has_endpoints: bool

    @property
    def lb_ips(self):
        """``LoadBalancerVIPs()``: the status ingress IPs (empty entries are skipped)."""
        return tuple(ip for ip in self.svc.lb_ips if ip)

    @property
    def externally_accessible(self):
        return bool(self.port.node_port or self.svc.external_ips or self.lb_ips)

    @property
    def etp_local(self):
        return self.svc.external_traffic_policy == "Local" and self.externally_accessible

    @property
    def itp_local(self):
        return self.svc.internal_traffic_policy == "Local"


def service_ports(cluster, opts):
    """Every proxied service port (headless and ExternalName services are skipped), in order."""
    out = []
    for svc in sorted(cluster.services, key=lambda s: (s.namespace, s.name)):
        if not is_proxied(svc):
            continue
        for port in sorted(svc.ports, key=lambda p: (p.name, p.protocol)):
            name = names.service_port_name(svc.namespace, svc.name, port.name, opts.profile.trailing_colon)
            eps = sorted(cluster.endpoints_for(svc, port), key=lambda e: e.address)  # kube-proxy's byEndpoint
            usable, local, any_eps = categorize_endpoints(eps, opts)
            out.append(ProxiedPort(svc, port, name, port.protocol.lower(),
                                   names.service_chains(name, port.protocol), usable, local, any_eps))
    return out


def categorize_endpoints(eps, opts):
    """``CategorizeEndpoints``: ready endpoints; else serving+terminating ones (newer releases)."""
    ready = tuple(e for e in eps if e.ready)
    cluster_wide = ready
    if not cluster_wide and opts.profile.fallback_to_terminating:
        cluster_wide = tuple(e for e in eps if e.serving and e.terminating)
    local_ready = tuple(e for e in ready if e.node == opts.node)
    local = local_ready
    if not local and opts.profile.fallback_to_terminating:
        local = tuple(e for e in eps if e.node == opts.node and e.serving and e.terminating)
    return cluster_wide, local, bool(cluster_wide or local)


def source_ranges(p, opts):
    """``LoadBalancerSourceRanges()``: trimmed CIDRs; parsed, so written in network form, since the
    EXT/SVL layout (1.18 writes each range as given)."""
    out = []
    for text in (r.strip() for r in p.svc.lb_source_ranges):
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue  # validation rejects these; kube-proxy would skip them
        out.append(text if opts.profile.legacy_layout else str(net))
    return out


def allows_node(ranges, opts):
    """True if a source range holds the node's own IP (then traffic from the LB IP itself is let in)."""
    if not opts.node_ip:
        return False
    node_ip = ipaddress.ip_address(opts.node_ip)
    return any(node_ip in ipaddress.ip_network(r, strict=False) for r in ranges)


def local_ready_endpoints(cluster, svc, node_name):
    """``LocalReadyEndpoints``: the service's ready endpoints on this node, over all its ports,
    counted once per IP (a pod serving two ports of the service is one endpoint)."""
    return len({e.ip for p in svc.ports for e in cluster.endpoints_for(svc, p) if e.node == node_name and e.ready})
