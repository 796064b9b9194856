"""``lab explain svc NAME`` and ``lab explain pod NAME``: a service's paths through each node's
real rules, or a pod's plumbing, in words."""

import json

from lab.classroom.explain import pod as explain_pod
from lab.classroom.explain import readback, words
from lab.errors import LabError
from lab.kernel.record import PROG, find_running

KINDS = {"svc": "svc", "service": "svc", "services": "svc", "pod": "pod", "pods": "pod", "po": "pod"}


def add_arguments(p):
    p.description = ("svc NAME: for each node, the chains a new connection to the service's ClusterIP, "
                    "NodePorts and external or load-balancer IPs walks in the node's real rules (iptables-save "
                    "or nft list), hashed chains named, probabilities as shares, masquerade explained. "
                    "pod NAME: its namespace, interface, veth and bridge port, routes and resolver.")
    p.add_argument("kind", help="svc or pod")
    p.add_argument("name")
    p.add_argument("-n", "--namespace", help="the object's Kubernetes namespace (svc: default; pod: search all)")
    p.add_argument("--node", action="append", help="only this node (repeatable; svc only)")
    p.add_argument("--lab", help="which lab (default: the only lab up)")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")


def run(args):
    kind = KINDS.get(args.kind.lower())
    if kind is None:
        raise LabError(f"lab explain explains svc or pod, not {args.kind!r} (e.g. lab explain svc nodeport-svc)")
    _, cluster = find_running(args.lab)
    if kind == "svc":
        report, text = _service(cluster, args)
    else:
        report, text = _pod(cluster, args)
    print(json.dumps(report, indent=2) if args.output == "json" else text)
    return 0


def _service(cluster, args):
    namespace = args.namespace or "default"
    svc = cluster.service(namespace, args.name)
    if svc is None:
        known = ", ".join(sorted(s.name for s in cluster.services if s.namespace == namespace)) or "none"
        raise LabError(f'no service "{args.name}" in namespace {namespace} of lab {cluster.lab!r} '
                       f"(services there: {known}; see: {PROG} get svc -A)")
    if svc.cluster_ip in (None, "None"):
        what = "an ExternalName service" if svc.type == "ExternalName" else "a headless service (clusterIP: None)"
        raise LabError(f"{namespace}/{svc.name} is {what}: kube-proxy writes no rules for it "
                       f"(DNS answers with {'the external name' if svc.external_name else 'the pod addresses'})")
    wanted = _nodes(cluster, args.node)
    rules = {n.name: readback.node_rules(cluster, n) for n in cluster.nodes if n.name in wanted}
    report = words.service_report(cluster, svc, rules, wanted)
    return report, words.format_service(report, cluster, svc)


def _nodes(cluster, names):
    if not names:
        return [n.name for n in cluster.nodes]
    out = []
    for name in names:
        node = next((n for n in cluster.nodes if name in (n.name, n.hostname)), None)
        if node is None:
            raise LabError(f"no node {name!r} in lab {cluster.lab!r} (nodes: {', '.join(n.name for n in cluster.nodes)})")
        out.append(node.name)
    return out


def _pod(cluster, args):
    pods = [p for p in cluster.pods if p.name == args.name and (args.namespace is None or p.namespace == args.namespace)]
    if not pods:
        where = f" in namespace {args.namespace}" if args.namespace else ""
        raise LabError(f'no pod "{args.name}"{where} in lab {cluster.lab!r} (see: {PROG} get pods -A)')
    if len(pods) > 1:
        raise LabError(f"several pods are named {args.name!r}; say which namespace with -n")
    pod = pods[0]
    report = explain_pod.pod_report(cluster, pod, readback.pod_facts(cluster, pod))
    return report, explain_pod.format_pod(report)
