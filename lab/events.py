"""What happened in a lab, like ``kubectl get events``: appended as JSON lines by every change."""

import json
import time

from lab import views


def record(rec, reason, obj, message, kind="Normal"):
    """Append one event (``obj`` like ``pod/web-abc`` or ``node/k8s-node1``)."""
    with open(rec.path("events.jsonl"), "a") as f:
        f.write(json.dumps({"time": time.time(), "type": kind, "reason": reason, "object": obj,
                            "message": message}) + "\n")


def load(rec):
    try:
        with open(rec.path("events.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def table(events, now=None):
    now = now or time.time()
    rows = [[views.human_age(now - e["time"]), e["type"], e["reason"], e["object"], e["message"]] for e in events]
    return views.table(["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], rows)


def record_changes(rec, old, new):
    """Events for what differs between two cluster states: pods, services, load-balancer IPs."""
    old_pods = {(p.namespace, p.name): p for p in old.pods}
    new_pods = {(p.namespace, p.name): p for p in new.pods}
    for key in new_pods.keys() - old_pods.keys():
        p = new_pods[key]
        record(rec, "Scheduled", f"pod/{p.name}",
                      f"Successfully assigned {p.namespace}/{p.name} to {new.node(p.node).hostname}")
        record(rec, "Started", f"pod/{p.name}", f"Started container, IP {p.ip}")
    for key in old_pods.keys() - new_pods.keys():
        record(rec, "Killing", f"pod/{key[1]}", "Stopping container")
    old_svc = {s.key: s for s in old.services}
    new_svc = {s.key: s for s in new.services}
    for key in new_svc.keys() - old_svc.keys():
        record(rec, "Created", f"service/{key[1]}", f"Service {key[0]}/{key[1]} created, ClusterIP "
                      f"{new_svc[key].cluster_ip}")
    for key in old_svc.keys() - new_svc.keys():
        record(rec, "Deleted", f"service/{key[1]}", f"Service {key[0]}/{key[1]} deleted")
    for key, svc in new_svc.items():
        if svc.lb_ips and (key not in old_svc or old_svc[key].lb_ips != svc.lb_ips):
            record(rec, "IPAllocated", f"service/{key[1]}", f"Assigned IP {list(svc.lb_ips)}")
