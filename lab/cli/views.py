"""What ``lab get`` prints: kubectl's table columns and Kubernetes-shaped objects. Pure."""

import datetime

from lab.tables import human_age, table  # noqa: F401 (table: the views' layout)

KUBE_VERSIONS = {"1.18": "v1.18.20", "current": "v1.33.0"}


def _timestamp(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# pods -----------------------------------------------------------------------------------------

def pod_rows(cluster, pods, age, wide=False, all_namespaces=False):
    headers = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    if wide:
        headers += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    if all_namespaces:
        headers = ["NAMESPACE"] + headers
    rows = []
    for p in pods:
        n = len(p.containers)
        row = [p.name, f"{n if p.ready else 0}/{n}", "Terminating" if p.terminating else "Running", "0",
               human_age(age)]
        if wide:
            row += [str(p.ip), cluster.node(p.node).hostname, "<none>", "<none>"]
        rows.append(([p.namespace] if all_namespaces else []) + row)
    return headers, rows


def pod_object(cluster, p, created):
    node = cluster.node(p.node)
    meta = {"name": p.name, "namespace": p.namespace, "labels": dict(p.labels),
            "creationTimestamp": _timestamp(created)}
    if p.owner:
        meta["generateName"] = p.owner + "-"
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": p.owner,
                                    "controller": True, "blockOwnerDeletion": True}]
    containers = []
    for c in p.containers:
        entry = {"name": c.name, "image": c.image}
        if c.ports:
            entry["ports"] = [dict({"containerPort": q.container_port, "protocol": q.protocol},
                                   **({"name": q.name} if q.name else {})) for q in c.ports]
        containers.append(entry)
    ready = "True" if p.ready else "False"
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"containers": containers, "nodeName": node.hostname, "restartPolicy": "Always",
                 "dnsPolicy": "ClusterFirst", **({"hostname": p.hostname} if p.hostname else {}),
                 **({"subdomain": p.subdomain} if p.subdomain else {})},
        "status": {
            "phase": "Running", "hostIP": str(node.ip), "podIP": str(p.ip), "podIPs": [{"ip": str(p.ip)}],
            "conditions": [{"type": t, "status": ready if t in ("Ready", "ContainersReady") else "True"}
                           for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": [{"name": c.name, "image": c.image, "ready": p.ready, "restartCount": 0,
                                   "started": True, "state": {"running": {"startedAt": _timestamp(created)}}}
                                  for c in p.containers],
        },
    }


# services -------------------------------------------------------------------------------------

def ports_column(svc):
    if not svc.ports:
        return "<none>"
    return ",".join(f"{p.port}:{p.node_port}/{p.protocol}" if p.node_port else f"{p.port}/{p.protocol}"
                    for p in svc.ports)


def external_ip_column(svc):
    """kubectl: the ingress IPs and externalIPs; <pending> for a LoadBalancer without an address."""
    if svc.type == "ExternalName":
        return svc.external_name
    addresses = list(svc.lb_ips) + list(svc.external_ips)
    if addresses:
        return ",".join(addresses)
    if svc.type == "LoadBalancer":
        return "<pending>"
    return "<none>"


def service_rows(services, age, wide=False, all_namespaces=False):
    headers = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"] + (["SELECTOR"] if wide else [])
    if all_namespaces:
        headers = ["NAMESPACE"] + headers
    rows = []
    for s in services:
        row = [s.name, s.type, s.cluster_ip or "<none>", external_ip_column(s), ports_column(s), human_age(age)]
        if wide:
            row.append(",".join(f"{k}={v}" for k, v in s.selector) if s.selector else "<none>")
        rows.append(([s.namespace] if all_namespaces else []) + row)
    return headers, rows


def service_object(s, created):
    spec = {"type": s.type, "sessionAffinity": s.session_affinity}
    if s.type == "ExternalName":
        spec["externalName"] = s.external_name
    else:
        spec["clusterIP"] = s.cluster_ip
        spec["clusterIPs"] = [s.cluster_ip]
        spec["ipFamilies"] = ["IPv4"]
        spec["ipFamilyPolicy"] = "SingleStack"
        spec["internalTrafficPolicy"] = s.internal_traffic_policy
    ports = []
    for p in s.ports:
        entry = {"protocol": p.protocol, "port": p.port, "targetPort": p.target_port}
        if p.name:
            entry = {"name": p.name, **entry}
        if p.node_port:
            entry["nodePort"] = p.node_port
        ports.append(entry)
    if ports:
        spec["ports"] = ports
    if s.selector:
        spec["selector"] = dict(s.selector)
    if s.external_ips:
        spec["externalIPs"] = list(s.external_ips)
    if s.type in ("NodePort", "LoadBalancer"):
        spec["externalTrafficPolicy"] = s.external_traffic_policy
    if s.session_affinity == "ClientIP":
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": s.affinity_timeout}}
    if s.load_balancer_ip:
        spec["loadBalancerIP"] = s.load_balancer_ip
    if s.lb_source_ranges:
        spec["loadBalancerSourceRanges"] = list(s.lb_source_ranges)
    if s.health_check_node_port:
        spec["healthCheckNodePort"] = s.health_check_node_port
    if s.type == "LoadBalancer":
        spec["allocateLoadBalancerNodePorts"] = True
    meta = {"name": s.name, "namespace": s.namespace, "creationTimestamp": _timestamp(created)}
    if (s.namespace, s.name) == ("default", "kubernetes"):
        meta["labels"] = {"component": "apiserver", "provider": "kubernetes"}
    ingress = [{"ip": ip, "ipMode": "VIP"} for ip in s.lb_ips]
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec,
            "status": {"loadBalancer": {"ingress": ingress} if ingress else {}}}


def describe_service(cluster, s, age):
    """``kubectl describe service``, with the load-balancer controller's events."""
    rows = [("Name:", s.name), ("Namespace:", s.namespace),
            ("Labels:", "<none>"), ("Selector:", ",".join(f"{k}={v}" for k, v in s.selector) if s.selector else "<none>"),
            ("Type:", s.type)]
    if s.cluster_ip is not None:
        rows += [("IP Family Policy:", "SingleStack"), ("IP Families:", "IPv4"), ("IP:", s.cluster_ip),
                 ("IPs:", s.cluster_ip)]
    if s.external_ips:
        rows.append(("External IPs:", ",".join(s.external_ips)))
    if s.load_balancer_ip:
        rows.append(("IP:", s.load_balancer_ip))
    if s.lb_ips:
        rows.append(("LoadBalancer Ingress:", ", ".join(f"{ip} (VIP)" for ip in s.lb_ips)))
    for p in s.ports:
        name = p.name or "<unset>"
        rows.append(("Port:", f"{name}  {p.port}/{p.protocol}"))
        rows.append(("TargetPort:", f"{p.target_port}/{p.protocol}"))
        if p.node_port:
            rows.append(("NodePort:", f"{name}  {p.node_port}/{p.protocol}"))
        eps = [e.address for e in cluster.endpoints_for(s, p)]
        rows.append(("Endpoints:", ",".join(eps) if eps else "<none>"))
    rows.append(("Session Affinity:", s.session_affinity))
    if s.type in ("NodePort", "LoadBalancer"):
        rows.append(("External Traffic Policy:", s.external_traffic_policy))
    rows.append(("Internal Traffic Policy:", s.internal_traffic_policy))
    if s.health_check_node_port:
        rows.append(("HealthCheck NodePort:", str(s.health_check_node_port)))
    width = max(len(k) for k, _ in rows) + 1
    lines = [f"{k:<{width}}{v}" for k, v in rows]
    if s.type == "LoadBalancer":
        lines.append("Events:")
        event = (("Warning", "AllocationFailed", "svclab-lb-controller", f"Failed to allocate IP for "
                  f"\"{s.namespace}/{s.name}\": {s.lb_message}") if s.lb_message else
                 ("Normal", "IPAllocated", "svclab-lb-controller", f"Assigned IP [\"{', '.join(s.lb_ips)}\"]"))
        lines.append(table(["  Type", "Reason", "Age", "From", "Message"],
                           [["  " + event[0], event[1], human_age(age), event[2], event[3]]]))
    else:
        lines.append("Events:            <none>")
    return "\n".join(lines)


# endpoints ------------------------------------------------------------------------------------

def _service_endpoints(cluster, svc):
    """Ready endpoints of every port of ``svc``, in kube-proxy's order (kubectl lists only those)."""
    return [e for port in svc.ports for e in cluster.endpoints_for(svc, port) if e.ready]


def has_endpoints_object(s):
    """The endpoints controller manages Endpoints for services with a selector (and the apiserver its own)."""
    return s.type != "ExternalName" and (s.selector is not None or (s.namespace, s.name) == ("default", "kubernetes"))


def endpoint_rows(cluster, services, age, all_namespaces=False):
    headers = ["NAME", "ENDPOINTS", "AGE"]
    if all_namespaces:
        headers = ["NAMESPACE"] + headers
    rows = []
    for s in services:
        if not has_endpoints_object(s):
            continue
        addrs = [e.address for e in _service_endpoints(cluster, s)]
        text = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "") if addrs else "<none>"
        rows.append(([s.namespace] if all_namespaces else []) + [s.name, text, human_age(age)])
    return headers, rows


def endpoints_object(cluster, s, created):
    """An Endpoints object: addresses that share the same resolved ports form one subset."""
    by_ip = {}
    for port in s.ports:
        for e in cluster.endpoints_for(s, port):
            entry = by_ip.setdefault(str(e.ip), {"endpoint": e, "ports": []})
            entry["ports"].append(dict({"port": e.port, "protocol": port.protocol},
                                       **({"name": port.name} if port.name else {})))
    subsets = {}
    for ip, entry in sorted(by_ip.items()):
        key = tuple(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in entry["ports"]))
        e = entry["endpoint"]
        address = {"ip": ip, "nodeName": cluster.node(e.node).hostname}
        if e.pod:
            address["targetRef"] = {"kind": "Pod", "name": e.pod, "namespace": s.namespace}
        subset = subsets.setdefault(key, {"ports": entry["ports"]})
        subset.setdefault("addresses" if e.ready else "notReadyAddresses", []).append(address)
    obj = {"apiVersion": "v1", "kind": "Endpoints",
           "metadata": {"name": s.name, "namespace": s.namespace, "creationTimestamp": _timestamp(created)}}
    if subsets:
        obj["subsets"] = list(subsets.values())
    return obj


# nodes ----------------------------------------------------------------------------------------

def _role(cluster, node):
    if node != cluster.nodes[0]:
        return None
    return "master" if cluster.kube_proxy.profile == "1.18" else "control-plane"


def node_rows(cluster, age, wide=False, kernel=""):
    version = KUBE_VERSIONS[cluster.kube_proxy.profile]
    headers = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    if wide:
        headers += ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    rows = []
    for n in cluster.nodes:
        row = [n.hostname, "Ready", _role(cluster, n) or "<none>", human_age(age), version]
        if wide:
            row += [str(n.ip), "<none>", "svclab network namespace", kernel, "svclab://" + cluster.lab]
        rows.append(row)
    return headers, rows


def node_object(cluster, n, created):
    labels = {"kubernetes.io/hostname": n.hostname, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    role = _role(cluster, n)
    if role:
        labels[f"node-role.kubernetes.io/{role}"] = ""
    version = KUBE_VERSIONS[cluster.kube_proxy.profile]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": n.hostname, "labels": labels, "creationTimestamp": _timestamp(created)},
            "spec": {"podCIDR": str(n.pod_cidr), "podCIDRs": [str(n.pod_cidr)]},
            "status": {"addresses": [{"type": "InternalIP", "address": str(n.ip)},
                                     {"type": "Hostname", "address": n.hostname}],
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                       "nodeInfo": {"kubeletVersion": version, "kubeProxyVersion": version,
                                    "operatingSystem": "linux"}}}


def service_labels(svc):
    """The labels a Service carries (the built-in ``kubernetes`` service's, as the apiserver sets them)."""
    return {"component": "apiserver", "provider": "kubernetes"} if svc.name == "kubernetes" else {}


def as_list(items):
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}
