"""Endpoints of every service port, as the EndpointSlice controller writes them and kube-proxy
reads them: pods matching the selector (ready or not), or the hand-written slices of a
selector-less service."""

import ipaddress

from lab.cluster import addons
from lab.cluster.model import Endpoint


def _selector_index(pods):
    """``select(namespace, selector)``: the pods (in ``pods`` order) whose labels match, found
    through a (namespace, key, value) index so that S services over P pods cost S+P, not S*P."""
    by_label, by_namespace = {}, {}
    for i, pod in enumerate(pods):
        by_namespace.setdefault(pod.namespace, []).append(i)
        for key, value in pod.labels:
            by_label.setdefault((pod.namespace, key, value), []).append(i)

    def select(namespace, selector):
        if not selector:
            return [pods[i] for i in by_namespace.get(namespace, ())]
        matches = set.intersection(*(set(by_label.get((namespace, k, v), ())) for k, v in selector))
        return [pods[i] for i in sorted(matches)]
    return select


def compute(services, pods, nodes, slices=()):
    """Endpoints of every service port: pods matching the selector (ready or not), target port
    resolved; for a selector-less service, the EndpointSlices (or Endpoints) written for it."""
    endpoints, warnings = {}, []
    api_node = nodes[0]
    select = _selector_index(pods)
    for svc in services:
        if svc.type == "ExternalName":
            continue
        if (svc.namespace, svc.name) == ("default", "kubernetes"):
            port = svc.ports[0]
            endpoints[(svc.namespace, svc.name, port.name)] = (
                Endpoint(api_node.ip, addons.API_SERVER_PORT, api_node.name, pod=None),)
            continue
        if svc.selector is None:
            _from_slices(endpoints, svc, [sl for sl in slices if (sl.namespace, sl.service) ==
                                          (svc.namespace, svc.name)], nodes)
            continue
        selected = select(svc.namespace, svc.selector)
        if not selected:
            sel = ",".join(f"{k}={v}" for k, v in svc.selector)
            warnings.append(f"service {svc.namespace}/{svc.name}: selector {sel} matches no pods, so it has no "
                            "endpoints and kube-proxy rejects its traffic")
        for port in svc.ports:
            eps = []
            for pod in selected:
                target = port.target_port if isinstance(port.target_port, int) \
                    else pod.port_named(port.target_port, port.protocol)
                if target is not None:
                    # the EndpointSlice controller: ready = Ready and not terminating, serving = Ready
                    # ... and the endpoint's hostname when the pod has a spec.hostname and names this
                    # service as its subdomain (ShouldSetHostname: a subdomain alone gives none)
                    hostname = pod.hostname if pod.hostname and pod.subdomain == svc.name else None
                    eps.append(Endpoint(pod.ip, target, pod.node, pod.name, ready=pod.ready and not pod.terminating,
                                        serving=pod.ready, terminating=pod.terminating, hostname=hostname))
            eps.sort(key=lambda e: e.address)  # kube-proxy orders endpoints by the "IP:port" string
            endpoints[(svc.namespace, svc.name, port.name)] = tuple(eps)
    return endpoints, warnings


def _from_slices(endpoints, svc, slices, nodes):
    """kube-proxy's view of hand-written EndpointSlices: slice ports match service ports by name
    (and protocol); a non-terminating endpoint wins over a duplicate; sorted by "IP:port"."""
    by_hostname = {n.hostname: n.name for n in nodes} | {n.name: n.name for n in nodes}
    for port in svc.ports:
        found = {}
        for sl in slices:
            for name, number, protocol in sl.ports:
                if (name, protocol) != (port.name, port.protocol):
                    continue
                for e in sl.endpoints:
                    ep = Endpoint(ipaddress.ip_address(e.ip), number, by_hostname.get(e.node_name, e.node_name), e.pod,
                                  e.ready, e.serving, e.terminating, e.hostname)
                    if ep.address not in found or found[ep.address].terminating:
                        found[ep.address] = ep
        endpoints[(svc.namespace, svc.name, port.name)] = tuple(sorted(found.values(), key=lambda e: e.address))


