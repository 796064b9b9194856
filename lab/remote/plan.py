"""What a run against a cluster does, decided from the scenario and the cluster's own objects.
Pure: the run's labels and namespaces, the manifests as they are sent, what to wait for, which
cluster node a topology node is, the placeholders' values, and where each check runs from (or
why it cannot run)."""

import dataclasses
import re
import secrets
import time

from lab.cluster.build import build_cluster
from lab.cluster.resources import copy_manifest
from lab.errors import LabError
from lab.verify import report

RUN_LABEL = "svclab.io/run"  # on everything a run creates: the run's id
SCENARIO_LABEL = "svclab.io/scenario"  # ... and the scenario's name, so the next run finds leftovers
CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
ORDER = ("Namespace", "ConfigMap", "Service", "Endpoints", "EndpointSlice") + WORKLOADS + ("Pod",)
DEFAULT_PROBE_IMAGE = "curlimages/curl"
NEEDS_LAB = "needs the lab's own machines"


def run_id(scenario_name, now=None, token=None):
    """A label value naming one run: the scenario, the time, four random characters."""
    stamp = format(int(now if now is not None else time.time()), "x")
    token = token or secrets.token_hex(2)
    return f"{scenario_name[:40]}-{stamp}-{token}"


def run_labels(spec, run):
    return {RUN_LABEL: run, SCENARIO_LABEL: spec.name[:63]}


def mapped_namespace(namespace, prefix):
    """Where objects of the scenario's ``namespace`` go on the cluster."""
    namespace = namespace or "default"
    return f"{prefix}{namespace}" if prefix else namespace


def manifests(spec, labels, prefix=""):
    """The scenario's objects as they are sent: each with the run's labels (a workload's pod
    template too, so its pods carry them), in its mapped namespace, namespaces first."""
    out = []
    for obj in spec.objects:
        m = copy_manifest(obj.manifest)
        kind = m.get("kind")
        meta = m.setdefault("metadata", {})
        meta.pop("resourceVersion", None)
        meta.pop("uid", None)
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        if kind == "Namespace":
            meta["name"] = mapped_namespace(meta.get("name"), prefix)
        else:
            meta["namespace"] = mapped_namespace(meta.get("namespace"), prefix)
        if kind in WORKLOADS:
            tmeta = m.setdefault("spec", {}).setdefault("template", {}).setdefault("metadata", {})
            tmeta["labels"] = {**(tmeta.get("labels") or {}), **labels}
        out.append(m)
    return sorted(out, key=lambda m: ORDER.index(m["kind"]) if m["kind"] in ORDER else len(ORDER))


def namespaces(objects):
    """The namespaces the objects go into (the cluster's own default included)."""
    return sorted({o["metadata"]["namespace"] for o in objects if o["kind"] != "Namespace"}
                  | {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"})


def namespace_object(name, labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels)}}


# what the scenario promises -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Model:
    """The scenario as a lab would build it: its pods and services (the add-ons left out)."""

    cluster: object  # lab.cluster.model.ClusterState
    pods: tuple
    services: tuple
    known: frozenset  # every placeholder name the scenario may use

    def ready_pods(self):
        return sum(p.ready for p in self.pods)

    def services_with_endpoints(self):
        """(namespace, name) of the services the scenario gives ready endpoints."""
        out = []
        for s in self.services:
            if any(e.ready for port in s.ports[:1] for e in self.cluster.endpoints_for(s, port)):
                out.append((s.namespace, s.name))
        return out


def model(spec):
    cluster = build_cluster(spec)
    base = build_cluster(dataclasses.replace(spec, objects=(), pod_pins=(), service_pins=(), frontends=()))
    base_pods = {(p.namespace, p.name) for p in base.pods}
    base_services = {s.key for s in base.services}
    return Model(cluster, tuple(p for p in cluster.pods if (p.namespace, p.name) not in base_pods),
                 tuple(s for s in cluster.services if s.key not in base_services),
                 frozenset(report.placeholders(cluster)))


# nodes ----------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ClusterNode:
    name: str
    ip: str
    control_plane: bool = False
    topology_name: str = None  # the node label lab export --format kind gives each kind node


TOPOLOGY_LABEL = "svclab.io/node"


def cluster_nodes(items):
    """ClusterNode for each Node object: its InternalIP (else its first address)."""
    out = []
    for n in items:
        addresses = (n.get("status") or {}).get("addresses") or []
        ip = next((a["address"] for a in addresses if a.get("type") == "InternalIP"),
                  next((a["address"] for a in addresses if a.get("type") != "Hostname"), None))
        labels = n["metadata"].get("labels") or {}
        out.append(ClusterNode(n["metadata"]["name"], ip, any(k in labels for k in CONTROL_PLANE_LABELS),
                               labels.get(TOPOLOGY_LABEL)))
    return out


def parse_node_map(text):
    """``master=kind-control-plane,node1=kind-worker`` as a dict."""
    if not text:
        return {}
    out = {}
    for term in text.split(","):
        name, sep, node = term.partition("=")
        if not sep or not name.strip() or not node.strip():
            raise LabError(f"--node-map {text!r}: write TOPOLOGY-NODE=CLUSTER-NODE[,...], e.g. "
                           "master=kind-control-plane,node1=kind-worker")
        out[name.strip()] = node.strip()
    return out


def map_nodes(topology_names, nodes, explicit=None):
    """{topology node: ClusterNode}: the explicit map, else the nodes labelled svclab.io/node=NAME
    (as lab export --format kind labels them), else the same names (or ``<anything>-name``,
    as a lab's nodes are named), else the topology's order against the cluster's (control-plane
    nodes first, then by name). A topology node without a cluster node is left out."""
    by_name = {n.name: n for n in nodes}
    if explicit:
        unknown = sorted(set(explicit) - set(topology_names))
        if unknown:
            raise LabError(f"--node-map names {', '.join(unknown)}, which the topology has not "
                           f"(its nodes: {', '.join(topology_names)})")
        missing = sorted(v for v in explicit.values() if v not in by_name)
        if missing:
            raise LabError(f"--node-map names {', '.join(missing)}, which the cluster has not "
                           f"(its nodes: {', '.join(sorted(by_name))})")
        return {t: by_name[c] for t, c in explicit.items()}
    labelled = {n.topology_name: n for n in nodes if n.topology_name}
    if all(t in labelled for t in topology_names):
        return {t: labelled[t] for t in topology_names}
    if all(t in by_name for t in topology_names):
        return {t: by_name[t] for t in topology_names}
    suffixed = {t: [n for n in nodes if n.name.endswith(f"-{t}")] for t in topology_names}
    if all(len(v) == 1 for v in suffixed.values()):
        return {t: v[0] for t, v in suffixed.items()}
    ordered = sorted(nodes, key=lambda n: (not n.control_plane, n.name))
    return dict(zip(topology_names, ordered))


# placeholders ---------------------------------------------------------------------------------

def values(spec, node_map, services, pod_ips, dns_ip, prefix=""):
    """(values, unavailable): each placeholder the cluster's objects give a value, and why the
    others (the lab's own machines) have none. ``services``: Service objects; ``pod_ips``:
    {scenario pod name: IP on the cluster}."""
    out = {t: n.ip for t, n in node_map.items() if n.ip}
    unavailable = {h.name: f"{{{h.name}}} is a machine of the lab ({NEEDS_LAB})" for h in spec.topology.hosts}
    unavailable["lb"] = "{lb} is the lab's front load balancer, which a cluster has not"
    if dns_ip:
        out["dns"] = dns_ip
    original = {mapped_namespace(ns, prefix): ns for ns in _scenario_namespaces(spec)}
    for s in services:
        meta, sspec = s["metadata"], s.get("spec") or {}
        ns = original.get(meta.get("namespace"))
        if ns is None:
            continue
        for key in ([meta["name"]] if ns == "default" else []) + [f"{ns}/{meta['name']}"]:
            if sspec.get("clusterIP") not in (None, "", "None"):
                out[f"svc:{key}"] = sspec["clusterIP"]
            ports = [p["nodePort"] for p in sspec.get("ports") or [] if p.get("nodePort")]
            if ports:
                out[f"nodeport:{key}"] = str(ports[0])
            ingress = ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if ingress and ingress[0].get("ip"):
                out[f"lbip:{key}"] = ingress[0]["ip"]
    for name, ip in pod_ips.items():
        if ip:
            out[f"pod:{name}"] = ip
    return out, unavailable


def pinned_address(spec, host):
    """Why a check aimed at ``host`` cannot run on a cluster when ``host`` is an address the
    scenario pins for the lab (a pod's IP, a Service's ClusterIP): a cluster chooses its own. None
    otherwise."""
    for pin in spec.pod_pins:
        if pin.ip is not None and str(pin.ip) == host:
            return (f"{host} is the address the scenario pins for a pod of {pin.deployment}, which a cluster "
                    f"chooses itself (write {{pod:NAME}} to follow the pod)")
    for pin in spec.service_pins:
        if str(pin.cluster_ip) == host:
            return (f"{host} is the ClusterIP the scenario pins for Service {pin.name}, which a cluster chooses "
                    f"itself (write {{svc:{pin.name}}} to follow it)")
    return None


def template_hash(text, model_, pods):
    """Why a check whose ``text`` names a pod by the hash of its Deployment's template as the
    scenario writes it (``pod-nodeport-6cc49c7999-``) cannot pass on a cluster whose pods carry
    another hash (the run labels the template, so the cluster hashes another one); None otherwise."""
    live = {(p["metadata"].get("labels") or {}).get("pod-template-hash") for p in pods}
    for p in model_.pods:
        value = dict(p.labels).get("pod-template-hash")
        if value and value not in live and f"-{value}-" in (text or ""):
            return (f"names pods by their template's hash {value}, and the run's labels on the template "
                    "(svclab.io/run) give the cluster's pods another one")
    return None


def _scenario_namespaces(spec):
    found = {"default"}
    for obj in spec.objects:
        meta = obj.manifest.get("metadata") or {}
        found.add(meta.get("name") if obj.manifest.get("kind") == "Namespace" else meta.get("namespace") or "default")
    return found


def fill(text, where, vals, unavailable, known):
    """``text`` with its placeholders filled: (text, None), or (None, why not) when the cluster
    cannot give one. A name the scenario could never give is bad input, as on a lab."""
    for name in report.names_in(text):
        if name in vals:
            continue
        if name in unavailable:
            return None, unavailable[name]
        if name in known:
            return None, f"the cluster has no value for {{{name}}}"
        report.expand(text, vals, where)  # raises: unknown placeholder
    return report.expand(text, vals, where), None


def rename_dns(name, prefix, scenario_namespaces):
    """A DNS name that names a scenario namespace (``web.shop``, ``web.shop.svc.cluster.local``)
    with that namespace as it is on the cluster."""
    if not prefix:
        return name
    labels = name.split(".")
    if len(labels) >= 2 and labels[1] in scenario_namespaces:
        labels[1] = prefix + labels[1]
    return ".".join(labels)


# where a check runs from ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Source:
    kind: str  # client, node, pod, skip
    node: str = None  # node: the topology node
    pod: tuple = None  # pod: (namespace, name) on the cluster
    reason: str = None  # skip: why


def pod_labels(pod):
    """The labels a scenario pod has from its template (not those its controller adds)."""
    return {k: v for k, v in pod.labels if k not in ("pod-template-hash", "statefulset.kubernetes.io/pod-name")}


def find_pod(name_or_label, model_, pods, node_map, prefix=""):
    """(namespace, name) of the cluster pod that plays the scenario pod ``name_or_label`` (a pod's
    name, or ``pod:KEY=VALUE``): one of the same controller's pods (same template labels), on
    the node the lab would have put it on when there is one. None when none is there."""
    live = sorted((p for p in pods if (p.get("status") or {}).get("podIP")),
                  key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))
    if name_or_label.startswith("pod:"):
        key, _, value = name_or_label[4:].partition("=")
        found = [p for p in live if (p["metadata"].get("labels") or {}).get(key) == value]
        return _key(found[0]) if found else None
    wanted = next((p for p in model_.pods if p.name == name_or_label), None)
    if wanted is None:
        return None
    namespace = mapped_namespace(wanted.namespace, prefix)
    same = [p for p in live if p["metadata"]["namespace"] == namespace]
    exact = [p for p in same if p["metadata"]["name"] == wanted.name]
    if exact:
        return _key(exact[0])
    labels = pod_labels(wanted)
    alike = [p for p in same if labels.items() <= (p["metadata"].get("labels") or {}).items()]
    node = node_map.get(wanted.node)
    local = [p for p in alike if node is not None and (p.get("spec") or {}).get("nodeName") == node.name]
    found = local or alike
    return _key(found[0]) if found else None


def _key(pod):
    return pod["metadata"]["namespace"], pod["metadata"]["name"]


def node_of(name, spec):
    """The topology node a check's ``from:`` names (by its name or its lab hostname), or None."""
    for n in spec.topology.nodes:
        if name in (n.name, f"{spec.name}-{n.name}"):
            return n.name
    return None


def source(name, spec, model_, pods, node_map, prefix=""):
    """Where the check written ``from: name`` runs on the cluster."""
    if name == "client":
        return Source("client")
    node = node_of(name, spec)
    if node is not None:
        if node not in node_map:
            return Source("skip", reason=f"the cluster has no node for the topology's {node}")
        return Source("node", node=node)
    if any(h.name == name for h in spec.topology.hosts) or name == "lb":
        return Source("skip", reason=f"{name} is a machine of the lab ({NEEDS_LAB})")
    found = find_pod(name, model_, pods, node_map, prefix)
    if found is None:
        known = name.startswith("pod:") or any(p.name == name for p in model_.pods)
        if not known:
            raise LabError(f"{spec.source}: checks: from: {name!r}: no node, host or pod of the scenario has "
                           "that name (use a node or host name, a pod's name, or pod:KEY=VALUE)")
        return Source("skip", reason=f"no pod of the run plays {name}")
    return Source("pod", pod=found)


# probe pods -----------------------------------------------------------------------------------

PROBE_NAME = re.compile(r"[^a-z0-9-]+")


def probe_pod(node, namespace, image, labels, run):
    """A pod in the node's own network namespace (hostNetwork), pinned to it: a node's checks
    run from there. Its resolver is the node's (dnsPolicy Default), as a node's own programs'."""
    name = PROBE_NAME.sub("-", f"svclab-probe-{node.name}".lower())[:50].strip("-") + "-" + run[-4:]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {"hostNetwork": True, "nodeName": node.name, "dnsPolicy": "Default",
                     "terminationGracePeriodSeconds": 0, "restartPolicy": "Never",
                     "tolerations": [{"operator": "Exists"}],
                     "containers": [{"name": "probe", "image": image, "command": ["sleep", "86400"]}]}}


def host_network_honoured(pod):
    """True when the cluster ran the pod in its node's network namespace (its IP is the node's)."""
    status = pod.get("status") or {}
    return bool(status.get("podIP")) and status.get("podIP") == status.get("hostIP")


def pod_ready(pod):
    conditions = (pod.get("status") or {}).get("conditions") or []
    return (not pod["metadata"].get("deletionTimestamp")
            and any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions))


def ready_addresses(endpoints):
    return [a for subset in (endpoints or {}).get("subsets") or [] for a in subset.get("addresses") or []]
