"""``lab up SCENARIO``: bring a lab up."""

import sys

from lab.cli.args import prog
from lab.live import up
from lab.live.progress import Progress


def add_arguments(p):
    p.add_argument("scenario", help="scenario file, e.g. scenarios/seed.yml")
    p.add_argument("--name", help="lab name (namespace prefix), overriding the scenario's")
    p.add_argument("--timings", action="store_true", help="print where the time went, phase by phase")
    p.add_argument("--no-api-server", dest="api_server", action="store_false",
                   help="no Kubernetes API server (kubectl cannot reach the lab; lab's own verbs still work)")


def run(args):
    progress = Progress(sys.stdout)
    cluster, seconds = up.up(args.scenario, args.name, progress=progress, api_server=args.api_server)
    print(f"Lab {cluster.lab!r} is up in {seconds:.2f} s: {len(cluster.nodes)} nodes, {len(cluster.pods)} pods, "
          f"{len(cluster.services)} services.")
    if args.timings:
        print(progress.timings())
    if progress.interactive:
        for line in hints(cluster):
            print(line)
    return 0


def hints(cluster):
    command = f"sudo {prog()}"
    lines = ["Try:", f"  {command} get pods -o wide", f"  {command} get svc",
             f"  sudo KUBECONFIG=$({command} kubeconfig --lab {cluster.lab}) kubectl get svc"]
    client = cluster.hosts[0].name if cluster.hosts else None
    node_port = next(((s, p) for s in cluster.services for p in s.ports if p.node_port), None)
    if node_port and client and len(cluster.nodes) > 1:
        _, port = node_port
        lines.append(f"  {command} exec {client} -- curl -s {cluster.nodes[1].ip}:{port.node_port}")
        lines.append(f"  {command} exec {cluster.nodes[1].name} -- iptables-save -t nat | grep {port.node_port}")
    if cluster.frontends and client:
        lines.append(f"  {command} exec {client} -- curl -s -H 'Host: {cluster.frontends[0].host}' "
                     f"http://{cluster.lb.ip}/")
    lb_service = next((s for s in cluster.services if s.lb_ips), None)
    if lb_service and client:
        lines.append(f"  {command} exec {client} -- curl -s http://{lb_service.lb_ips[0]}:{lb_service.ports[0].port}/")
    if cluster.frontends or lb_service:
        lines.append(f"  {command} lb config")
    lines.append(f"  {command} down {cluster.lab}")
    return lines
