"""Changing a running lab's objects: apply manifests, delete objects. The desired objects are the
scenario's manifests, plus what was applied since, minus what was deleted (kept in the record)."""

import dataclasses
import os

from lab import cluster, manifests, scenario, yamlfiles
from lab.errors import LabError
from lab.fields import Field


def _key(obj):
    return (obj.kind, obj.namespace, obj.name)


def desired_objects(record, spec):
    applied = [manifests.parse_object(Field(doc, label)) for label, doc in record.data.get("applied", [])]
    deleted = {tuple(k) for k in record.data.get("deleted", [])}
    by_key = {_key(o): o for o in spec.objects}
    for obj in applied:
        by_key[_key(obj)] = obj
    return [o for k, o in by_key.items() if k not in deleted]


def load_spec(record):
    path = record.data.get("scenario")
    if not path or not os.path.exists(path):
        raise LabError(f"the scenario this lab came from ({path}) is gone; changes need it")
    return scenario.load(path, record.lab)


def next_state(record, old, spec, objects):
    deployments = {(o.namespace, o.name) for o in objects if o.kind == "Deployment"}
    pins = tuple(p for p in spec.pod_pins if (p.namespace, p.deployment) in deployments)  # of deleted ones: moot
    fresh = cluster.build(dataclasses.replace(spec, objects=tuple(objects), pod_pins=pins))
    return cluster.carry_over(old, fresh)


def apply_file(record, old, path):
    """(new state, lines saying what changed) for ``lab apply FILE``."""
    labels = yamlfiles.labelled_documents(path)
    new_objects = [manifests.parse_object(Field(doc, label)) for label, doc in labels]
    spec = load_spec(record)
    before = {_key(o): o for o in desired_objects(record, spec)}
    record.data.setdefault("applied", [])
    record.data["deleted"] = [k for k in record.data.get("deleted", [])
                              if tuple(k) not in {_key(o) for o in new_objects}]
    objects = dict(before)
    for obj in new_objects:
        objects[_key(obj)] = obj
    new = next_state(record, old, spec, list(objects.values()))
    record.data["applied"] += labels
    lines = []
    for obj in new_objects:
        word = "created" if _key(obj) not in before else ("unchanged" if before[_key(obj)] == obj else "configured")
        lines.append(f"{_resource(obj)}/{obj.name} {word}")
    return new, lines


def delete_object(record, old, kind, namespace, name):
    spec = load_spec(record)
    objects = desired_objects(record, spec)
    match = [o for o in objects if (o.kind, o.namespace, o.name) == (kind, namespace, name)]
    if not match:
        raise LabError(f'{_plural(kind)} "{name}" not found in namespace {namespace}')
    record.data.setdefault("deleted", []).append([kind, namespace, name])
    new = next_state(record, old, spec, [o for o in objects if o not in match])
    return new, [f'{_resource(match[0])} "{name}" deleted']


def _resource(obj):
    return {"Deployment": "deployment.apps", "Service": "service", "Pod": "pod",
            "EndpointSlice": "endpointslice.discovery.k8s.io"}[obj.kind]


def _plural(kind):
    return {"Deployment": "deployments.apps", "Service": "services", "Pod": "pods",
            "EndpointSlice": "endpointslices.discovery.k8s.io"}[kind]
