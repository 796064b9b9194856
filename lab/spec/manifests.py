"""Kubernetes manifests (Deployment, Pod, Service) parsed into typed, validated objects.

Field names are Kubernetes' own. A field Kubernetes does not know is rejected (as
``kubectl apply --validate=strict`` does); a field Kubernetes knows but svclab does not model
is accepted and has no effect.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from lab.spec.fields import DNS_LABEL, DNS_SUBDOMAIN, Field, quoted

METADATA_FIELDS = {
    "name", "namespace", "labels", "annotations", "generateName", "uid", "resourceVersion",
    "creationTimestamp", "ownerReferences", "finalizers", "managedFields", "generation",
    "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
}
DEPLOYMENT_SPEC_FIELDS = {
    "replicas", "selector", "template", "strategy", "minReadySeconds", "revisionHistoryLimit",
    "paused", "progressDeadlineSeconds",
}
POD_SPEC_FIELDS = {
    "containers", "initContainers", "ephemeralContainers", "volumes", "restartPolicy",
    "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "nodeSelector",
    "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName",
    "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext",
    "imagePullSecrets", "hostname", "subdomain", "affinity", "schedulerName", "tolerations",
    "hostAliases", "priorityClassName", "priority", "dnsConfig", "readinessGates",
    "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "overhead",
    "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates",
    "resourceClaims", "resources",
}
CONTAINER_FIELDS = {
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
    "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
    "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
    "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty",
}
CONTAINER_PORT_FIELDS = {"name", "hostPort", "containerPort", "protocol", "hostIP"}
SERVICE_SPEC_FIELDS = {
    "ports", "selector", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity",
    "loadBalancerIP", "loadBalancerSourceRanges", "externalName", "externalTrafficPolicy",
    "healthCheckNodePort", "publishNotReadyAddresses", "sessionAffinityConfig", "ipFamilies",
    "ipFamilyPolicy", "allocateLoadBalancerNodePorts", "loadBalancerClass",
    "internalTrafficPolicy", "trafficDistribution",
}
SERVICE_PORT_FIELDS = {"name", "protocol", "appProtocol", "port", "targetPort", "nodePort"}
PROTOCOLS = ("TCP", "UDP", "SCTP")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
SUPPORTED_KINDS = {("apps/v1", "Deployment"), ("apps/v1", "ReplicaSet"), ("apps/v1", "StatefulSet"),
                   ("apps/v1", "DaemonSet"), ("v1", "Pod"), ("v1", "Service"), ("v1", "Namespace"),
                   ("v1", "ConfigMap"), ("discovery.k8s.io/v1", "EndpointSlice"), ("v1", "Endpoints")}
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
WORKLOAD_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

# fields svclab accepts and does not model: their types are still checked, as the apiserver's decoder does
_BOOL, _INT, _STR, _STRS = "bool", "int", "str", "strs"
UNMODELLED_TYPES = {
    "deployment": {"minReadySeconds": _INT, "revisionHistoryLimit": _INT, "paused": _BOOL,
                   "progressDeadlineSeconds": _INT},
    "pod": {"restartPolicy": ("Always", "OnFailure", "Never"), "terminationGracePeriodSeconds": _INT,
            "activeDeadlineSeconds": _INT, "hostPID": _BOOL, "hostIPC": _BOOL,
            "serviceAccountName": _STR, "serviceAccount": _STR, "automountServiceAccountToken": _BOOL,
            "enableServiceLinks": _BOOL, "priority": _INT, "priorityClassName": _STR, "schedulerName": _STR,
            "setHostnameAsFQDN": _BOOL, "shareProcessNamespace": _BOOL, "runtimeClassName": _STR},
    "container": {"stdin": _BOOL, "stdinOnce": _BOOL, "tty": _BOOL, "command": _STRS, "args": _STRS,
                  "workingDir": _STR, "imagePullPolicy": ("Always", "IfNotPresent", "Never"),
                  "terminationMessagePath": _STR, "terminationMessagePolicy": ("File", "FallbackToLogsOnError")},
    "service": {"publishNotReadyAddresses": _BOOL, "allocateLoadBalancerNodePorts": _BOOL, "loadBalancerClass": _STR,
                "ipFamilyPolicy": ("SingleStack", "PreferDualStack", "RequireDualStack"), "clusterIPs": _STRS,
                "trafficDistribution": _STR},
    "service port": {"appProtocol": _STR},
}


def _check_types(f, kind):
    for key, wanted in UNMODELLED_TYPES[kind].items():
        if not f.has(key):
            continue
        child = f.child(key)
        if wanted == _BOOL:
            child.bool()
        elif wanted == _INT:
            child.int()
        elif wanted == _STR:
            child.str()
        elif wanted == _STRS:
            for item in child.list():
                item.str(empty=True)
        else:
            child.choice(wanted)


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: tuple = ()

    def matches(self, labels):
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


@dataclass(frozen=True)
class LabelSelector:
    match_labels: tuple = ()  # sorted (key, value) pairs
    expressions: tuple = ()

    def matches(self, labels):
        return (all(labels.get(k) == v for k, v in self.match_labels)
                and all(r.matches(labels) for r in self.expressions))


@dataclass(frozen=True)
class ContainerPort:
    container_port: int
    protocol: str = "TCP"
    name: str = None


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    ports: tuple = ()
    command: tuple = ()  # the entrypoint as written (the image's own when empty)
    args: tuple = ()


@dataclass(frozen=True)
class PodTemplate:
    labels: tuple  # sorted (key, value) pairs
    containers: tuple
    node_name: str = None
    raw: dict = field(default=None, compare=False, hash=False)  # the template as written
    hostname: str = None  # spec.hostname (the pod's name when not given)
    subdomain: str = None  # spec.subdomain: with a headless Service of that name, a DNS name
    host_network: bool = False  # spec.hostNetwork
    dns_policy: str = "ClusterFirst"  # spec.dnsPolicy


@dataclass(frozen=True)
class Deployment:
    kind: ClassVar[str] = "Deployment"
    namespace: str
    name: str
    replicas: int
    selector: LabelSelector
    template: PodTemplate
    # the file it came from and the manifest as written: not part of what the object is (every kind)
    source: str = field(compare=False)
    manifest: dict = field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class ReplicaSetSpec:
    """A ReplicaSet written by hand (a Deployment's own are the controller's)."""

    kind: ClassVar[str] = "ReplicaSet"
    namespace: str
    name: str
    replicas: int
    selector: LabelSelector
    template: PodTemplate
    source: str = field(compare=False)
    manifest: dict = field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class StatefulSet:
    """Pods ``name-0 .. name-(N-1)``, each with ``hostname`` its name and ``subdomain`` the
    governing (headless) Service, replaced under the same name."""

    kind: ClassVar[str] = "StatefulSet"
    namespace: str
    name: str
    replicas: int
    selector: LabelSelector
    template: PodTemplate
    service_name: str
    source: str = field(compare=False)
    manifest: dict = field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class DaemonSet:
    """One pod on every node."""

    kind: ClassVar[str] = "DaemonSet"
    namespace: str
    name: str
    selector: LabelSelector
    template: PodTemplate
    source: str = field(compare=False)
    manifest: dict = field(default=None, compare=False, hash=False, repr=False)

    @property
    def replicas(self):
        return None  # one per node


@dataclass(frozen=True)
class NamespaceSpec:
    kind: ClassVar[str] = "Namespace"
    name: str
    source: str = field(compare=False)
    manifest: dict = field(default=None, compare=False, hash=False, repr=False)

    @property
    def namespace(self):
        return ""  # namespaces are not namespaced


@dataclass(frozen=True)
class ConfigMapSpec:
    """Kept as written and served by the API; the lab reads one: cluster DNS's Corefile."""

    kind: ClassVar[str] = "ConfigMap"
    namespace: str
    name: str
    source: str = field(compare=False)
    data: tuple = ()  # ("data" or "binaryData", key, value), in order

    def value(self, key):
        """``data[key]``, or None."""
        return next((v for section, k, v in self.data if section == "data" and k == key), None)
    manifest: dict = field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class BarePod:
    kind: ClassVar[str] = "Pod"
    namespace: str
    name: str
    template: PodTemplate
    source: str = field(compare=False)
    manifest: dict = field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class ServicePortSpec:
    name: str  # "" when unnamed
    protocol: str
    port: int
    target_port: object  # int, or a container port name
    node_port: int = None  # None: allocate (NodePort/LoadBalancer), unused otherwise


@dataclass(frozen=True)
class ServiceSpec:
    kind: ClassVar[str] = "Service"
    namespace: str
    name: str
    type: str
    ports: tuple
    selector: tuple = None  # sorted (key, value) pairs; None: no selector
    cluster_ip: str = None  # None: allocate; "None": headless; or an address
    external_ips: tuple = ()
    session_affinity: str = "None"
    affinity_timeout: int = 10800
    external_traffic_policy: str = "Cluster"
    internal_traffic_policy: str = "Cluster"
    external_name: str = None
    source: str = field(default="", compare=False)
    load_balancer_ip: str = None
    health_check_node_port: int = None
    lb_source_ranges: tuple = ()
    status_lb_ips: tuple = ()  # status.loadBalancer.ingress as written (used when no controller runs)
    manifest: dict = field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class SliceEndpoint:
    ip: str
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str = None
    pod: str = None
    hostname: str = None


@dataclass(frozen=True)
class EndpointSliceSpec:
    """An EndpointSlice (or a v1 Endpoints object, read as one) for a selector-less Service."""

    kind: ClassVar[str] = "EndpointSlice"
    namespace: str
    name: str
    service: str
    ports: tuple  # (name, port, protocol)
    endpoints: tuple  # SliceEndpoint
    source: str = field(default="", compare=False)
    legacy_kind: str = "EndpointSlice"
    manifest: dict = field(default=None, compare=False, hash=False, repr=False)


def parse_object(doc, default_namespace="default"):
    """One manifest object (a Field holding a mapping) into a typed object."""
    doc.mapping(required=("apiVersion", "kind"))
    api, kind = doc.child("apiVersion").str(), doc.child("kind").str()
    if (api, kind) not in SUPPORTED_KINDS:
        supported = ", ".join(f"{k} ({a})" for a, k in sorted(SUPPORTED_KINDS))
        shown = [text if text.isprintable() else repr(text) for text in (kind, api)]  # keep the error one line
        raise doc.error(f"{shown[0]} ({shown[1]}) is not supported by svclab", f"supported: {supported}")
    return dataclasses.replace(_typed(doc, kind, default_namespace), manifest=doc.value)


def _typed(doc, kind, default_namespace):
    if kind in ("EndpointSlice", "Endpoints"):
        return _endpoints_object(doc, kind, default_namespace)
    if kind in ("Namespace", "ConfigMap"):
        return _plain_object(doc, kind, default_namespace)
    doc.mapping(allowed={"apiVersion", "kind", "metadata", "spec", "status"}, required=("metadata",))
    if doc.has("status"):
        doc.child("status").mapping()
    meta = doc.child("metadata").mapping(allowed=METADATA_FIELDS, required=("name",))
    name = meta.child("name").str(DNS_SUBDOMAIN if kind == "Pod" else DNS_LABEL,
                                  f"{kind} name", max_len=63 if kind == "Service" else 253)
    namespace = meta.child("namespace").str(DNS_LABEL, "namespace", max_len=63) \
        if meta.has("namespace") else default_namespace
    if meta.has("labels"):
        meta.child("labels").labels()
    spec = doc.child("spec") if doc.has("spec") else None
    if spec is None:
        raise doc.error("spec is required", f"a {kind} needs a spec")
    source = f"{doc.file}"
    if kind in WORKLOAD_KINDS:
        return _workload(kind, namespace, name, spec, source)
    if kind == "Pod":
        labels = meta.child("labels").labels() if meta.has("labels") else {}
        return BarePod(namespace, name, _pod_template(labels, spec, raw=doc.value), source)
    return dataclasses.replace(_service(namespace, name, spec, source), status_lb_ips=status_ingress(doc))


def _plain_object(doc, kind, default_namespace):
    """A Namespace or ConfigMap: its metadata checked, its data kept as written."""
    allowed = {"apiVersion", "kind", "metadata", "spec", "status"} if kind == "Namespace" else \
        {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"}
    doc.mapping(allowed=allowed, required=("metadata",))
    meta = doc.child("metadata").mapping(allowed=METADATA_FIELDS, required=("name",))
    name = meta.child("name").str(DNS_LABEL if kind == "Namespace" else DNS_SUBDOMAIN, f"{kind} name",
                                  max_len=63 if kind == "Namespace" else 253)
    if meta.has("labels"):
        meta.child("labels").labels()
    if kind == "Namespace":
        if meta.has("namespace"):
            raise meta.child("namespace").error("a Namespace is not in a namespace", "leave metadata.namespace out")
        return NamespaceSpec(name, str(doc.file))
    namespace = meta.child("namespace").str(DNS_LABEL, "namespace", max_len=63) \
        if meta.has("namespace") else default_namespace
    data = []
    for section in ("data", "binaryData"):
        if doc.has(section):
            data += [(section, k, v) for k, v in sorted(doc.child(section).string_map().items())]
    if doc.has("immutable"):
        doc.child("immutable").bool()
    return ConfigMapSpec(namespace, name, str(doc.file), tuple(data))


WORKLOAD_SPEC_FIELDS = {
    "ReplicaSet": {"replicas", "selector", "template", "minReadySeconds"},
    "StatefulSet": {"replicas", "selector", "template", "serviceName", "podManagementPolicy", "updateStrategy",
                    "revisionHistoryLimit", "minReadySeconds", "volumeClaimTemplates", "ordinals",
                    "persistentVolumeClaimRetentionPolicy"},
    "DaemonSet": {"selector", "template", "updateStrategy", "minReadySeconds", "revisionHistoryLimit"},
}


def _workload(kind, namespace, name, spec, source):
    """A Deployment, ReplicaSet, StatefulSet or DaemonSet: a pod template behind a selector."""
    spec.mapping(allowed=DEPLOYMENT_SPEC_FIELDS if kind == "Deployment" else WORKLOAD_SPEC_FIELDS[kind],
                 required=("selector", "template"))
    if kind == "Deployment":
        _check_types(spec, "deployment")
    replicas, selector, template = _replicas_and_template(spec)
    if kind == "Deployment":
        return Deployment(namespace, name, replicas, selector, template, source)
    if kind == "ReplicaSet":
        return ReplicaSetSpec(namespace, name, replicas, selector, template, source)
    if kind == "DaemonSet":
        if spec.has("replicas"):
            raise spec.child("replicas").error("a DaemonSet runs one pod on every node", "leave replicas out")
        return DaemonSet(namespace, name, selector, template, source)
    service = spec.child("serviceName").str(DNS_LABEL, "service name", max_len=63) if spec.has("serviceName") \
        else None
    if service is None:
        raise spec.error("spec.serviceName is required", "name the headless Service that governs the pods")
    return StatefulSet(namespace, name, replicas, selector, template, service, source)


def _replicas_and_template(spec):
    replicas = spec.child("replicas").int(0, 1000) if spec.has("replicas") else 1
    selector = _label_selector(spec.child("selector"))
    tmpl = spec.child("template").mapping(allowed={"metadata", "spec"}, required=("spec",))
    labels = {}
    if tmpl.has("metadata"):
        tmeta = tmpl.child("metadata").mapping(allowed=METADATA_FIELDS)
        if tmeta.has("labels"):
            labels = tmeta.child("labels").labels()
    if not selector.match_labels and not selector.expressions:
        raise spec.child("selector").error("an empty selector would match every pod",
                                           "set matchLabels to the template's labels")
    if not selector.matches(labels):
        raise spec.child("selector").error("selector does not match the template's labels",
                                           "make spec.template.metadata.labels carry the selected labels")
    template = _pod_template(labels, tmpl.child("spec"), raw=tmpl.value)
    return replicas, selector, template


def _label_selector(f):
    f.mapping(allowed={"matchLabels", "matchExpressions"})
    match = f.child("matchLabels").labels() if f.has("matchLabels") else {}
    exprs = []
    for ef in (f.child("matchExpressions").list() if f.has("matchExpressions") else []):
        ef.mapping(allowed={"key", "operator", "values"}, required=("key", "operator"))
        op = ef.child("operator").choice(("In", "NotIn", "Exists", "DoesNotExist"))
        values = tuple(v.label_value() for v in ef.child("values").list()) if ef.has("values") else ()
        if op in ("In", "NotIn") and not values:
            raise ef.error(f"operator {op} needs values")
        if op in ("Exists", "DoesNotExist") and values:
            raise ef.child("values").error(f"operator {op} takes no values")
        exprs.append(Requirement(ef.child("key").label_key(), op, values))
    return LabelSelector(tuple(sorted(match.items())), tuple(exprs))


def _pod_template(labels, spec, raw):
    spec.mapping(allowed=POD_SPEC_FIELDS, required=("containers",))
    _check_types(spec, "pod")
    host_network = spec.child("hostNetwork").bool() if spec.has("hostNetwork") else False
    containers = []
    names = set()
    for cf in spec.child("containers").list():
        cf.mapping(allowed=CONTAINER_FIELDS, required=("name", "image"))
        _check_types(cf, "container")
        cname = cf.child("name").str(DNS_LABEL, "container name", max_len=63)
        if cname in names:
            raise cf.child("name").error(f"container name {cname!r} is used twice")
        names.add(cname)
        ports = []
        for pf in (cf.child("ports").list() if cf.has("ports") else []):
            pf.mapping(allowed=CONTAINER_PORT_FIELDS, required=("containerPort",))
            number = pf.child("containerPort").int(1, 65535)
            protocol = pf.child("protocol").choice(PROTOCOLS) if pf.has("protocol") else "TCP"
            pname = pf.child("name").port_name() if pf.has("name") else None
            if host_network and pf.has("hostPort") and pf.child("hostPort").int(0, 65535) not in (0, number):
                raise pf.child("hostPort").error("must match `containerPort` when `hostNetwork` is true",
                                                 f"set hostPort to {number} or leave it out")
            ports.append(ContainerPort(number, protocol, pname))
        command, args = (tuple(item.str(empty=True) for item in cf.child(key).list()) if cf.has(key) else ()
                         for key in ("command", "args"))
        containers.append(ContainerSpec(cname, cf.child("image").str(), tuple(ports), command, args))
    if not containers:
        raise spec.child("containers").error("a pod needs at least one container")
    node_name = spec.child("nodeName").str() if spec.has("nodeName") else None
    hostname = spec.child("hostname").str(DNS_LABEL, "hostname", max_len=63) if spec.has("hostname") else None
    subdomain = spec.child("subdomain").str(DNS_LABEL, "subdomain", max_len=63) if spec.has("subdomain") else None
    dns_policy = spec.child("dnsPolicy").choice(DNS_POLICIES) if spec.has("dnsPolicy") else "ClusterFirst"
    return PodTemplate(tuple(sorted(labels.items())), tuple(containers), node_name, raw, hostname, subdomain,
                       host_network, dns_policy)


def _service(namespace, name, spec, source):
    spec.mapping(allowed=SERVICE_SPEC_FIELDS)
    _check_types(spec, "service")
    if spec.has("ipFamilies"):
        for family in spec.child("ipFamilies").list():
            if family.choice(("IPv4", "IPv6")) == "IPv6":
                raise family.error('Invalid value: "IPv6": not configured on this cluster',
                                   "svclab labs are IPv4 only")
    svc_type = spec.child("type").choice(SERVICE_TYPES) if spec.has("type") else "ClusterIP"
    if svc_type == "ExternalName":
        if not spec.has("externalName"):
            raise spec.error("type ExternalName needs spec.externalName")
        return ServiceSpec(namespace, name, svc_type, (), external_name=_external_name(spec.child("externalName")),
                           source=source)
    selector = tuple(sorted(spec.child("selector").labels().items())) if spec.has("selector") else None
    cluster_ip = None
    if spec.has("clusterIP"):
        cf = spec.child("clusterIP")
        cluster_ip = "None" if cf.value == "None" else (None if cf.value == "" else str(cf.ip()))
    if cluster_ip == "None" and svc_type != "ClusterIP":
        raise spec.child("clusterIP").error(f"a headless service (clusterIP: None) cannot be type {svc_type}")
    ports = _service_ports(spec, svc_type, cluster_ip)
    external_ips = tuple(str(f.ip()) for f in spec.child("externalIPs").list()) if spec.has("externalIPs") else ()
    affinity = spec.child("sessionAffinity").choice(("None", "ClientIP")) if spec.has("sessionAffinity") else "None"
    timeout = 10800
    if spec.has("sessionAffinityConfig"):
        sac = spec.child("sessionAffinityConfig").mapping(allowed={"clientIP"})
        if sac.has("clientIP"):
            cip = sac.child("clientIP").mapping(allowed={"timeoutSeconds"})
            if cip.has("timeoutSeconds"):
                timeout = cip.child("timeoutSeconds").int(1, 86400)
    etp = "Cluster"
    if spec.has("externalTrafficPolicy"):
        etp = spec.child("externalTrafficPolicy").choice(("Cluster", "Local"))
        if svc_type not in ("NodePort", "LoadBalancer"):
            raise spec.child("externalTrafficPolicy").error(
                f"only NodePort and LoadBalancer services take an externalTrafficPolicy (this one is {svc_type})")
    itp = spec.child("internalTrafficPolicy").choice(("Cluster", "Local")) \
        if spec.has("internalTrafficPolicy") else "Cluster"
    lb_fields = [f for f in ("loadBalancerIP", "loadBalancerSourceRanges", "healthCheckNodePort") if spec.has(f)]
    if lb_fields and svc_type != "LoadBalancer":
        raise spec.child(lb_fields[0]).error(f"only LoadBalancer services take {lb_fields[0]} (this one is {svc_type})")
    lb_ip = str(spec.child("loadBalancerIP").ip()) if spec.has("loadBalancerIP") else None
    ranges = tuple(str(_trimmed(f).cidr()) for f in spec.child("loadBalancerSourceRanges").list()) \
        if spec.has("loadBalancerSourceRanges") else ()
    hcnp = None
    if spec.has("healthCheckNodePort"):
        if etp != "Local":
            raise spec.child("healthCheckNodePort").error("only externalTrafficPolicy: Local uses a health check "
                                                          "node port")
        hcnp = spec.child("healthCheckNodePort").int(1, 65535)
    return ServiceSpec(namespace, name, svc_type, ports, selector, cluster_ip, external_ips, affinity,
                       timeout, etp, itp, None, source, lb_ip, hcnp, ranges)


def _external_name(f):
    """A lowercase RFC 1123 subdomain (a final dot allowed), as kube-apiserver checks it."""
    value = f.str()
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253 or not DNS_SUBDOMAIN.fullmatch(name):
        raise f.error(f'Invalid value: {quoted(value)}: a lowercase RFC 1123 subdomain must consist of lower case '
                      "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
                      "e.g. example.com")
    return value


def _trimmed(f):
    """The apiserver and kube-proxy trim spaces around a loadBalancerSourceRanges entry."""
    return Field(f.value.strip(), f.file, f.path) if isinstance(f.value, str) else f


def status_ingress(doc):
    """``status.loadBalancer.ingress[].ip`` as written in the manifest (what kube-proxy would read)."""
    if not doc.has("status"):
        return ()
    lb = doc.child("status").mapping().get("loadBalancer")
    if lb is None:
        return ()
    ingress = lb.mapping().get("ingress")
    return tuple(str(i.mapping().child("ip").ip()) for i in (ingress.list() if ingress else []) if i.has("ip"))


def _service_ports(spec, svc_type, cluster_ip):
    if not spec.has("ports"):
        if cluster_ip == "None":
            return ()
        raise spec.error("spec.ports is required", "list at least one port")
    fields = spec.child("ports").list()
    if not fields and cluster_ip != "None":
        raise spec.child("ports").error("a service needs at least one port")
    ports, names, keys = [], set(), set()
    for pf in fields:
        pf.mapping(allowed=SERVICE_PORT_FIELDS, required=("port",))
        _check_types(pf, "service port")
        pname = pf.child("name").str(DNS_LABEL, "port name", max_len=15, empty=True) if pf.has("name") else ""
        if len(fields) > 1 and not pname:
            raise pf.error("every port of a multi-port service needs a name", "add name: http (or similar)")
        if pname in names:
            raise pf.child("name").error(f"port name {pname!r} is used twice")
        names.add(pname)
        protocol = pf.child("protocol").choice(PROTOCOLS) if pf.has("protocol") else "TCP"
        port = pf.child("port").int(1, 65535)
        if (port, protocol) in keys:
            raise pf.child("port").error(f"{port}/{protocol} is listed twice")
        keys.add((port, protocol))
        target = pf.child("targetPort").int_or_name() if pf.has("targetPort") else port
        node_port = None
        if pf.has("nodePort"):
            if svc_type not in ("NodePort", "LoadBalancer"):
                raise pf.child("nodePort").error(f"a {svc_type} service has no node ports",
                                                 "set spec.type: NodePort, or remove nodePort")
            node_port = pf.child("nodePort").int(1, 65535)
        ports.append(ServicePortSpec(pname, protocol, port, target, node_port))
    return tuple(ports)



def _endpoints_object(doc, kind, default_namespace):
    top = {"apiVersion", "kind", "metadata"} | ({"addressType", "endpoints", "ports"} if kind == "EndpointSlice"
                                               else {"subsets"})
    doc.mapping(allowed=top, required=("metadata",))
    meta = doc.child("metadata").mapping(allowed=METADATA_FIELDS, required=("name",))
    name = meta.child("name").str(DNS_SUBDOMAIN, f"{kind} name", max_len=253)
    namespace = meta.child("namespace").str(DNS_LABEL, "namespace", max_len=63) \
        if meta.has("namespace") else default_namespace
    labels = meta.child("labels").labels() if meta.has("labels") else {}
    if kind == "Endpoints":
        return _legacy_endpoints(doc, namespace, name)
    if SERVICE_NAME_LABEL not in labels:
        raise meta.child("labels").error(f"an EndpointSlice names its Service in the label {SERVICE_NAME_LABEL}") \
            if meta.has("labels") else meta.error(f"an EndpointSlice needs the label {SERVICE_NAME_LABEL}")
    if doc.has("addressType") and doc.child("addressType").choice(("IPv4", "IPv6", "FQDN")) != "IPv4":
        raise doc.child("addressType").error("svclab labs are IPv4 only")
    ports = [_endpoint_port(pf) for pf in (doc.child("ports").list() if doc.has("ports") else [])]
    endpoints = []
    for ef in (doc.child("endpoints").list() if doc.has("endpoints") else []):
        ef.mapping(allowed={"addresses", "conditions", "hostname", "targetRef", "nodeName", "zone", "hints",
                            "deprecatedTopology"}, required=("addresses",))
        addresses = ef.child("addresses").list()
        if not addresses:
            raise ef.child("addresses").error("an endpoint needs an address")
        conditions = {}
        if ef.has("conditions"):
            cf = ef.child("conditions").mapping(allowed={"ready", "serving", "terminating"})
            conditions = {k: cf.child(k).bool() for k in ("ready", "serving", "terminating") if cf.has(k)}
        pod = None
        if ef.has("targetRef"):
            ref = ef.child("targetRef").mapping()
            pod = ref.child("name").str() if ref.has("name") else None
        # kube-proxy: ready unless false; serving unless false (defaults to ready); terminating only if true
        ready = conditions.get("ready", True)
        endpoints.append(SliceEndpoint(str(addresses[0].ip()), ready, conditions.get("serving", ready),
                                       conditions.get("terminating", False),
                                       ef.child("nodeName").str() if ef.has("nodeName") else None, pod,
                                       _hostname(ef)))
    return EndpointSliceSpec(namespace, name, labels[SERVICE_NAME_LABEL], tuple(ports), tuple(endpoints),
                             str(doc.file))


def _hostname(f):
    """An endpoint's ``hostname`` (its DNS name under the service), if given."""
    return f.child("hostname").str(DNS_LABEL, "hostname", max_len=63) if f.has("hostname") else None


def _endpoint_port(pf):
    """(name, port, protocol) of an EndpointSlice or Endpoints port."""
    pf.mapping(allowed={"name", "port", "protocol", "appProtocol"}, required=("port",))
    return (pf.child("name").str(DNS_LABEL, "port name", max_len=15, empty=True) if pf.has("name") else "",
            pf.child("port").int(1, 65535), pf.child("protocol").choice(PROTOCOLS) if pf.has("protocol") else "TCP")


def _legacy_endpoints(doc, namespace, name):
    """v1 Endpoints: addresses x ports per subset; notReadyAddresses are not ready."""
    ports, endpoints = [], []
    for sf in (doc.child("subsets").list() if doc.has("subsets") else []):
        sf.mapping(allowed={"addresses", "notReadyAddresses", "ports"})
        for pf in (sf.child("ports").list() if sf.has("ports") else []):
            entry = _endpoint_port(pf)
            if entry not in ports:
                ports.append(entry)
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for af in (sf.child(key).list() if sf.has(key) else []):
                af.mapping(allowed={"ip", "hostname", "nodeName", "targetRef"}, required=("ip",))
                pod = af.child("targetRef").mapping().value.get("name") if af.has("targetRef") else None
                endpoints.append(SliceEndpoint(str(af.child("ip").ip()), ready, ready, False,
                                               af.child("nodeName").str() if af.has("nodeName") else None, pod,
                                               _hostname(af)))
    return EndpointSliceSpec(namespace, name, name, tuple(ports), tuple(endpoints), str(doc.file), "Endpoints")
