"""``lab get pods|services|endpoints|nodes``: kubectl's columns and objects."""

import json
import platform
import sys
import time

import yaml

from lab.cli import views
from lab.cli.args import add_lab, matches, selector
from lab.errors import LabError
from lab.kernel.record import find_running
from lab.tables import table

KINDS = {
    "pods": "pods", "pod": "pods", "po": "pods",
    "services": "services", "service": "services", "svc": "services",
    "endpoints": "endpoints", "endpoint": "endpoints", "ep": "endpoints",
    "nodes": "nodes", "node": "nodes", "no": "nodes",
}


def add_arguments(p):
    p.add_argument("kind", help="pods|services|endpoints|nodes (or po, svc, ep, no)")
    p.add_argument("names", nargs="*", help="only these objects")
    p.add_argument("-n", "--namespace", default="default")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-l", "--selector", help="label selector, e.g. app=myapp")
    p.add_argument("-o", "--output", choices=("wide", "json", "yaml", "name"))
    add_lab(p)


def run(args):
    kind = KINDS.get(args.kind.lower())
    if kind is None:
        raise LabError(f"unknown kind {args.kind!r}: use pods, services, endpoints or nodes")
    lab_record, cluster = find_running(args.lab)
    created = lab_record.created
    age = time.time() - created
    terms = selector(args.selector)

    def in_scope(obj, labels):
        return ((args.all_namespaces or obj.namespace == args.namespace)
                and (not args.names or obj.name in args.names) and matches(labels, terms))

    if kind == "pods":
        objs = [p for p in cluster.pods if in_scope(p, p.label_dict)]
        headers, rows = views.pod_rows(cluster, objs, age, args.output == "wide", args.all_namespaces)
        items = [views.pod_object(cluster, p, created) for p in objs]
    elif kind in ("services", "endpoints"):
        objs = [s for s in cluster.services if in_scope(s, views.service_labels(s))]
        if kind == "services":
            headers, rows = views.service_rows(objs, age, args.output == "wide", args.all_namespaces)
            items = [views.service_object(s, created) for s in objs]
        else:
            headers, rows = views.endpoint_rows(cluster, objs, age, args.all_namespaces)
            objs = [s for s in objs if views.has_endpoints_object(s)]
            items = [views.endpoints_object(cluster, s, created) for s in objs]
    else:
        objs = [n for n in cluster.nodes if not args.names or n.hostname in args.names or n.name in args.names]
        headers, rows = views.node_rows(cluster, age, args.output == "wide", platform.release())
        rows = [r for r in rows if any(r[0] == n.hostname for n in objs)]
        items = [views.node_object(cluster, n, created) for n in objs]

    found = {o.name for o in objs} | {getattr(o, "hostname", None) for o in objs}
    missing = [n for n in args.names if n not in found]
    if missing:
        raise LabError(f'{kind} "{missing[0]}" not found')
    _print(args.output, headers, rows, items, single=len(args.names) == 1)
    return 0


def _print(output, headers, rows, items, single):
    if output in ("json", "yaml"):
        doc = items[0] if single and items else views.as_list(items)
        if output == "json":
            print(json.dumps(doc, indent=4))
        else:
            print(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False), end="")
    elif output == "name":
        for i in items:
            print(f"{i['kind'].lower()}/{i['metadata']['name']}")
    elif not rows:
        print("No resources found.", file=sys.stderr)
    else:
        print(table(headers, rows))
