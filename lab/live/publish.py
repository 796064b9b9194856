"""The lab as its Kubernetes API shows it, kept beside the record (``objects.json``): every object
as kube-apiserver returns it (lab.cluster.resources), with what only the control plane gives an
object: a uid, a resourceVersion that changes with the object (one counter for the lab),
creationTimestamp, generation, deletionTimestamp; and the last changes, for watches.

Written (atomically) by whichever process moves the lab (``lab up``, a live change, the API
server), which then tells the API server (SIGHUP). ``lab get`` and the API read the same file,
so both show the same objects with the same resourceVersions.
"""

import copy
import datetime
import hashlib
import json
import os
import platform
import signal
import time
import uuid

from lab.agents import registry
from lab.cluster import resources
from lab.kernel.files import write_atomic
from lab.live import events

STORE = "objects.json"
HISTORY = 2000  # changes kept for watches that resume from a resourceVersion
WORKLOAD_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")


def timestamp(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """The published objects: ``objects`` {key: object}, ``meta`` {key: what the store keeps of
    each: uid, rv, times, and ``written``, the manifest as the user wrote it}, ``resource_version``
    (the last one given), ``history`` [(rv, type, object)]."""

    def __init__(self, data=None):
        data = data or {}
        self.resource_version = data.get("resourceVersion", 0)
        self.objects = data.get("objects", {})
        self.meta = data.get("meta", {})
        self.history = [tuple(h) for h in data.get("history", [])]

    def as_json(self):
        return {"resourceVersion": self.resource_version, "objects": self.objects, "meta": self.meta,
                "history": [list(h) for h in self.history]}


def load(lab_record):
    try:
        with open(lab_record.path(STORE)) as f:
            return Store(json.load(f))
    except (FileNotFoundError, json.JSONDecodeError):
        return Store()


def _digest(obj):
    # render writes every object's keys in one order, so the text is the same for the same object
    return hashlib.sha1(json.dumps(obj, separators=(",", ":"), default=str).encode()).hexdigest()


def update(store, rendered, now):
    """The store after the lab came to hold ``rendered`` (resources.render's objects): new and
    changed objects get the next resourceVersions, vanished ones a DELETED entry. An object whose
    references now resolve to another uid (its owner made again) has changed too. ``rendered`` is
    used up: its objects are finished in place and become the store's (no copy of a large lab)."""
    old_meta = store.meta
    meta, objects, changes = {}, {}, []
    rv = store.resource_version
    fresh = {}  # key -> (object, incarnation, terminating, made, written)
    uids = {}
    for key in sorted(rendered):
        obj = rendered[key]  # render's own: finished in place
        fresh[key] = (obj, obj.pop("_incarnation", 0), obj.pop("_terminating", False), obj.pop("_time", None),
                      obj.pop("_written", None))
        before = old_meta.get(key)
        same = before is not None and before.get("incarnation", 0) == fresh[key][1]
        uids[key] = before["uid"] if same else str(uuid.uuid4())
    for key, (obj, incarnation, terminating, made, written) in fresh.items():
        _resolve(obj, uids)
        digest = _digest(obj)
        spec_digest = _digest(obj.get("spec"))
        before = old_meta.get(key)
        if before is not None and before.get("incarnation", 0) != incarnation:  # made again under its name
            rv += 1
            changes.append((rv, "DELETED", _stamped(store.objects[key], rv)))
            before = None
        if before is None:
            rv += 1
            entry = {"uid": uids[key], "rv": rv, "created": made or now, "generation": 1,
                     "digest": digest, "spec": spec_digest, "incarnation": incarnation, "kind": "ADDED"}
        elif before["digest"] != digest or terminating != bool(before.get("deleted")):
            rv += 1
            entry = dict(before, rv=rv, digest=digest, spec=spec_digest, kind="MODIFIED",
                         generation=before["generation"] + (spec_digest != before["spec"]))
        else:
            entry = dict(before, kind=None)
        if written is not None:
            entry["written"] = written
        else:
            entry.pop("written", None)
        if terminating:
            entry["deleted"] = before.get("deleted") if before and before.get("deleted") else now
        else:
            entry.pop("deleted", None)
        meta[key] = entry
        objects[key] = obj
    for key in sorted(set(old_meta) - set(rendered)):
        rv += 1
        changes.append((rv, "DELETED", _stamped(store.objects.get(key, {}), rv)))
    for key, obj in objects.items():
        _finish(obj, meta[key])
        kind = meta[key].pop("kind", None)
        if kind:
            changes.append((meta[key]["rv"], kind, obj))
    changes.sort(key=lambda c: c[0])
    # the first publication (lab up) is what a watch's initial list gives: no history to replay
    history = (store.history + changes)[-HISTORY:] if old_meta else []
    return Store({"resourceVersion": rv, "objects": objects, "meta": meta, "history": history}), changes


def _stamped(obj, rv):
    out = copy.deepcopy(obj)
    if out.get("metadata") is not None:
        out["metadata"]["resourceVersion"] = str(rv)
    return out


def _finish(obj, meta):
    """System metadata in, and the timestamps the renderer left open."""
    m = obj["metadata"]
    m["uid"] = meta["uid"]
    m["resourceVersion"] = str(meta["rv"])
    m["creationTimestamp"] = timestamp(meta["created"])
    if obj["kind"] in WORKLOAD_KINDS:
        m["generation"] = meta["generation"]
        if isinstance(obj.get("status"), dict) and "observedGeneration" in obj["status"]:
            obj["status"]["observedGeneration"] = meta["generation"]
    if meta.get("deleted"):
        m["deletionTimestamp"] = timestamp(meta["deleted"])
    created = m["creationTimestamp"]
    _open_times(obj, created)
    if obj["kind"] == "Lease" and obj.get("spec", {}).get("renewTime", "") is None:
        obj["spec"]["renewTime"] = created[:-1] + ".000000Z"  # a MicroTime
    if obj["kind"] == "Event":
        obj["firstTimestamp"] = obj["lastTimestamp"] = created
        obj["eventTime"] = None


OPEN_TIMES = ("startTime", "lastTransitionTime", "lastHeartbeatTime", "startedAt")
NO_REFERENCES = ("spec", "labels", "annotations", "data", "binaryData")  # copied as written: nothing to fill in


def _resolve(value, uids):
    """References to other objects (``"_key"``) resolved to their uids."""
    if isinstance(value, dict):
        ref_key = value.pop("_key", None)
        if ref_key is not None and uids.get(ref_key):
            value["uid"] = uids[ref_key]
        for k, v in value.items():
            if k not in NO_REFERENCES and isinstance(v, (dict, list)):
                _resolve(v, uids)
    elif isinstance(value, list):
        for v in value:
            _resolve(v, uids)


def _open_times(value, created):
    """Times the renderer left open (``None``): the object's creation."""
    if isinstance(value, dict):
        for k, v in value.items():
            if v is None and k in OPEN_TIMES:
                value[k] = created
            elif k not in NO_REFERENCES and isinstance(v, (dict, list)):
                _open_times(v, created)
    elif isinstance(value, list):
        for v in value:
            _open_times(v, created)


def host_facts():
    return {"kernel": platform.release()}


def publish(lab_record, cluster, objects, now=None):
    """Render the lab's objects, update the store, tell the API server; the changes made."""
    rendered = resources.render(cluster, objects, events.load(lab_record), host_facts())
    store, changes = update(load(lab_record), rendered, now or time.time())
    write_atomic(lab_record.path(STORE), json.dumps(store.as_json(), separators=(",", ":")))
    if changes:
        registry.signal(lab_record, registry.API_SERVER, registry.MASTER_KEY, signal.SIGHUP)
    return changes


def store_path(lab_record):
    return os.path.join(lab_record.path(), STORE)
