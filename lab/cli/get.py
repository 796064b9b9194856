"""``lab get KIND [NAME...]``: the objects the lab's API serves (the same store, the same
resourceVersions), printed with the API's own Table columns, as kubectl prints them."""

import json
import sys
import time

import yaml

from lab.api import kinds, selectors, status, tables
from lab.cli.args import add_lab
from lab.errors import LabError
from lab.kernel.record import find_running
from lab.live import publish
from lab.tables import table


def add_arguments(p):
    p.add_argument("kind", help="pods, services, endpoints, endpointslices, nodes, namespaces, deployments, "
                                "replicasets, statefulsets, daemonsets, configmaps, leases, events (or po, svc, "
                                "ep, no, ...)")
    p.add_argument("names", nargs="*", help="only these objects")
    p.add_argument("-n", "--namespace", default="default")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-l", "--selector", help="label selector, e.g. app=myapp or 'tier in (web,db)'")
    p.add_argument("--field-selector", help="field selector, e.g. spec.nodeName=node1")
    p.add_argument("--show-labels", action="store_true", help="a LABELS column")
    p.add_argument("-o", "--output", choices=("wide", "json", "yaml", "name"))
    add_lab(p)


def run(args):
    resource = kinds.named(args.kind)
    if resource is None:
        raise LabError(f'the server doesn\'t have a resource type "{args.kind}"')
    lab_record, cluster = find_running(args.lab)
    store = publish.load(lab_record)
    namespace = None if args.all_namespaces or not resource.namespaced else args.namespace
    try:
        found = selectors.select(store.objects, resource, namespace, args.selector, args.field_selector)
    except status.ApiError as exc:
        raise LabError(exc.message) from None
    if args.names:
        # a node also answers to its machine name (node1), as the lab's other verbs call it
        wanted = [cluster.node(n).hostname if resource.kind == "Node" and _is_machine(cluster, n) else n
                  for n in args.names]
        by_name = {o["metadata"]["name"]: o for o in found}
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise LabError(f'{resource.group_resource} "{missing[0]}" not found')
        found = [by_name[n] for n in wanted]
    _print(args, resource, found, store.resource_version, single=len(args.names) == 1)
    return 0


def _is_machine(cluster, name):
    return any(n.name == name for n in cluster.nodes)


def _print(args, resource, items, resource_version, single):
    if args.output in ("json", "yaml"):
        doc = items[0] if single and items else {
            "apiVersion": "v1", "kind": "List", "items": items,
            "metadata": {"resourceVersion": str(resource_version)}}
        if args.output == "json":
            print(json.dumps(doc, indent=4))
        else:
            print(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False), end="")
    elif args.output == "name":
        for obj in items:
            print(f"{resource.singular if not resource.group else resource.singular + '.' + resource.group}/"
                  f"{obj['metadata']['name']}")
    elif not items:
        where = f" in {args.namespace} namespace" if resource.namespaced and not args.all_namespaces else ""
        print(f"No resources found{where}.", file=sys.stderr)
    else:
        headers, rows = tables.text(resource.plural, items, time.time(), wide=args.output == "wide",
                                    namespaces=args.all_namespaces and resource.namespaced,
                                    labels=args.show_labels)
        print(table(headers, rows))
