"""What happened in a lab, like ``kubectl get events``: appended as JSON lines by every change."""

import json
import time

from lab.tables import human_age
from lab.tables import table as format_table


def record(rec, reason, obj, message, kind="Normal", namespace=None):
    """Append one event (``obj`` like ``pod/web-abc`` or ``node/k8s-node1``, in ``namespace``)."""
    entry = {"time": time.time(), "type": kind, "reason": reason, "object": obj, "message": message}
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
    """Events for what ``changes`` (lab.cluster.diff) says: pods, services, load-balancer IPs."""
    for p in changes.added_pods:
        record(rec, "Scheduled", f"pod/{p.name}",
               f"Successfully assigned {p.namespace}/{p.name} to {new.node(p.node).hostname}", namespace=p.namespace)
        record(rec, "Started", f"pod/{p.name}", f"Started container, IP {p.ip}", namespace=p.namespace)
    for p in changes.removed_pods:
        record(rec, "Killing", f"pod/{p.name}", "Stopping container", namespace=p.namespace)
    for s in changes.added_services:
        record(rec, "Created", f"service/{s.name}", f"Service {s.namespace}/{s.name} created, ClusterIP "
               f"{s.cluster_ip}", namespace=s.namespace)
    for s in changes.removed_services:
        record(rec, "Deleted", f"service/{s.name}", f"Service {s.namespace}/{s.name} deleted", namespace=s.namespace)
    for s in changes.lb_assigned:
        record(rec, "IPAllocated", f"service/{s.name}", f"Assigned IP {list(s.lb_ips)}", namespace=s.namespace)
