"""What a cloud's load-balancer controller decides: external addresses for ``type: LoadBalancer``
services, and the front load balancer's virtual hosts (``frontend:``)."""

import dataclasses
import ipaddress

from lab.cluster.model import Frontend
from lab.errors import InputError
from lab.spec.manifests import ServiceSpec


def assign(services, lb, objects=()):
    """What a cloud controller does for ``type: LoadBalancer``: an external IP from the pool
    (``spec.loadBalancerIP`` if it asks for a free one), or ``<pending>`` and the reason. With no
    load balancer (no controller), a manifest's own ``status.loadBalancer.ingress`` stands."""
    pool = list(lb.pool) if lb else []
    taken = set()
    out = {}
    written = {(o.namespace, o.name): o.status_lb_ips for o in objects if isinstance(o, ServiceSpec)}
    wanted = [s for s in services if s.type == "LoadBalancer"]
    for svc in sorted(wanted, key=lambda s: (s.load_balancer_ip is None, s.namespace, s.name)):
        if lb is None:
            if written.get(svc.key):
                out[svc.key] = dataclasses.replace(svc, lb_ips=written[svc.key])
            else:
                out[svc.key] = dataclasses.replace(svc, lb_message="no load balancer in the topology "
                                                   "(add loadBalancer: {ip: ..., pool: ...} to it)")
            continue
        if svc.load_balancer_ip is not None:
            ip = ipaddress.ip_address(svc.load_balancer_ip)
            if ip not in pool:
                message = f"loadBalancerIP {ip} is not in the pool {_pool_text(pool)}"
            elif ip in taken:
                message = f"loadBalancerIP {ip} is already in use"
            else:
                message = None
        else:
            free = [a for a in pool if a not in taken]
            ip = free[0] if free else None
            message = None if free else f"no addresses left in the pool {_pool_text(pool)}"
        if message:
            out[svc.key] = dataclasses.replace(svc, lb_message=message)
        else:
            taken.add(ip)
            out[svc.key] = dataclasses.replace(svc, lb_ips=(str(ip),))
    return tuple(out.get(s.key, s) for s in services)


def _pool_text(pool):
    return f"{pool[0]}-{pool[-1]}" if pool else "(empty)"


def frontends(scenario, services):
    out = []
    for fe in scenario.frontends:
        svc = next((s for s in services if (s.namespace, s.name) == (fe.namespace, fe.service)), None)
        if svc is None:
            raise fe.where.child("service").error(f"no Service {fe.namespace}/{fe.service} in the manifests")
        ports = [p for p in svc.ports if p.node_port and (fe.port is None or p.port == fe.port)]
        if not ports:
            raise fe.where.error(f"Service {fe.namespace}/{fe.service} has no node port"
                                 + (f" for port {fe.port}" if fe.port else ""),
                                 "a front-end virtual host needs a NodePort or LoadBalancer service")
        out.append(Frontend(fe.host, fe.namespace, fe.service, ports[0].port))
    if out and scenario.topology.load_balancer is None:
        raise InputError(scenario.source, "frontend", "the topology has no load balancer",
                         "add loadBalancer: {ip: ...} to the topology")
    return tuple(out)


