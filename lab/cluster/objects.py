"""The objects a running cluster holds: the scenario's manifests, plus what was applied since,
minus what was deleted; and the cluster state they lead to from the running one. Pure."""

import dataclasses

from lab.cluster import controllers
from lab.cluster.build import addon_objects, build_cluster
from lab.spec import manifests
from lab.spec.fields import Field

RESOURCES = {"Deployment": "deployment.apps", "ReplicaSet": "replicaset.apps", "StatefulSet": "statefulset.apps",
             "DaemonSet": "daemonset.apps", "Service": "service", "Pod": "pod", "Namespace": "namespace",
             "ConfigMap": "configmap", "EndpointSlice": "endpointslice.discovery.k8s.io", "Endpoints": "endpoints"}
PLURALS = {"Deployment": "deployments.apps", "ReplicaSet": "replicasets.apps", "StatefulSet": "statefulsets.apps",
           "DaemonSet": "daemonsets.apps", "Service": "services", "Pod": "pods", "Namespace": "namespaces",
           "ConfigMap": "configmaps", "EndpointSlice": "endpointslices.discovery.k8s.io",
           "Endpoints": "endpoints"}


def key(obj):
    """(kind, namespace, name): a v1 Endpoints object (read as an EndpointSlice) is its own kind."""
    return (getattr(obj, "legacy_kind", obj.kind), obj.namespace, obj.name)


def parse_all(labelled):
    """Typed objects of ``[(label, document)]``."""
    return [manifests.parse_object(Field(doc, label)) for label, doc in labelled]


def current(scenario, applied, deleted):
    """The objects now: ``scenario``'s, replaced or added to by ``applied`` (typed objects, in
    order), less the keys in ``deleted``."""
    by_key = {key(o): o for o in scenario.objects}
    for obj in applied:
        by_key[key(obj)] = obj
    return [o for k, o in by_key.items() if k not in deleted]


def with_addons(scenario, objects):
    """``objects`` and the cluster's own (cluster DNS): everything the API shows as written."""
    return addon_objects(dataclasses.replace(scenario, objects=tuple(objects))) + list(objects)


def next_state(old, scenario, objects):
    """The running cluster ``old`` moved to hold ``objects``, as its controllers move it."""
    replicas = {(o.namespace, o.name): o.replicas for o in objects if o.kind == "Deployment"}
    # pins of deleted Deployments, and of replicas scaled away, are moot
    pins = tuple(p for p in scenario.pod_pins if p.index < replicas.get((p.namespace, p.deployment), 0))
    fresh = build_cluster(dataclasses.replace(scenario, objects=tuple(objects), pod_pins=pins))
    return controllers.carry_over(old, fresh)
