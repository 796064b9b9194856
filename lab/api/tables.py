"""Server-side printing: the ``meta.k8s.io/v1`` Table of a list, with kube-apiserver's columns and
cell rules for each resource (what ``kubectl get`` prints, wide columns at priority 1). Pure.
``lab get`` prints the same tables, so the two agree by construction."""

import datetime

from lab.tables import human_age

DESCRIPTIONS = {"Name": "Name must be unique within a namespace.",
                "Age": "CreationTimestamp is a timestamp representing the server time when this object was created."}


def _col(name, priority=0, kind="string", fmt=""):
    return {"name": name, "type": kind, "format": "name" if name == "Name" else fmt,
            "description": DESCRIPTIONS.get(name, name), "priority": priority}


def parse_time(text):
    if not text:
        return None
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def age(obj, now):
    created = parse_time(obj["metadata"].get("creationTimestamp"))
    if created is None:
        return "<unknown>"
    if created - now > 1:
        return "<invalid>"
    return human_age(now - created)


def _age_of(text, now):
    when = parse_time(text)
    return "<unknown>" if when is None else human_age(now - when)


# pods ------------------------------------------------------------------------------------------

def _pod(obj, now):
    status, spec = obj.get("status", {}), obj.get("spec", {})
    containers = spec.get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    reason = status.get("reason") or status.get("phase", "")
    for s in statuses:
        state = s.get("state", {})
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            reason = state["terminated"].get("reason") or "Completed"
    if obj["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restarts = str(sum(s.get("restartCount", 0) for s in statuses))
    ip = (status.get("podIPs") or [{}])[0].get("ip") or status.get("podIP") or "<none>"
    gates = spec.get("readinessGates") or []
    return [obj["metadata"]["name"], f"{ready}/{len(containers)}", reason, restarts, age(obj, now), ip,
            spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>",
            f"{len(gates)}/{len(gates)}" if gates else "<none>"]


# services --------------------------------------------------------------------------------------

def _external_ip(obj):
    spec, status = obj.get("spec", {}), obj.get("status", {})
    kind = spec.get("type", "ClusterIP")
    if kind == "ExternalName":
        return spec.get("externalName", "")
    ips = list(spec.get("externalIPs") or [])
    if kind == "LoadBalancer":
        ingress = [i.get("ip") or i.get("hostname") for i in status.get("loadBalancer", {}).get("ingress") or []]
        ips = ingress + ips
        return ",".join(ips) if ips else "<pending>"
    return ",".join(ips) if ips else "<none>"


def _ports(obj):
    ports = obj.get("spec", {}).get("ports") or []
    if not ports:
        return "<none>"
    return ",".join(f"{p['port']}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
                    else f"{p['port']}/{p.get('protocol', 'TCP')}" for p in ports)


def _selector(pairs):
    return ",".join(f"{k}={v}" for k, v in sorted((pairs or {}).items())) or "<none>"


def _service(obj, now):
    spec = obj.get("spec", {})
    cluster_ip = (spec.get("clusterIPs") or [spec.get("clusterIP")])[0] or "<none>"
    if spec.get("type") == "ExternalName":
        cluster_ip = "<none>"
    return [obj["metadata"]["name"], spec.get("type", "ClusterIP"), cluster_ip, _external_ip(obj), _ports(obj),
            age(obj, now), _selector(spec.get("selector"))]


# endpoints -------------------------------------------------------------------------------------

def _more(items):
    if not items:
        return None
    shown = ",".join(items[:3])
    return shown + (f" + {len(items) - 3} more..." if len(items) > 3 else "")


def _endpoints(obj, now):
    pairs = []
    for subset in obj.get("subsets") or []:
        for address in subset.get("addresses") or []:
            for port in subset.get("ports") or [{}]:
                pairs.append(f"{address['ip']}:{port['port']}" if "port" in port else address["ip"])
    return [obj["metadata"]["name"], _more(pairs) or "<none>", age(obj, now)]


def _endpoint_slice(obj, now):
    ports = [str(p["port"]) if p.get("port") is not None else "*" for p in obj.get("ports") or []]
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses", [])]
    return [obj["metadata"]["name"], obj.get("addressType", ""), _more(ports) or "<unset>",
            _more(addresses) or "<unset>", age(obj, now)]


# nodes and namespaces --------------------------------------------------------------------------

def _node(obj, now):
    status = obj.get("status", {})
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    # kubectl's rule: Ready only when the condition is True; False and Unknown (a node that
    # stopped posting its status) are both NotReady; Unknown only without a Ready condition
    state = "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    if obj.get("spec", {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = obj["metadata"].get("labels") or {}
    roles = [k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and k.split("/", 1)[1]]
    if labels.get("kubernetes.io/role"):
        roles.append(labels["kubernetes.io/role"])
    info = status.get("nodeInfo", {})
    addresses = {a["type"]: a["address"] for a in status.get("addresses") or []}
    return [obj["metadata"]["name"], state, ",".join(sorted(set(roles))) or "<none>", age(obj, now),
            info.get("kubeletVersion", ""), addresses.get("InternalIP", "<none>"),
            addresses.get("ExternalIP", "<none>"), info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>"]


def _namespace(obj, now):
    return [obj["metadata"]["name"], obj.get("status", {}).get("phase", ""), age(obj, now)]


# workloads -------------------------------------------------------------------------------------

def _containers(obj):
    containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _label_selector(obj):
    selector = obj.get("spec", {}).get("selector") or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or []:
        values = ",".join(e.get("values") or [])
        parts.append(f"{e['key']} {e['operator'].lower()} ({values})" if values else
                     (e["key"] if e["operator"] == "Exists" else f"!{e['key']}"))
    return ",".join(parts) or "<none>"


def _deployment(obj, now):
    spec, status = obj.get("spec", {}), obj.get("status", {})
    names, images = _containers(obj)
    return [obj["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), age(obj, now), names, images,
            _label_selector(obj)]


def _replicaset(obj, now):
    spec, status = obj.get("spec", {}), obj.get("status", {})
    names, images = _containers(obj)
    return [obj["metadata"]["name"], spec.get("replicas", 1), status.get("replicas", 0),
            status.get("readyReplicas", 0), age(obj, now), names, images, _label_selector(obj)]


def _statefulset(obj, now):
    spec, status = obj.get("spec", {}), obj.get("status", {})
    names, images = _containers(obj)
    return [obj["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", age(obj, now),
            names, images]


def _daemonset(obj, now):
    status = obj.get("status", {})
    selector = obj.get("spec", {}).get("template", {}).get("spec", {}).get("nodeSelector")
    names, images = _containers(obj)
    return [obj["metadata"]["name"], status.get("desiredNumberScheduled", 0),
            status.get("currentNumberScheduled", 0), status.get("numberReady", 0),
            status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0), _selector(selector),
            age(obj, now), names, images, _label_selector(obj)]


def _configmap(obj, now):
    return [obj["metadata"]["name"], len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), age(obj, now)]


def _lease(obj, now):
    return [obj["metadata"]["name"], obj.get("spec", {}).get("holderIdentity") or "", age(obj, now)]


def _event(obj, now):
    involved = obj.get("involvedObject", {})
    source = obj.get("source", {})
    src = ", ".join(x for x in (source.get("component"), source.get("host")) if x) or \
        ", ".join(x for x in (obj.get("reportingComponent"), obj.get("reportingInstance")) if x)
    last = obj.get("lastTimestamp") or obj.get("firstTimestamp") or obj.get("eventTime")
    first = obj.get("firstTimestamp") or obj.get("eventTime")
    return [_age_of(last, now), obj.get("type", ""), obj.get("reason", ""),
            f"{involved.get('kind', '').lower()}/{involved.get('name', '')}", involved.get("fieldPath", ""), src,
            obj.get("message", ""), _age_of(first, now), obj.get("count", 1), obj["metadata"]["name"]]


PRINTERS = {
    "pods": ([_col("Name"), _col("Ready"), _col("Status"), _col("Restarts"), _col("Age"), _col("IP", 1),
              _col("Node", 1), _col("Nominated Node", 1), _col("Readiness Gates", 1)], _pod),
    "services": ([_col("Name"), _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), _col("Age"),
                  _col("Selector", 1)], _service),
    "endpoints": ([_col("Name"), _col("Endpoints"), _col("Age")], _endpoints),
    "endpointslices": ([_col("Name"), _col("AddressType"), _col("Ports"), _col("Endpoints"), _col("Age")],
                       _endpoint_slice),
    "nodes": ([_col("Name"), _col("Status"), _col("Roles"), _col("Age"), _col("Version"), _col("Internal-IP", 1),
               _col("External-IP", 1), _col("OS-Image", 1), _col("Kernel-Version", 1),
               _col("Container-Runtime", 1)], _node),
    "namespaces": ([_col("Name"), _col("Status"), _col("Age")], _namespace),
    "deployments": ([_col("Name"), _col("Ready"), _col("Up-to-date", kind="integer"),
                     _col("Available", kind="integer"), _col("Age"), _col("Containers", 1), _col("Images", 1),
                     _col("Selector", 1)], _deployment),
    "replicasets": ([_col("Name"), _col("Desired", kind="integer"), _col("Current", kind="integer"),
                     _col("Ready", kind="integer"), _col("Age"), _col("Containers", 1), _col("Images", 1),
                     _col("Selector", 1)], _replicaset),
    "statefulsets": ([_col("Name"), _col("Ready"), _col("Age"), _col("Containers", 1), _col("Images", 1)],
                     _statefulset),
    "daemonsets": ([_col("Name"), _col("Desired", kind="integer"), _col("Current", kind="integer"),
                    _col("Ready", kind="integer"), _col("Up-to-date", kind="integer"),
                    _col("Available", kind="integer"), _col("Node Selector"), _col("Age"), _col("Containers", 1),
                    _col("Images", 1), _col("Selector", 1)], _daemonset),
    "configmaps": ([_col("Name"), _col("Data", kind="integer"), _col("Age")], _configmap),
    "leases": ([_col("Name"), _col("Holder"), _col("Age")], _lease),
    "events": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Subobject", 1),
                _col("Source", 1), _col("Message"), _col("First Seen", 1), _col("Count", 1, "integer"),
                _col("Name", 1)], _event),
}


def partial_metadata(obj):
    meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


def columns(plural):
    return PRINTERS.get(plural, ([_col("Name"), _col("Age")], None))[0]


def row(plural, obj, now):
    printer = PRINTERS.get(plural, (None, None))[1]
    cells = printer(obj, now) if printer else [obj["metadata"]["name"], age(obj, now)]
    return {"cells": cells, "object": partial_metadata(obj)}


def table(plural, objects, resource_version, now, with_columns=True):
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(resource_version)},
            "columnDefinitions": columns(plural) if with_columns else [],
            "rows": [row(plural, o, now) for o in objects]}


def text(plural, objects, now, wide=False, namespaces=False, labels=False):
    """The table as kubectl prints it: (headers, rows), priority-1 columns only with ``wide``."""
    cols = columns(plural)
    keep = [i for i, c in enumerate(cols) if wide or c["priority"] == 0]
    headers = [cols[i]["name"].upper() for i in keep]
    out = []
    for obj in objects:
        cells = row(plural, obj, now)["cells"]
        line = [str(cells[i]) for i in keep]
        if namespaces:
            line = [obj["metadata"].get("namespace", "")] + line
        if labels:
            line.append(",".join(f"{k}={v}" for k, v in sorted((obj["metadata"].get("labels") or {}).items()))
                        or "<none>")
        out.append(line)
    if namespaces:
        headers = ["NAMESPACE"] + headers
    if labels:
        headers.append("LABELS")
    return headers, out
