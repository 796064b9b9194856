"""Verbs that change a running lab: apply, delete, kill, node, link, events."""

import time

from lab import changes, cluster, events, processes, reconcile, running, state
from lab.errors import LabError

KINDS = {"pod": "Pod", "pods": "Pod", "po": "Pod", "service": "Service", "services": "Service", "svc": "Service",
         "deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment"}


def register(sub):
    a = sub.add_parser("apply", help="apply manifests to a running lab (new or changed objects), like kubectl apply")
    a.add_argument("-f", "--filename", required=True)
    a.add_argument("--lab")

    d = sub.add_parser("delete", help="delete a pod (its Deployment replaces it), a service or a deployment")
    d.add_argument("kind", help="pod, svc or deployment")
    d.add_argument("name")
    d.add_argument("-n", "--namespace", default="default")
    d.add_argument("--grace-period", type=float, default=0,
                   help="seconds a deleted pod keeps serving as a terminating endpoint (0: gone at once)")
    d.add_argument("--lab")

    k = sub.add_parser("kill", help="kill a pod's server: its Deployment replaces it, endpoints follow")
    k.add_argument("kind", choices=("pod",))
    k.add_argument("name")
    k.add_argument("-n", "--namespace", default="default")
    k.add_argument("--after", type=float, default=1.0, help="seconds until the control plane notices (1)")
    k.add_argument("--lab")

    n = sub.add_parser("node", help="a node goes down (its LAN link) or comes back")
    n.add_argument("action", choices=("down", "up"))
    n.add_argument("node")
    n.add_argument("--grace", type=float, default=5.0,
                   help="seconds until the node is NotReady and its pods leave the endpoints (5)")
    n.add_argument("--lab")

    li = sub.add_parser("link", help="unplug or plug a machine's LAN link (the control plane does not react)")
    li.add_argument("machine")
    li.add_argument("action", choices=("down", "up"))
    li.add_argument("--lab")

    e = sub.add_parser("events", help="what happened, like kubectl get events")
    e.add_argument("--lab")
    return {"apply": run_apply, "delete": run_delete, "kill": run_kill, "node": run_node, "link": run_link,
            "events": run_events}


def _converge(record, old, new, lines):
    seconds = reconcile.apply(record, old, new)
    record.save()
    for line in lines:
        print(line)
    print(f"converged in {seconds:.2f} s (pods, endpoints, kube-proxy rules on every node, DNS, load balancer)")


def run_apply(args):
    with state.locked():
        record, old = running.running(args.lab)
        new, lines = changes.apply_file(record, old, args.filename)
        _converge(record, old, new, lines)
    return 0


def run_delete(args):
    kind = KINDS.get(args.kind.lower())
    if kind is None:
        raise LabError(f"lab delete handles pods, services and deployments (not {args.kind!r})")
    with state.locked():
        record, old = running.running(args.lab)
        if kind == "Pod":
            if not any(p.namespace == args.namespace and p.name == args.name for p in old.pods):
                raise LabError(f'pods "{args.name}" not found in namespace {args.namespace}')
            if args.grace_period > 0:
                return _delete_gracefully(record, old, args)
            new = cluster.delete_pod(old, args.namespace, args.name)
            lines = [f'pod "{args.name}" deleted'] + _replacements(old, new)
        else:
            new, lines = changes.delete_object(record, old, kind, args.namespace, args.name)
        _converge(record, old, new, lines)
    return 0


def _delete_gracefully(record, old, args):
    """Terminating first (serving, not ready: kube-proxy falls back to such endpoints when a
    service has no ready one), gone after the grace period."""
    terminating = cluster.delete_pod(old, args.namespace, args.name, terminating=True)
    _converge(record, old, terminating, [f'pod "{args.name}" terminating (grace period {args.grace_period:g} s)']
              + _replacements(old, terminating))
    time.sleep(args.grace_period)
    gone = cluster.delete_pod(terminating, args.namespace, args.name)
    _converge(record, terminating, gone, [f'pod "{args.name}" deleted'])
    return 0


def _replacements(old, new):
    names = {p.name for p in old.pods}
    return [f"replaced by {p.name} on {new.node(p.node).hostname} ({p.ip})" for p in new.pods if p.name not in names]


def run_kill(args):
    """The server dies first (connections are refused); the control plane notices ``--after`` later."""
    with state.locked():
        record, old = running.running(args.lab)
        pod = next((p for p in old.pods if p.namespace == args.namespace and p.name == args.name), None)
        if pod is None:
            raise LabError(f'pods "{args.name}" not found in namespace {args.namespace}')
        died = time.monotonic()
        reconcile.stop_serving(record, old, pod)
        events.record(record, "Killing", f"pod/{pod.name}", "Container died (lab kill)", kind="Warning")
        print(f"pod {pod.name}: server killed")
        time.sleep(max(0.0, args.after - (time.monotonic() - died)))
        new = cluster.delete_pod(old, args.namespace, args.name)
        _converge(record, old, new, _replacements(old, new))
    return 0


def run_node(args):
    with state.locked():
        record, old = running.running(args.lab)
        node = next((n for n in old.nodes if args.node in (n.name, n.hostname)), None)
        if node is None:
            raise LabError(f"no node named {args.node!r}")
        up = args.action == "up"
        _set_link(old, node.name, up)
        events.record(record, "NodeLinkUp" if up else "NodeLinkDown", f"node/{node.hostname}",
                      f"LAN link {'up' if up else 'down'}", kind="Normal" if up else "Warning")
        print(f"node {node.hostname}: LAN link {args.action}")
        if not up:
            print(f"waiting {args.grace:g} s (the node controller's grace period) ...", flush=True)
            time.sleep(args.grace)
        new = cluster.set_node_ready(old, node.name, up)
        events.record(record, "NodeReady" if up else "NodeNotReady", f"node/{node.hostname}",
                      f"Node {node.hostname} status is now: {'NodeReady' if up else 'NodeNotReady'}",
                      kind="Normal" if up else "Warning")
        _converge(record, old, new, [f"node {node.hostname} is {'Ready' if up else 'NotReady'}; its pods are "
                                     f"{'ready' if up else 'not ready'}"])
    return 0


def run_link(args):
    record, cs = running.running(args.lab)
    machines = [m.name for m in cs.nodes + cs.hosts] + (["lb"] if cs.lb else [])
    name = next((n.name for n in cs.nodes if args.machine == n.hostname), args.machine)
    if name not in machines:
        raise LabError(f"no machine named {args.machine!r} (machines: {', '.join(machines)})")
    _set_link(cs, name, args.action == "up")
    events.record(record, "LinkUp" if args.action == "up" else "LinkDown", f"machine/{name}",
                  f"LAN link {args.action}", kind="Normal" if args.action == "up" else "Warning")
    print(f"{name}: LAN link {args.action}")
    return 0


def _set_link(cs, machine, up):
    """The machine's port on the LAN switch, like a cable pulled or plugged."""
    result = processes.run_in(cs.switch_netns, ["ip", "link", "set", "dev", machine, "up" if up else "down"])
    if result.returncode != 0:
        raise LabError(f"cannot set {machine}'s link {'up' if up else 'down'}: {result.stderr.strip()}")


def run_events(args):
    record, _ = running.running(args.lab)
    print(events.table(events.load(record)))
    return 0
