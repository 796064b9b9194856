"""``lab``: bring Kubernetes Service networking up in network namespaces, look at it, take it down."""

import argparse
import importlib
import json
import os
import pkgutil
import platform
import sys
import time

import yaml

from lab import lifecycle, running, views, yamlfiles
from lab.errors import LabError
from lab.progress import Progress

KINDS = {
    "pods": "pods", "pod": "pods", "po": "pods",
    "services": "services", "service": "services", "svc": "services",
    "endpoints": "endpoints", "endpoint": "endpoints", "ep": "endpoints",
    "nodes": "nodes", "node": "nodes", "no": "nodes",
}


def _prog():
    return "python3 -m lab" if os.path.basename(sys.argv[0]) == "__main__.py" else "lab"


def build_parser(only_builtin=False):
    p = argparse.ArgumentParser(
        prog=_prog(), description="Kubernetes Service networking, built for real out of Linux network namespaces.",
        epilog="Start with: sudo python3 -m lab up scenarios/seed.yml")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    up = sub.add_parser("up", help="bring a lab up from a scenario file")
    up.add_argument("scenario", help="scenario file, e.g. scenarios/seed.yml")
    up.add_argument("--name", help="lab name (namespace prefix), overriding the scenario's")
    up.add_argument("--timings", action="store_true", help="print where the time went, phase by phase")

    down = sub.add_parser("down", help="take a lab down: every namespace, process and file it made")
    down.add_argument("target", nargs="?", help="scenario file or lab name (default: the only lab up)")
    down.add_argument("--name", help="lab name, when the scenario was brought up with --name")

    st = sub.add_parser("status", help="which labs are up")
    st.add_argument("-o", "--output", choices=("table", "json"), default="table")

    get = sub.add_parser("get", help="list pods, services, endpoints or nodes, like kubectl get")
    get.add_argument("kind", help="pods|services|endpoints|nodes (or po, svc, ep, no)")
    get.add_argument("names", nargs="*", help="only these objects")
    get.add_argument("-n", "--namespace", default="default")
    get.add_argument("-A", "--all-namespaces", action="store_true")
    get.add_argument("-l", "--selector", help="label selector, e.g. app=myapp")
    get.add_argument("-o", "--output", choices=("wide", "json", "yaml", "name"))
    get.add_argument("--lab", help="which lab (default: the only lab up)")

    ds = sub.add_parser("describe", help="describe a service, like kubectl describe")
    ds.add_argument("kind", help="svc")
    ds.add_argument("name")
    ds.add_argument("-n", "--namespace", default="default")
    ds.add_argument("--lab", help="which lab (default: the only lab up)")

    lb = sub.add_parser("lb", help="the front load balancer: lb config prints its nginx configuration")
    lb.add_argument("what", choices=("config",))
    lb.add_argument("--lab", help="which lab (default: the only lab up)")

    ex = sub.add_parser("exec", help="run a command in a node, pod or host of the lab",
                        usage=f"{_prog()} exec TARGET [-n NAMESPACE] [--lab LAB] -- COMMAND [ARG...]")
    ex.add_argument("target", help="a node (master, node1), a host (client) or a pod name")
    ex.add_argument("-n", "--namespace", help="the pod's Kubernetes namespace (default: search all)")
    ex.add_argument("--lab", help="which lab (default: the only lab up)")
    for module in ([] if only_builtin else verb_modules()):
        registered = module.register(sub)
        COMMANDS.update(registered if isinstance(registered, dict) else {registered: module.run})
    return p


class _PipeSafe:
    """stdout that goes quiet when its reader has gone (``lab up | head``), instead of failing
    halfway through an ``up`` and tearing the lab down."""

    def __init__(self, stream):
        self.stream, self.closed_pipe = stream, False

    def write(self, text):
        if not self.closed_pipe:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                self.closed_pipe = True
        return len(text)

    def flush(self):
        if not self.closed_pipe:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self.closed_pipe = True

    def __getattr__(self, name):
        return getattr(self.stream, name)


def main(argv=None):
    if not isinstance(sys.stdout, _PipeSafe):
        sys.stdout = _PipeSafe(sys.stdout)
    argv = list(sys.argv[1:] if argv is None else argv)
    command = []
    if argv[:1] == ["exec"] and "--" in argv:  # everything after -- is the command, options included
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1:]
    # a built-in verb (up, down, get, ...) needs none of the cmd_* modules: not importing them
    # saves a tenth of a second on every such command
    first = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(only_builtin=first in BUILTIN_COMMANDS).parse_args(argv)
    args.cmd = command
    try:
        return COMMANDS[args.command](args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# up / down / status ---------------------------------------------------------------------------

def cmd_up(args):
    progress = Progress(sys.stdout)
    desired, seconds = lifecycle.up(args.scenario, args.name, progress=progress)
    print(f"Lab {desired.lab!r} is up in {seconds:.2f} s: {len(desired.nodes)} nodes, {len(desired.pods)} pods, "
          f"{len(desired.services)} services.")
    if args.timings:
        print(progress.timings())
    if progress.interactive:
        _print_hints(desired)
    return 0


def _print_hints(desired):
    prog = f"sudo {_prog()}"
    print("Try:")
    print(f"  {prog} get pods -o wide")
    print(f"  {prog} get svc")
    client = desired.hosts[0].name if desired.hosts else None
    node_port = next(((s, p) for s in desired.services for p in s.ports if p.node_port), None)
    if node_port and client and len(desired.nodes) > 1:
        svc, port = node_port
        print(f"  {prog} exec {client} -- curl -s {desired.nodes[1].ip}:{port.node_port}")
        print(f"  {prog} exec {desired.nodes[1].name} -- iptables-save -t nat | grep {port.node_port}")
    if desired.frontends and client:
        print(f"  {prog} exec {client} -- curl -s -H 'Host: {desired.frontends[0].host}' http://{desired.lb.ip}/")
    lb_service = next((s for s in desired.services if s.lb_ips), None)
    if lb_service and client:
        print(f"  {prog} exec {client} -- curl -s http://{lb_service.lb_ips[0]}:{lb_service.ports[0].port}/")
    if desired.frontends or lb_service:
        print(f"  {prog} lb config")
    print(f"  {prog} down {desired.lab}")


def _lab_of_target(target, name):
    if name:
        return name
    if target and os.path.isfile(target):
        try:
            doc = yamlfiles.load_single(target)
            return doc.get("name", "k8s") if isinstance(doc, dict) else "k8s"
        except LabError:
            return "k8s"
    return target or running.only_lab()


def cmd_down(args):
    lab = _lab_of_target(args.target, args.name)
    if lifecycle.down(lab):
        print(f"Lab {lab!r} is down.")
    else:
        print(f"Lab {lab!r} is not up; nothing to do.")
    return 0


def cmd_status(args):
    rows = lifecycle.status()
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No labs are up.")
        return 0
    print(views.table(["LAB", "PHASE", "NAMESPACES", "DAEMONS", "AGE", "SCENARIO"],
                      [[r["lab"], r["phase"], f"{r['namespaces_present']}/{r['namespaces']}",
                        f"{r['daemons_running']}/{r['daemons']}", views.human_age(r["age"]), r["scenario"]]
                       for r in rows]))
    return 0


# get / exec -----------------------------------------------------------------------------------

def _selector(text):
    if not text:
        return []
    out = []
    for term in text.split(","):
        for op in ("!=", "==", "="):
            if op in term:
                k, v = term.split(op, 1)
                out.append((k.strip(), "!=" if op == "!=" else "=", v.strip()))
                break
        else:
            raise LabError(f"cannot read the selector {text!r}: use key=value[,key2=value2]")
    return out


def _matches(labels, selector):
    return all((labels.get(k) == v) == (op == "=") for k, op, v in selector)


def cmd_get(args):
    kind = KINDS.get(args.kind.lower())
    if kind is None:
        raise LabError(f"unknown kind {args.kind!r}: use pods, services, endpoints or nodes")
    record, cs = running.running(args.lab)
    created = record.created
    age = time.time() - created
    selector = _selector(args.selector)

    def in_scope(obj, labels):
        return ((args.all_namespaces or obj.namespace == args.namespace)
                and (not args.names or obj.name in args.names) and _matches(labels, selector))

    if kind == "pods":
        objs = [p for p in cs.pods if in_scope(p, p.label_dict)]
        headers, rows = views.pod_rows(cs, objs, age, args.output == "wide", args.all_namespaces)
        items = [views.pod_object(cs, p, created) for p in objs]
    elif kind in ("services", "endpoints"):
        objs = [s for s in cs.services if in_scope(s, _service_labels(s))]
        if kind == "services":
            headers, rows = views.service_rows(objs, age, args.output == "wide", args.all_namespaces)
            items = [views.service_object(s, created) for s in objs]
        else:
            headers, rows = views.endpoint_rows(cs, objs, age, args.all_namespaces)
            objs = [s for s in objs if views.has_endpoints_object(s)]
            items = [views.endpoints_object(cs, s, created) for s in objs]
    else:
        objs = [n for n in cs.nodes if not args.names or n.hostname in args.names or n.name in args.names]
        headers, rows = views.node_rows(cs, age, args.output == "wide", platform.release())
        rows = [r for r in rows if any(r[0] == n.hostname for n in objs)]
        items = [views.node_object(cs, n, created) for n in objs]

    found = {o.name for o in objs} | {getattr(o, "hostname", None) for o in objs}
    missing = [n for n in args.names if n not in found]
    if missing:
        raise LabError(f'{kind} "{missing[0]}" not found')
    _print(args.output, headers, rows, items, kind, single=len(args.names) == 1)
    return 0


def _service_labels(svc):
    return {"component": "apiserver", "provider": "kubernetes"} if svc.name == "kubernetes" else {}


def _print(output, headers, rows, items, kind, single):
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
        print(views.table(headers, rows))


def cmd_exec(args):
    _, cs = running.running(args.lab)
    netns_name = running.resolve_target(cs, args.target, args.namespace)
    cmd = args.cmd or [os.environ.get("SHELL", "/bin/sh")]
    os.execvp("ip", ["ip", "netns", "exec", netns_name] + cmd)


def cmd_describe(args):
    if KINDS.get(args.kind.lower()) != "services":
        raise LabError(f"lab describe handles services (not {args.kind!r})")
    record, cs = running.running(args.lab)
    svc = cs.service(args.namespace, args.name)
    if svc is None:
        raise LabError(f'services "{args.name}" not found in namespace {args.namespace}')
    print(views.describe_service(cs, svc, time.time() - record.created))
    return 0


def cmd_lb(args):
    record, cs = running.running(args.lab)
    path = record.path("nginx", "nginx.conf")
    if cs.lb is None:
        raise LabError(f"lab {record.lab!r} has no load balancer (its topology has no loadBalancer)")
    if not os.path.exists(path):
        raise LabError(f"lab {record.lab!r} runs no nginx: its scenario has no frontend and no LoadBalancer address")
    with open(path) as f:
        print(f.read(), end="")
    return 0


def verb_modules():
    """Commands that live in modules of their own, ``lab/cmd_*.py``: each has ``register(subparsers)``,
    returning its name (its ``run(args)`` runs it) or a dict of names to functions."""
    package = os.path.dirname(__file__)
    names = sorted(m.name for m in pkgutil.iter_modules([package]) if m.name.startswith("cmd_"))
    return [importlib.import_module(f"lab.{name}") for name in names]

COMMANDS = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "get": cmd_get, "exec": cmd_exec,
            "describe": cmd_describe, "lb": cmd_lb}
BUILTIN_COMMANDS = frozenset(COMMANDS)  # before the cmd_* modules add theirs
