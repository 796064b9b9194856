"""The front load balancer's nginx configuration, written from the cluster state. Pure.

Two parts, as in the seed: ``http`` virtual hosts (``server_name``) for the scenario's
``frontend:`` section, each an ``upstream`` of every node's IP:NodePort; and, for ``type:
LoadBalancer`` services, an L4 ``stream`` server on the service's external IP and port whose
upstream is every node's IP:NodePort. For ``externalTrafficPolicy: Local`` only nodes whose
health-check node port says they have a local endpoint take traffic; the others are ``down``.
"""

import os

STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def needs_nginx(cluster):
    return cluster.lb is not None and bool(cluster.frontends or any(s.lb_ips for s in cluster.services))


def upstream_name(namespace, name, port=None, protocol=None):
    base = name if namespace == "default" else f"{namespace}_{name}"
    return base if port is None else f"{base}_{port}_{protocol.lower()}"


def local_policy(svc):
    return svc.type == "LoadBalancer" and svc.external_traffic_policy == "Local"


def expected_health(cluster):
    """{(ns, svc): set of node names with a ready local endpoint}: what the health checks will say."""
    out = {}
    for svc in cluster.services:
        if local_policy(svc):
            out[svc.key] = {e.node for p in svc.ports for e in cluster.endpoints_for(svc, p) if e.ready}
    return out


def _servers(cluster, node_port, healthy=None, indent="        "):
    lines = []
    for node in cluster.nodes:
        down = healthy is not None and node.name not in healthy
        lines.append(f"{indent}server {node.ip}:{node_port}{' down' if down else ''};"
                     + (f"  # {node.hostname}: no local endpoint" if down else f"  # {node.hostname}"))
    return lines


def render(cluster, directory, health=None):
    """nginx.conf for the lab's load balancer; ``health`` as from ``expected_health``."""
    health = expected_health(cluster) if health is None else health
    lb_services = [s for s in cluster.services if s.lb_ips]
    out = [f"# Written by svclab for lab {cluster.lab}: the front load balancer ({cluster.lb.ip}).",
           "# Regenerated when services, endpoints or node health change; do not edit.", ""]
    if lb_services and os.path.exists(STREAM_MODULE):
        out.append(f"load_module {STREAM_MODULE};")
    out += ["daemon off;", "user root;", "worker_processes 1;", f"pid {directory}/nginx.pid;",
            f"error_log {directory}/error.log notice;", "", "events {", "    worker_connections 1024;", "}", ""]
    # a node that drops or refuses: try the next one after a second (nginx waits 60 s by default)
    out += ["http {", f"    access_log {directory}/access.log;", "    proxy_connect_timeout 1s;"]
    out += [f"    {kind}_temp_path {directory}/tmp/{kind};" for kind in TEMP_PATHS]
    for fe in cluster.frontends:
        svc = cluster.service(fe.namespace, fe.service)
        port = next(p for p in svc.ports if p.port == fe.port)
        out += ["", f"    upstream {upstream_name(fe.namespace, fe.service)} {{"]
        out += _servers(cluster, port.node_port)
        out.append("    }")
    for fe in cluster.frontends:
        out += ["", "    server {", f"        listen {cluster.lb.ip}:80;", f"        server_name {fe.host};",
                "        location / {", f"            proxy_pass http://{upstream_name(fe.namespace, fe.service)};",
                "        }", "    }"]
    out += ["", "    server {", f"        listen {cluster.lb.ip}:80 default_server;",
            "        return 404 \"no virtual host here has that name\\n\";", "    }", "}"]
    if lb_services:
        out += ["", "stream {", "    proxy_connect_timeout 1s;", "    proxy_next_upstream_tries 3;"]
        for svc in lb_services:
            healthy = health.get(svc.key) if local_policy(svc) else None
            for p in svc.ports:
                name = upstream_name(svc.namespace, svc.name, p.port, p.protocol)
                out += [f"    upstream {name} {{"] + _servers(cluster, p.node_port, healthy, "        ") + ["    }"]
                for ip in svc.lb_ips:
                    udp = " udp" if p.protocol == "UDP" else ""
                    out += ["    server {", f"        listen {ip}:{p.port}{udp};", f"        proxy_pass {name};"]
                    if local_policy(svc):  # pass the client's address on, as a pass-through load balancer does
                        out.append("        proxy_bind $remote_addr transparent;")
                    out.append("    }")
        out.append("}")
    return "\n".join(out) + "\n"
