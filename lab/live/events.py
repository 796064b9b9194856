"""What happened in a lab, like ``kubectl get events``: appended as JSON lines by every change."""

import json
import time

from lab.tables import human_age
from lab.tables import table as format_table


def record(rec, reason, obj, message, kind="Normal", namespace=None, source="svclab"):
    """Append one event (``obj`` like ``pod/web-abc`` or ``node/k8s-node1``, in ``namespace``), as
    the component ``source`` (kubelet, default-scheduler, replicaset-controller, ...) reports it."""
    entry = {"time": time.time(), "type": kind, "reason": reason, "object": obj, "message": message,
             "source": source}
    if namespace:
        entry["namespace"] = namespace
    with open(rec.path("events.jsonl"), "a") as f:
        f.write(json.dumps(entry) + "\n")


def load(rec):
    try:
        with open(rec.path("events.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def table(events, now=None):
    now = now or time.time()
    rows = [[human_age(now - e["time"]), e["type"], e["reason"], e["object"], e["message"]] for e in events]
    return format_table(["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], rows)


def record_changes(rec, changes, new):
    """Events for what ``changes`` (lab.cluster.diff) says, in the words of the components that
    report them in a cluster: the controllers that made or removed pods, the scheduler, the kubelet."""
    for line in change_events(changes, new):
        record(rec, *line[:3], **line[3])


def change_events(changes, new):
    """[(reason, object, message, {namespace, source, kind})] for ``changes``, in order. Pure."""
    out = []

    def event(reason, obj, message, namespace, source, kind="Normal"):
        out.append((reason, obj, message, {"namespace": namespace, "source": source, "kind": kind}))

    for owner, made, gone in _by_owner(changes, new):
        kind, namespace, name = owner
        now = sum(1 for p in new.pods if (p.owner_kind or "ReplicaSet", p.namespace, p.owner) == owner)
        before = now - len(made) + len(gone)
        deployment = _deployment_of(made + gone)
        if deployment and now != before:
            way = "up" if now > before else "down"
            message = f"Scaled {way} replica set {name} to {now}" + (f" from {before}" if before else "")
            event("ScalingReplicaSet", f"deployment/{deployment}", message, namespace, "deployment-controller")
        controller = f"{kind.lower()}-controller"
        for p in made:
            message = (f"create Pod {p.name} in StatefulSet {name} successful" if kind == "StatefulSet"
                       else f"Created pod: {p.name}")
            event("SuccessfulCreate", f"{kind.lower()}/{name}", message, namespace, controller)
        for p in gone if now < before else ():  # scaled down (a pod that died is replaced instead)
            message = (f"delete Pod {p.name} in StatefulSet {name} successful" if kind == "StatefulSet"
                       else f"Deleted pod: {p.name}")
            event("SuccessfulDelete", f"{kind.lower()}/{name}", message, namespace, controller)
    for p in changes.added_pods:
        event("Scheduled", f"pod/{p.name}", f"Successfully assigned {p.namespace}/{p.name} to "
              f"{new.node(p.node).hostname}", p.namespace, "default-scheduler")
        for c in p.containers:
            event("Pulled", f"pod/{p.name}", f'Container image "{c.image}" already present on machine', p.namespace,
                  "kubelet")
            event("Created", f"pod/{p.name}", f"Created container {c.name}", p.namespace, "kubelet")
            event("Started", f"pod/{p.name}", f"Started container {c.name}", p.namespace, "kubelet")
    for p in changes.removed_pods:
        for c in p.containers:
            event("Killing", f"pod/{p.name}", f"Stopping container {c.name}", p.namespace, "kubelet")
    for s in changes.lb_assigned:
        event("IPAllocated", f"service/{s.name}", f"Assigned IP {list(s.lb_ips)}", s.namespace, "svclab-lb-controller")
    return out


def _by_owner(changes, new):
    """[((owner kind, namespace, owner), pods made, pods gone)] for pods that have an owner."""
    groups = {}
    for i, pods in enumerate((changes.added_pods, changes.removed_pods)):
        for p in pods:
            if p.owner:
                groups.setdefault((p.owner_kind or "ReplicaSet", p.namespace, p.owner), ([], []))[i].append(p)
    return [(owner, made, gone) for owner, (made, gone) in groups.items()]


def _deployment_of(pods):
    """The Deployment whose ReplicaSet owns ``pods`` (its name less the template hash), or None."""
    p = pods[0]
    if (p.owner_kind or "ReplicaSet") != "ReplicaSet" or not p.template_hash or \
            not p.owner.endswith(f"-{p.template_hash}"):
        return None
    return p.owner[:-len(p.template_hash) - 1]
