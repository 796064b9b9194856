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
    """Seconds since the epoch of an RFC 3339 time (metav1.Time or MicroTime); None if not one."""
    if not isinstance(text, str) or not text:
        return None
    for form in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.datetime.strptime(text, form).replace(tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            continue
    return None


def since(text, now):
    """translateTimestampSince: the time since ``text`` (a timestamp) as kubectl shows it."""
    when = parse_time(text)
    return "<unknown>" if when is None else human_age(now - when)


def age(obj, now):
    return since(obj["metadata"].get("creationTimestamp"), now)


# pods ------------------------------------------------------------------------------------------

def _restartable(container):
    return isinstance(container, dict) and container.get("restartPolicy") == "Always"


def _terminated_reason(state, prefix=""):
    reason = state.get("reason")
    if reason:
        return prefix + reason
    if state.get("signal"):
        return f"{prefix}Signal:{state['signal']}"
    return f"{prefix}ExitCode:{state.get('exitCode', 0)}"


def _finished(status, latest):
    finished = parse_time(((status.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
    return finished if finished is not None and (latest is None or finished > latest) else latest


def _pod(obj, now):
    """printPod: READY counts running ready containers, STATUS the first container's waiting or
    terminated reason (else the phase), RESTARTS with when the last one was."""
    status, spec, meta = obj.get("status") or {}, obj.get("spec") or {}, obj["metadata"]
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or [] if isinstance(c, dict)}
    total = len(spec.get("containers") or []) + sum(1 for c in init_specs.values() if _restartable(c))
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
           for c in status.get("conditions") or []):
        reason = "SchedulingGated"
    restarts, ready, latest = 0, 0, None
    sidecar_restarts, sidecar_latest = 0, None
    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, c in enumerate(init_statuses):
        state = c.get("state") or {}
        restarts += c.get("restartCount", 0)
        latest = _finished(c, latest)
        sidecar = _restartable(init_specs.get(c.get("name")))
        if sidecar:
            sidecar_restarts += c.get("restartCount", 0)
            sidecar_latest = _finished(c, sidecar_latest)
        if "terminated" in state and (state["terminated"] or {}).get("exitCode", 0) == 0:
            continue
        if sidecar and c.get("started"):
            ready += bool(c.get("ready"))
            continue
        if "terminated" in state:
            reason = _terminated_reason(state["terminated"] or {}, "Init:")
        elif (state.get("waiting") or {}).get("reason") not in (None, "", "PodInitializing"):
            reason = "Init:" + state["waiting"]["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True"
                      for c in status.get("conditions") or [])
    if not initializing or initialized:
        restarts, latest, running = sidecar_restarts, sidecar_latest, False
        for c in reversed(status.get("containerStatuses") or []):
            state = c.get("state") or {}
            restarts += c.get("restartCount", 0)
            latest = _finished(c, latest)
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif "terminated" in state:
                reason = _terminated_reason(state["terminated"] or {})
            elif c.get("ready") and "running" in state:
                running = True
                ready += 1
        if reason == "Completed" and running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in status.get("conditions") or [])
            reason = "Running" if pod_ready else "NotReady"
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    shown_restarts = str(restarts)
    if restarts and latest is not None:
        shown_restarts = f"{restarts} ({human_age(now - latest)} ago)"
    ip = ((status.get("podIPs") or [{}])[0] or {}).get("ip") or "<none>"
    gates = spec.get("readinessGates") or []
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    gates_ready = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
    return [meta["name"], f"{ready}/{total}", reason, shown_restarts, age(obj, now), ip,
            spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>",
            f"{gates_ready}/{len(gates)}" if gates else "<none>"]


# services --------------------------------------------------------------------------------------

def _external_ip(obj):
    """getServiceExternalIP: a LoadBalancer's ingress addresses (a sorted set) and externalIPs."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    kind = spec.get("type", "ClusterIP")
    ips = list(spec.get("externalIPs") or [])
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(ips) or "<none>"
    if kind == "LoadBalancer":
        ingress = sorted({i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress")
                          or [] if i.get("ip") or i.get("hostname")})
        return ",".join(ingress + ips) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _ports(obj):
    ports = obj.get("spec", {}).get("ports") or []
    if not ports:
        return "<none>"
    return ",".join(f"{p['port']}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
                    else f"{p['port']}/{p.get('protocol', 'TCP')}" for p in ports)


def _selector(pairs):
    return ",".join(f"{k}={v}" for k, v in sorted((pairs or {}).items())) or "<none>"


def _service(obj, now):
    spec = obj.get("spec") or {}
    cluster_ip = (spec.get("clusterIPs") or [None])[0] or "<none>"
    return [obj["metadata"]["name"], spec.get("type", "ClusterIP"), cluster_ip, _external_ip(obj), _ports(obj),
            age(obj, now), _selector(spec.get("selector"))]


# endpoints -------------------------------------------------------------------------------------

def _more(shown, count, empty):
    """listWithMoreString: three items, then ``+ N more...``."""
    text = ",".join(shown[:3])
    if count > 3:
        return f"{text} + {count - 3} more..."
    return text or empty


def _endpoints(obj, now):
    """formatEndpoints: per subset, per port, its ready addresses (``<none>`` without subsets)."""
    subsets = obj.get("subsets") or []
    shown, count = [], 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:  # a headless service's
            count += len(addresses)
            shown += addresses
            continue
        for port in ports:
            count += len(addresses)
            shown += [f"{ip}:{port.get('port', 0)}" for ip in addresses]
    return [obj["metadata"]["name"], _more(shown, count, "") if subsets else "<none>", age(obj, now)]


def _endpoint_slice(obj, now):
    ports = [str(p["port"]) if p.get("port") is not None else p["name"] if p.get("name") is not None else "*"
             for p in obj.get("ports") or []]
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    return [obj["metadata"]["name"], obj.get("addressType", ""), _more(ports, len(ports), "<unset>"),
            _more(addresses, len(addresses), "<unset>"), age(obj, now)]


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
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and
                   k != "node-role.kubernetes.io/")
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


def _label_selector(obj, empty="<none>"):
    """metav1.LabelSelectorAsSelector(...).String(): requirements by key, set values sorted."""
    selector = (obj.get("spec") or {}).get("selector") or {}
    parts = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key", ""), e.get("operator", ""), sorted(set(e.get("values") or []))
        if op in ("In", "NotIn"):
            parts.append((key, f"{key} {op.lower()} ({','.join(values)})"))
        elif op in ("Exists", "DoesNotExist"):
            parts.append((key, key if op == "Exists" else f"!{key}"))
        else:
            return "<invalid>" if empty == "" else "<error>"
    return ",".join(text for _, text in sorted(parts, key=lambda p: p[0])) or empty


def _deployment(obj, now):
    spec, status = obj.get("spec", {}), obj.get("status", {})
    names, images = _containers(obj)
    return [obj["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), age(obj, now), names, images,
            _label_selector(obj, empty="")]


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
    """printEvent: times from lastTimestamp/firstTimestamp (or eventTime, or the series), the
    object as kind/name, the source as component[, host]."""
    involved, source = obj.get("involvedObject") or {}, obj.get("source") or {}
    component = source.get("component") or obj.get("reportingComponent") or ""
    instance = source.get("host") or obj.get("reportingInstance") or ""
    first = since(obj.get("firstTimestamp") or obj.get("eventTime"), now)
    last = since(obj["lastTimestamp"], now) if obj.get("lastTimestamp") else first
    count = obj.get("count") or 1
    if obj.get("series"):
        last = since(obj["series"].get("lastObservedTime"), now)
        count = obj["series"].get("count", count)
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    return [last, obj.get("type", ""), obj.get("reason", ""), target, involved.get("fieldPath", ""),
            f"{component}, {instance}" if instance else component, (obj.get("message") or "").strip(), first, count,
            obj["metadata"]["name"]]


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
