"""The cluster as the Kubernetes API shows it: every object, in the shape kube-apiserver returns
(the user's manifest with the fields the control plane sets: defaults, allocated addresses and
ports, status), from the cluster state and the objects the lab holds. Pure.

Each object the user wrote carries that manifest as ``"_written"``, kept by the store beside
the object. ``render`` leaves out what only the object store knows (uid, resourceVersion, creationTimestamp,
generation): lab.live.publish adds them, and fills references to other objects (ownerReferences,
targetRef, involvedObject), which carry the referenced object's key as ``"_key"`` until then.
"""

import hashlib

from lab.cluster import naming

KUBE_VERSIONS = {"1.18": "v1.18.20", "current": "v1.33.0"}
BUILTIN_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
SYSTEM_KEYS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
               "deletionTimestamp", "deletionGracePeriodSeconds")


def copy_manifest(value):
    """A copy of manifest data (dicts, lists, scalars): copy.deepcopy, without its cost."""
    if isinstance(value, dict):
        return {k: copy_manifest(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_manifest(v) for v in value]
    return value


def key(api_version, kind, namespace, name):
    return f"{api_version}/{kind}/{namespace or ''}/{name}"


def key_of(obj):
    meta = obj["metadata"]
    return key(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])


def ref(api_version, kind, where, name, **extra):
    """A reference to object ``name`` (in namespace ``where``), resolved to its uid by the store."""
    return {"apiVersion": api_version, "kind": kind, "name": name, **extra,
            "_key": key(api_version, kind, where, name)}


def pod_ref(namespace, name):
    """An endpoint's targetRef: the controllers write kind, namespace, name and uid, no apiVersion."""
    out = ref("v1", "Pod", namespace, name, namespace=namespace)
    del out["apiVersion"]
    return out


def render(cluster, objects, events=(), host=None):
    """{key: object} for the cluster state ``cluster`` holding ``objects`` (typed spec objects with
    their manifests), and the lab's ``events``. ``host``: facts about the machine (kernel)."""
    host = host or {}
    out = {}
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj.kind, []).append(obj)
    for ns in _namespaces(cluster, objects):
        out[key("v1", "Namespace", "", ns["metadata"]["name"])] = ns
    for node in cluster.nodes:
        out[key("v1", "Node", "", node.hostname)] = _node(cluster, node, host)
        out[key("coordination.k8s.io/v1", "Lease", "kube-node-lease", node.hostname)] = _node_lease(node)
    for obj in by_kind.get("ConfigMap", []):
        out[key("v1", "ConfigMap", obj.namespace, obj.name)] = _as_written(obj, "v1", "ConfigMap")
    manifests = {(o.kind, o.namespace, o.name): o for o in objects}
    for svc in cluster.services:
        written = manifests.get(("Service", svc.namespace, svc.name))
        out[key("v1", "Service", svc.namespace, svc.name)] = _service(svc, written)
        _endpoint_objects(out, cluster, svc)
    for obj in by_kind.get("EndpointSlice", []):  # hand-written ones (and v1 Endpoints read as slices)
        api = "v1" if obj.legacy_kind == "Endpoints" else "discovery.k8s.io/v1"
        out[key(api, obj.legacy_kind, obj.namespace, obj.name)] = _as_written(obj, api, obj.legacy_kind)
    pods_by_owner = {}
    for pod in cluster.pods:
        pods_by_owner.setdefault((pod.owner_kind, pod.namespace, pod.owner), []).append(pod)
    for obj in by_kind.get("Deployment", []):
        out[key("apps/v1", "Deployment", obj.namespace, obj.name)] = _deployment(obj, cluster, pods_by_owner)
        for rs in _deployment_replicasets(obj, cluster, pods_by_owner):
            out[key_of(rs)] = rs
    for kind in ("ReplicaSet", "StatefulSet", "DaemonSet"):
        for obj in by_kind.get(kind, []):
            out[key("apps/v1", kind, obj.namespace, obj.name)] = _workload(obj, cluster, pods_by_owner)
    templates = _templates(objects)
    for pod in cluster.pods:
        out[key("v1", "Pod", pod.namespace, pod.name)] = _pod(cluster, pod, templates, manifests)
    for i, event in enumerate(events):
        ev = _event(cluster, event, i)
        out[key_of(ev)] = ev
    for obj in objects:  # what the user wrote, for the store: a patch changes that, not the live form
        manifest = obj.manifest if isinstance(obj.manifest, dict) else None
        written_key = manifest and key(manifest.get("apiVersion"), manifest.get("kind"),
                                       getattr(obj, "namespace", ""), obj.name)
        if written_key in out:
            out[written_key]["_written"] = manifest  # only read from here on
    return out


# metadata -------------------------------------------------------------------------------------

def _meta(name, namespace=None, manifest=None, **more):
    written = (manifest or {}).get("metadata", {}) if isinstance(manifest, dict) else {}
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    for field in ("labels", "annotations", "finalizers", "generateName"):
        if written.get(field):
            meta[field] = copy_manifest(written[field])
    for field, value in more.items():
        if value:
            meta[field] = value
    return meta


def _as_written(obj, api_version, kind):
    """An object the control plane keeps as it was written (its system fields set by the store)."""
    out = copy_manifest(obj.manifest) if isinstance(obj.manifest, dict) else {}
    out["apiVersion"], out["kind"] = api_version, kind
    meta = out.setdefault("metadata", {})
    for k in SYSTEM_KEYS:
        meta.pop(k, None)
    meta["name"] = obj.name
    if getattr(obj, "namespace", ""):
        meta["namespace"] = obj.namespace
    out.pop("status", None) if kind not in ("Namespace",) else None
    if kind == "EndpointSlice":  # every port names itself ("" when unnamed), as real slices do
        for port in out.get("ports") or []:
            port.setdefault("name", "")
            port.setdefault("protocol", "TCP")
    return out


def _suffix(text, length=5):
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


# namespaces and nodes -------------------------------------------------------------------------

def _namespaces(cluster, objects):
    written = {o.name: o for o in objects if o.kind == "Namespace"}
    names = set(BUILTIN_NAMESPACES) | set(written)
    names |= {o.namespace for o in objects if getattr(o, "namespace", "")}
    names |= {p.namespace for p in cluster.pods} | {s.namespace for s in cluster.services}
    out = []
    for name in sorted(names):
        base = _as_written(written[name], "v1", "Namespace") if name in written else \
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        base["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        base["spec"] = {"finalizers": ["kubernetes"]}
        base["status"] = {"phase": "Active"}
        out.append(base)
    return out


def node_role(cluster, node):
    if node != cluster.nodes[0]:
        return None
    return "master" if cluster.kube_proxy.profile == "1.18" else "control-plane"


def _node(cluster, node, host):
    version = KUBE_VERSIONS[cluster.kube_proxy.profile]
    labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "kubernetes.io/hostname": node.hostname, "kubernetes.io/os": "linux"}
    role = node_role(cluster, node)
    if role:
        labels[f"node-role.kubernetes.io/{role}"] = ""
    # the kubelet's conditions; a node that stopped posting its status has every one Unknown
    # (the node lifecycle controller's verdict). Their times are filled in by the store.
    conditions = [{"type": t, "status": s, "lastHeartbeatTime": None, "lastTransitionTime": None, "reason": r,
                   "message": m} for t, s, r, m in (
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"))]
    if not node.ready:
        for c in conditions:
            c.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.")
    spec = {"podCIDR": str(node.pod_cidr), "podCIDRs": [str(node.pod_cidr)]}
    if not node.ready:
        spec["taints"] = [{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
                          {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node.hostname, "labels": labels},
            "spec": spec,
            "status": {"addresses": [{"type": "InternalIP", "address": str(node.ip)},
                                     {"type": "Hostname", "address": node.hostname}],
                       "conditions": conditions,
                       "capacity": {"cpu": "2", "memory": "24Gi", "pods": "110"},
                       "allocatable": {"cpu": "2", "memory": "24Gi", "pods": "110"},
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"architecture": "amd64", "bootID": "", "containerRuntimeVersion":
                                    f"svclab://{cluster.lab}", "kernelVersion": host.get("kernel", ""),
                                    "kubeProxyVersion": version, "kubeletVersion": version, "machineID": "",
                                    "operatingSystem": "linux", "osImage": "svclab network namespace",
                                    "systemUUID": ""}}}


def _node_lease(node):
    """The kubelet's heartbeat Lease in kube-node-lease (``kubectl describe node`` shows it); its
    renewTime is filled in by the store."""
    owner = ref("v1", "Node", "", node.hostname)
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": node.hostname, "namespace": "kube-node-lease", "ownerReferences": [owner]},
            "spec": {"holderIdentity": node.hostname, "leaseDurationSeconds": 40, "renewTime": None}}


# services and their endpoints -----------------------------------------------------------------

def _service(svc, written):
    obj = _as_written(written, "v1", "Service") if written is not None and written.manifest else \
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": svc.name, "namespace": svc.namespace}}
    if (svc.namespace, svc.name) == ("default", "kubernetes"):
        obj["metadata"]["labels"] = {"component": "apiserver", "provider": "kubernetes"}
    spec = obj.setdefault("spec", {})
    spec["type"] = svc.type
    spec["sessionAffinity"] = svc.session_affinity
    if svc.type == "ExternalName":
        spec["externalName"] = svc.external_name
        obj["status"] = {"loadBalancer": {}}
        return obj
    spec["clusterIP"] = svc.cluster_ip
    spec["clusterIPs"] = [svc.cluster_ip]
    spec["ipFamilies"] = ["IPv4"]
    spec["ipFamilyPolicy"] = "SingleStack"
    spec["internalTrafficPolicy"] = svc.internal_traffic_policy
    ports = []
    for p in svc.ports:
        entry = {"protocol": p.protocol, "port": p.port, "targetPort": p.target_port}
        if p.name:
            entry = {"name": p.name, **entry}
        if p.node_port:
            entry["nodePort"] = p.node_port
        ports.append(entry)
    if ports:
        spec["ports"] = ports
    if svc.selector:
        spec["selector"] = dict(svc.selector)
    if svc.type in ("NodePort", "LoadBalancer"):
        spec["externalTrafficPolicy"] = svc.external_traffic_policy
    if svc.session_affinity == "ClientIP":
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": svc.affinity_timeout}}
    if svc.health_check_node_port:
        spec["healthCheckNodePort"] = svc.health_check_node_port
    if svc.type == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    ingress = [{"ip": ip, "ipMode": "VIP"} for ip in svc.lb_ips]
    obj["status"] = {"loadBalancer": {"ingress": ingress} if ingress else {}}
    return obj


def has_managed_endpoints(svc):
    """The endpoints controllers write Endpoints and EndpointSlices for services with a selector
    (and the apiserver for its own service)."""
    return svc.type != "ExternalName" and (svc.selector is not None or (svc.namespace, svc.name) == ("default",
                                                                                                     "kubernetes"))


def _endpoint_objects(out, cluster, svc):
    if not has_managed_endpoints(svc):
        return
    endpoints = _endpoints(cluster, svc)
    out[key_of(endpoints)] = endpoints
    piece = _endpoint_slice(cluster, svc)
    out[key_of(piece)] = piece


def _endpoints(cluster, svc):
    """An Endpoints object: addresses that share the same resolved ports form one subset."""
    by_ip = {}
    for port in svc.ports:
        for e in cluster.endpoints_for(svc, port):
            entry = by_ip.setdefault(str(e.ip), {"endpoint": e, "ports": []})
            entry["ports"].append(dict({"port": e.port, "protocol": port.protocol},
                                       **({"name": port.name} if port.name else {})))
    subsets = {}
    for ip, entry in sorted(by_ip.items()):
        ports_key = tuple(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in entry["ports"]))
        e = entry["endpoint"]
        address = {"ip": ip}
        if e.hostname:
            address["hostname"] = e.hostname
        node = cluster.node(e.node)
        if node is not None:
            address["nodeName"] = node.hostname
        if e.pod:
            address["targetRef"] = pod_ref(svc.namespace, e.pod)
        subset = subsets.setdefault(ports_key, {"ports": entry["ports"]})
        subset.setdefault("addresses" if e.ready else "notReadyAddresses", []).append(address)
    obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": svc.name, "namespace": svc.namespace}}
    if (svc.namespace, svc.name) == ("default", "kubernetes"):
        obj["metadata"]["labels"] = {"endpointslice.kubernetes.io/skip-mirror": "true"}
    if subsets:
        obj["subsets"] = list(subsets.values())
    return obj


def _endpoint_slice(cluster, svc):
    eps = {}
    for port in svc.ports:
        for e in cluster.endpoints_for(svc, port):
            eps.setdefault(str(e.ip), e)
    items = []
    for ip, e in sorted(eps.items()):
        item = {"addresses": [ip], "conditions": {"ready": e.ready, "serving": e.serving,
                                                  "terminating": e.terminating}}
        if e.hostname:
            item["hostname"] = e.hostname
        node = cluster.node(e.node)
        if node is not None:
            item["nodeName"] = node.hostname
        if e.pod:
            item["targetRef"] = pod_ref(svc.namespace, e.pod)
        items.append(item)
    ports = []
    for port in svc.ports:
        found = cluster.endpoints_for(svc, port)
        number = found[0].port if found else (port.target_port if isinstance(port.target_port, int) else None)
        entry = {"name": port.name, "protocol": port.protocol}
        if number is not None:
            entry["port"] = number
        ports.append(entry)
    name = f"{svc.name}-{_suffix(svc.namespace + '/' + svc.name)}" if svc.name != "kubernetes" else "kubernetes"
    labels = {"kubernetes.io/service-name": svc.name,
              "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    meta = {"name": name, "namespace": svc.namespace, "labels": labels, "generateName": f"{svc.name}-"}
    if svc.name != "kubernetes":
        meta["ownerReferences"] = [ref("v1", "Service", svc.namespace, svc.name, controller=True,
                                       blockOwnerDeletion=True)]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta, "addressType": "IPv4",
            "endpoints": items, "ports": ports}


# workloads ------------------------------------------------------------------------------------

def _ready_pods(pods):
    return [p for p in pods if p.ready and not p.terminating]


def _deployment(obj, cluster, pods_by_owner):
    out = _as_written(obj, "apps/v1", "Deployment")
    spec = out.setdefault("spec", {})
    spec.setdefault("replicas", obj.replicas)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%",
                                                                            "maxUnavailable": "25%"}})
    _template_defaults(spec.get("template"))
    pods = [p for (kind, ns, owner), ps in pods_by_owner.items() if kind == "ReplicaSet" and ns == obj.namespace
            and owner and owner.rsplit("-", 1)[0] == obj.name for p in ps]
    ready = len(_ready_pods(pods))
    status = {"observedGeneration": 1}
    if pods:  # DeploymentStatus's counts are omitempty: a Deployment at 0 shows none of them
        status.update(replicas=len(pods), updatedReplicas=len(pods))
    if ready:
        status["readyReplicas"] = ready
        status["availableReplicas"] = ready
    if len(pods) > ready:
        status["unavailableReplicas"] = len(pods) - ready
    status["conditions"] = [
        {"type": "Available", "status": "True" if ready >= obj.replicas else "False",
         "reason": "MinimumReplicasAvailable" if ready >= obj.replicas else "MinimumReplicasUnavailable",
         "message": "Deployment has minimum availability." if ready >= obj.replicas else
         "Deployment does not have minimum availability."},
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
         "message": f'ReplicaSet "{_replicaset_name(obj, pods)}" has successfully progressed.'}]
    out["status"] = status
    return out


def _replicaset_names(obj, pods):
    """{ReplicaSet name: its pod-template-hash}: those of the Deployment's pods; with no pod (scaled
    to 0) the ReplicaSet of its template, which the controller keeps at 0 replicas."""
    owners = {p.owner: p.template_hash for p in pods}
    if not owners:
        template_hash = naming.pod_template_hash(obj.template.raw)
        owners = {f"{obj.name}-{template_hash}": template_hash}
    return dict(sorted(owners.items()))


def _replicaset_name(obj, pods):
    return next(iter(_replicaset_names(obj, pods)))


def _max_surge(replicas):
    """The default maxSurge (25%) of ``replicas``, rounded up as the deployment controller does."""
    return -(-replicas * 25 // 100)


def _deployment_replicasets(obj, cluster, pods_by_owner):
    """The ReplicaSet a Deployment's controller made for its pod template."""
    pods = [p for (kind, ns, owner), ps in pods_by_owner.items() if kind == "ReplicaSet" and ns == obj.namespace
            and owner and owner.rsplit("-", 1)[0] == obj.name for p in ps]
    out = []
    for owner, template_hash in _replicaset_names(obj, pods).items():
        mine = [p for p in pods if p.owner == owner]
        template = copy_manifest((obj.manifest or {}).get("spec", {}).get("template", {}))
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = template_hash
        _template_defaults(template)
        selector = copy_manifest((obj.manifest or {}).get("spec", {}).get("selector", {}))
        selector.setdefault("matchLabels", {})["pod-template-hash"] = template_hash
        labels = dict(template["metadata"]["labels"])
        meta = {"name": owner, "namespace": obj.namespace, "labels": labels,
                "annotations": {"deployment.kubernetes.io/desired-replicas": str(obj.replicas),
                                "deployment.kubernetes.io/max-replicas": str(obj.replicas + _max_surge(obj.replicas)),
                                "deployment.kubernetes.io/revision": "1"},
                "ownerReferences": [ref("apps/v1", "Deployment", obj.namespace, obj.name, controller=True,
                                        blockOwnerDeletion=True)]}
        ready = len(_ready_pods(mine))
        status = {"replicas": len(mine), "fullyLabeledReplicas": len(mine), "observedGeneration": 1}
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        out.append({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
                    "spec": {"replicas": obj.replicas, "selector": selector, "template": template},
                    "status": status})
    return out


def _workload(obj, cluster, pods_by_owner):
    """A ReplicaSet, StatefulSet or DaemonSet written by hand, with its controller's status."""
    out = _as_written(obj, "apps/v1", obj.kind)
    spec = out.setdefault("spec", {})
    _template_defaults(spec.get("template"))
    pods = pods_by_owner.get((obj.kind, obj.namespace, obj.name), [])
    ready = len(_ready_pods(pods))
    if obj.kind == "ReplicaSet":
        spec.setdefault("replicas", obj.replicas)
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "observedGeneration": 1}
        if ready:
            status.update(readyReplicas=ready, availableReplicas=ready)
    elif obj.kind == "StatefulSet":
        spec.setdefault("replicas", obj.replicas)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        revision = f"{obj.name}-{_suffix(obj.namespace + '/' + obj.name, 10)}"
        status = {"replicas": len(pods), "currentReplicas": len(pods), "updatedReplicas": len(pods),
                  "readyReplicas": ready, "availableReplicas": ready, "currentRevision": revision,
                  "updateRevision": revision, "collisionCount": 0, "observedGeneration": 1}
    else:
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0,
                                                                                      "maxUnavailable": 1}})
        nodes = len(cluster.nodes)
        status = {"currentNumberScheduled": len(pods), "desiredNumberScheduled": nodes, "numberMisscheduled": 0,
                  "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": len(pods),
                  "observedGeneration": 1}
        if nodes > ready:
            status["numberUnavailable"] = nodes - ready
    out["status"] = status
    return out


def _template_defaults(template):
    if not isinstance(template, dict):
        return
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    spec = template.setdefault("spec", {})
    _pod_spec_defaults(spec)


def _pod_spec_defaults(spec):
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for c in spec.get("containers") or []:
        if not isinstance(c, dict):
            continue
        image = str(c.get("image", ""))
        c.setdefault("imagePullPolicy", "Always" if ":" not in image.rsplit("/", 1)[-1]
                     or image.endswith(":latest") else "IfNotPresent")
        c.setdefault("resources", {})
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        for p in c.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")
                if spec.get("hostNetwork") is True and not p.get("hostPort"):  # defaultHostNetworkPorts
                    p["hostPort"] = p.get("containerPort")


# pods -----------------------------------------------------------------------------------------

def _templates(objects):
    """{(kind, namespace, name): the pod template as written} for the workloads and bare pods."""
    out = {}
    for o in objects:
        manifest = o.manifest if isinstance(o.manifest, dict) else {}
        if o.kind == "Pod":
            out[("Pod", o.namespace, o.name)] = {"metadata": manifest.get("metadata", {}),
                                                 "spec": manifest.get("spec", {})}
        elif o.kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
            out[(o.kind, o.namespace, o.name)] = manifest.get("spec", {}).get("template", {})
    return out


def _pod(cluster, pod, templates, manifests):
    node = cluster.node(pod.node)
    if pod.owner is None:
        written = templates.get(("Pod", pod.namespace, pod.name), {})
    elif pod.owner_kind == "ReplicaSet" and ("ReplicaSet", pod.namespace, pod.owner) not in templates:
        written = templates.get(("Deployment", pod.namespace, pod.owner.rsplit("-", 1)[0]), {})
    else:
        written = templates.get((pod.owner_kind, pod.namespace, pod.owner), {})
    spec = copy_manifest(written.get("spec", {}))
    _pod_spec_defaults(spec)
    spec["nodeName"] = node.hostname
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", "default")
    spec.setdefault("tolerations", [
        {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
        {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists",
         "tolerationSeconds": 300}])
    if pod.hostname:
        spec["hostname"] = pod.hostname
    if pod.subdomain:
        spec["subdomain"] = pod.subdomain
    meta = {"name": pod.name, "namespace": pod.namespace, "labels": dict(pod.labels)}
    annotations = (written.get("metadata") or {}).get("annotations")
    if annotations:
        meta["annotations"] = copy_manifest(annotations)
    if pod.owner:
        owner_api = "apps/v1"
        meta["generateName"] = pod.owner + "-"
        meta["ownerReferences"] = [ref(owner_api, pod.owner_kind or "ReplicaSet", pod.namespace, pod.owner,
                                       controller=True, blockOwnerDeletion=True)]
    ready = "True" if pod.ready and not pod.terminating else "False"
    containers = [{"name": c.name, "image": c.image, "imageID": "", "containerID":
                   f"svclab://{_suffix(pod.namespace + '/' + pod.name + '/' + c.name + str(pod.incarnation), 12)}",
                   "ready": ready == "True", "restartCount": 0, "started": True,
                   "state": {"running": {"startedAt": None}}} for c in pod.containers]
    status = {"phase": "Running", "hostIP": str(node.ip), "hostIPs": [{"ip": str(node.ip)}],
              "podIP": str(pod.ip), "podIPs": [{"ip": str(pod.ip)}], "qosClass": "BestEffort",
              "conditions": [{"type": t, "status": ready if t in ("Ready", "ContainersReady") else "True",
                              "lastProbeTime": None, "lastTransitionTime": None}
                             for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                       "PodScheduled")],
              "containerStatuses": containers, "startTime": None}
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
    if pod.terminating:
        obj["metadata"]["deletionGracePeriodSeconds"] = spec.get("terminationGracePeriodSeconds", 30)
    obj["_incarnation"] = pod.incarnation  # the store makes a pod made again under its name a new object
    obj["_terminating"] = pod.terminating
    return obj


# events ---------------------------------------------------------------------------------------

KINDS_OF_OBJECTS = {"pod": ("v1", "Pod"), "service": ("v1", "Service"), "node": ("v1", "Node"),
                    "deployment": ("apps/v1", "Deployment"), "replicaset": ("apps/v1", "ReplicaSet"),
                    "statefulset": ("apps/v1", "StatefulSet"), "daemonset": ("apps/v1", "DaemonSet")}


def _event(cluster, event, index):
    kind_word, _, name = event["object"].partition("/")
    api, kind = KINDS_OF_OBJECTS.get(kind_word, ("v1", kind_word.capitalize() or "Object"))
    namespace = event.get("namespace")
    if namespace is None:
        namespace = "" if kind == "Node" else _namespace_of(cluster, kind, name)
    involved = {"apiVersion": api, "kind": kind, "name": name}
    if namespace:
        involved["namespace"] = namespace
    if kind_word in KINDS_OF_OBJECTS:
        involved["_key"] = key(api, kind, namespace, name)
    event_ns = namespace or "default"
    source = event.get("source", "svclab")
    stamp = f"{int(event['time'] * 1e6):x}"
    when = event["time"]
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.{stamp}{index:x}", "namespace": event_ns},
            "involvedObject": involved, "reason": event["reason"], "message": event["message"],
            "type": event["type"], "count": 1, "source": {"component": source},
            "reportingComponent": source, "reportingInstance": "",
            "_time": when}


def _namespace_of(cluster, kind, name):
    if kind == "Pod":
        return next((p.namespace for p in cluster.pods if p.name == name), "default")
    if kind == "Service":
        return next((s.namespace for s in cluster.services if s.name == name), "default")
    return "default"
