"""What kube-proxy answers on a service's health check node port (its service health server):
200 while this node has a ready endpoint of the service, else 503, so that a load balancer sends
only to nodes that can serve locally. Pure: the answers; the agent serves them."""

import json
from dataclasses import dataclass

from lab.proxy.options import PROFILES
from lab.proxy.serviceports import health_check_node_port, is_proxied, local_ready_endpoints


@dataclass(frozen=True)
class HealthAnswer:
    status: int
    headers: tuple  # (name, value) pairs besides Content-Length and Date
    body: bytes


def health_answer(namespace, name, local_endpoints, legacy=False):
    """``hcHandler.ServeHTTP``. Recent releases (v1.28+) add the nosniff and endpoint-weight headers
    and ``serviceProxyHealthy`` (always true here: the rules are loaded before the port opens);
    v1.18 sent Content-Type only and a two-field body. The body is Go's tab-indented text, no newline."""
    fields = ['\t"service": {\n'
              f'\t\t"namespace": {json.dumps(namespace)},\n'
              f'\t\t"name": {json.dumps(name)}\n'
              '\t}',
              f'\t"localEndpoints": {local_endpoints}']
    headers = [("Content-Type", "application/json")]
    if not legacy:
        fields.append('\t"serviceProxyHealthy": true')
        headers += [("X-Content-Type-Options", "nosniff"), ("X-Load-Balancing-Endpoint-Weight", str(local_endpoints))]
    body = "{\n" + ",\n".join(fields) + "\n}"
    return HealthAnswer(200 if local_endpoints else 503, tuple(headers), body.encode())


def service_health(cluster, node_name):
    """What this node's kube-proxy answers on each health check node port: {port: HealthAnswer}."""
    legacy = PROFILES[cluster.kube_proxy.profile].legacy_layout
    out = {}
    for svc in sorted(cluster.services, key=lambda s: (s.namespace, s.name)):
        port = health_check_node_port(svc)
        if port and is_proxied(svc):
            out[port] = health_answer(svc.namespace, svc.name, local_ready_endpoints(cluster, svc, node_name), legacy)
    return out
