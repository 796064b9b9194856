"""A scenario: a topology, cluster settings, kube-proxy settings and real Kubernetes manifests."""

import contextlib
import ipaddress
import os
import re
from dataclasses import dataclass

from lab.errors import InputError
from lab.spec import lastapplied, manifests, topology
from lab.spec.checks import parse as parse_checks
from lab.spec.fields import DNS_LABEL, DNS_SUBDOMAIN, Field
from lab.spec.kubeproxy_config import KubeProxyConfig
from lab.spec.labname import LAB_NAME, MAX_LAB_NAME, check_lab_name  # noqa: F401 (re-exported)
from lab.spec.labname import lab_name as named_lab
from lab.spec.sources import Sources

PROFILES = ("1.18", "current")
MODES = ("iptables", "nftables")
IMAGE = re.compile(r"[a-z0-9][a-z0-9._/:@-]*")  # the images a probe pod may name
SCENARIO_FIELDS = {"name", "topology", "cluster", "kubeProxy", "manifests", "pins", "frontend", "checks", "probeImage"}


@dataclass(frozen=True)
class ClusterConfig:
    service_cidr: ipaddress.IPv4Network = ipaddress.ip_network("10.96.0.0/12")
    cluster_cidr: ipaddress.IPv4Network = ipaddress.ip_network("10.244.0.0/16")
    domain: str = "cluster.local"
    node_port_range: tuple = (30000, 32767)
    dns: bool = True  # the CoreDNS addon (kube-dns service, two coredns pods in kube-system)


@dataclass(frozen=True)
class PodPin:
    """Replica ``index`` of a Deployment gets this name, node and/or IP instead of chosen ones."""

    namespace: str
    deployment: str
    index: int
    name: str = None
    node: str = None
    ip: ipaddress.IPv4Address = None
    where: Field = None


@dataclass(frozen=True)
class ServicePin:
    namespace: str
    name: str
    cluster_ip: ipaddress.IPv4Address
    where: Field = None


@dataclass(frozen=True)
class FrontendSpec:
    host: str
    namespace: str
    service: str
    port: int = None
    where: Field = None


@dataclass(frozen=True)
class Scenario:
    source: str
    name: str
    topology: topology.Topology
    cluster: ClusterConfig
    kube_proxy: KubeProxyConfig
    objects: tuple
    pod_pins: tuple = ()
    service_pins: tuple = ()
    frontends: tuple = ()
    checks: tuple = ()
    probe_image: str = None  # the image of the probe pods `lab verify --kubeconfig` runs on a cluster's nodes


def _image(f):
    text = f.str(max_len=255)
    if not IMAGE.fullmatch(text):
        raise f.error(f"{text!r} is not an image reference", "e.g. curlimages/curl or busybox:1.36")
    return text


def load(path, name=None, files=None):
    """Read and validate a scenario file; ``name`` overrides the lab name in the file. ``files``
    (lab.spec.sources) reads every file once and keeps their texts (default: a new one)."""
    files = files if files is not None else Sources()
    doc = Field(files.single(path), path)
    doc.mapping(allowed=SCENARIO_FIELDS, required=("topology", "manifests"))
    base = os.path.dirname(os.path.abspath(path))
    if name is not None:
        lab_name = named_lab(Field(name, "command line", "--name"))
    else:
        lab_name = named_lab(doc.child("name")) if doc.has("name") else "k8s"
    topo_field = doc.child("topology")
    if isinstance(topo_field.value, str):
        with referenced_from(topo_field):
            topo = topology.load(_path(topo_field, base), files)
    else:
        topo = topology.parse(topo_field)
    cluster = _cluster(doc.get("cluster"), topo)
    kube_proxy = _kube_proxy(doc.get("kubeProxy"), base, files)
    objects = _objects(doc.child("manifests"), base, files)
    pod_pins, service_pins = _pins(doc.get("pins"))
    frontends = _frontends(doc.get("frontend"))
    checks = parse_checks(doc.child("checks")) if doc.has("checks") else ()
    probe_image = _image(doc.child("probeImage")) if doc.has("probeImage") else None
    return Scenario(str(path), lab_name, topo, cluster, kube_proxy, tuple(objects), pod_pins, service_pins,
                    frontends, checks, probe_image)


def _frontends(f):
    """Virtual hosts on the front load balancer: ``{host: a.xxx.com, service: demo}``."""
    if f is None:
        return ()
    out, hosts = [], set()
    for item in f.list():
        item.mapping(allowed={"host", "service", "namespace", "port"}, required=("host", "service"))
        host = item.child("host").str(DNS_SUBDOMAIN, "host name", max_len=253)
        if host in hosts:
            raise item.child("host").error(f"host {host!r} is listed twice")
        hosts.add(host)
        out.append(FrontendSpec(
            host, item.child("namespace").str(DNS_LABEL, "namespace") if item.has("namespace") else "default",
            item.child("service").str(DNS_LABEL, "service name"),
            item.child("port").int(1, 65535) if item.has("port") else None, where=item))
    return tuple(out)


def _cluster(f, topo):
    if f is None:
        config = ClusterConfig()
    else:
        f.mapping(allowed={"serviceCIDR", "clusterCIDR", "domain", "nodePortRange", "dns"})
        defaults = ClusterConfig()
        config = ClusterConfig(
            service_cidr=f.child("serviceCIDR").cidr() if f.has("serviceCIDR") else defaults.service_cidr,
            cluster_cidr=f.child("clusterCIDR").cidr() if f.has("clusterCIDR") else defaults.cluster_cidr,
            domain=_domain(f.child("domain")) if f.has("domain") else defaults.domain,
            node_port_range=port_range(f.child("nodePortRange")) if f.has("nodePortRange")
            else defaults.node_port_range,
            dns=f.child("dns").bool() if f.has("dns") else defaults.dns,
        )
    where = f if f is not None else Field({}, "(scenario)", "cluster")
    _check_cidrs(config, topo, where)
    return config


def _domain(f):
    """The cluster domain: a DNS name (at most 253 characters, each label at most 63)."""
    value = f.str(DNS_SUBDOMAIN, "domain", max_len=253)
    long = next((label for label in value.split(".") if len(label) > 63), None)
    if long:
        raise f.error(f"its label {long[:20]!r}... is {len(long)} characters, over DNS's 63")
    return value


def port_range(f):
    text = f.str()
    try:
        lo, hi = (int(x) for x in text.split("-"))
    except ValueError:
        raise f.error(f"{text!r} is not a port range", "write it as 30000-32767") from None
    if not 1 <= lo < hi <= 65535:
        raise f.error(f"{text!r} is not a valid port range", "write it as LOW-HIGH within 1-65535")
    return (lo, hi)


def _check_cidrs(config, topo, f):
    svc, pods, lan = config.service_cidr, config.cluster_cidr, topo.lan_cidr
    field = f.child("serviceCIDR") if f.has("serviceCIDR") else f
    if svc.prefixlen > 28:
        raise field.error(f"service CIDR {svc} is too small", "use a /24 or larger")
    if svc.overlaps(pods):
        raise field.error(f"service CIDR {svc} overlaps the cluster CIDR {pods}", "keep them apart")
    if svc.overlaps(lan):
        raise field.error(f"service CIDR {svc} overlaps the LAN {lan}", "keep them apart")
    pods_field = f.child("clusterCIDR") if f.has("clusterCIDR") else f
    if pods.overlaps(lan):
        raise pods_field.error(f"cluster CIDR {pods} overlaps the LAN {lan}", "keep them apart")
    for node in topo.nodes:
        if not node.pod_cidr.subnet_of(pods):
            raise pods_field.error(f"node {node.name}'s pod CIDR {node.pod_cidr} is outside the cluster CIDR {pods}",
                                   "widen clusterCIDR or change the node's podCIDR")


def _kube_proxy(f, base, files):
    """``kubeProxy:``: mode and profile, and kube-proxy's own settings, either inline or as a
    KubeProxyConfiguration file (``config: kube-proxy.yml``, relative to the scenario)."""
    if f is None:
        return KubeProxyConfig()
    f.mapping(allowed={"mode", "profile", "masqueradeBit", "masqueradeAll", "localhostNodePorts", "config"})
    d = KubeProxyConfig()
    if f.has("config"):
        from lab.spec import kubeproxy_config
        with referenced_from(f.child("config")):
            config_path = _path(f.child("config"), base)
            settings = kubeproxy_config.load(config_path, files)
            if settings.mode not in (None,) + MODES:  # kube-proxy's ipvs mode: svclab has no IPVS
                raise InputError(config_path, "mode", f"{settings.mode!r} is not a mode svclab runs",
                                 "use " + " or ".join(MODES))
        d = KubeProxyConfig(mode=settings.mode or d.mode, masquerade_bit=settings.masquerade_bit,
                            masquerade_all=settings.masquerade_all,
                            localhost_node_ports=settings.localhost_node_ports,
                            node_port_addresses=settings.node_port_addresses,
                            detect_local_mode=settings.detect_local_mode,
                            detect_local_value=settings.detect_local_value, cluster_cidr=settings.cluster_cidr)
    config = KubeProxyConfig(
        mode=f.child("mode").choice(MODES) if f.has("mode") else d.mode,
        profile=_profile(f.child("profile")) if f.has("profile") else d.profile,
        masquerade_bit=f.child("masqueradeBit").int(0, 31) if f.has("masqueradeBit") else d.masquerade_bit,
        masquerade_all=f.child("masqueradeAll").bool() if f.has("masqueradeAll") else d.masquerade_all,
        localhost_node_ports=f.child("localhostNodePorts").bool() if f.has("localhostNodePorts")
        else d.localhost_node_ports,
        node_port_addresses=d.node_port_addresses,
        detect_local_mode=d.detect_local_mode, detect_local_value=d.detect_local_value, cluster_cidr=d.cluster_cidr,
    )
    if config.mode == "nftables" and config.profile == "1.18":
        # the nftables proxier came in kube-proxy v1.29 (alpha; beta 1.31, GA 1.33)
        raise f.child("mode").error("mode nftables does not exist in kube-proxy 1.18 (it came in v1.29)",
                                    'use profile "current" with nftables, or mode iptables with profile "1.18"')
    return config


def _profile(f):
    if isinstance(f.value, float):  # profile: 1.18 unquoted
        f = Field(str(f.value), f.file, f.path)
    return f.choice(PROFILES)


def _objects(f, base, files):
    """Manifests: file paths (relative to the scenario; multi-document) or inline objects."""
    objects = []
    for item in f.list():
        if isinstance(item.value, str):
            path = _path(item, base)
            with referenced_from(item):
                for label, doc in files.labelled_documents(path):
                    objects.extend(_expand(Field(lastapplied.annotate_all(doc), label, "")))
        else:
            objects.extend(_expand(Field(lastapplied.annotate_all(item.value), item.file, item.path)))
    _check_unique(objects, f)
    return objects


@contextlib.contextmanager
def referenced_from(f):
    """An error in a file the scenario names also says which field of the scenario named it."""
    try:
        yield
    except InputError as exc:
        if exc.file == f.file:
            raise
        raise InputError(exc.file, exc.field, exc.problem,
                         "; ".join(x for x in (exc.fix, f"named by {f.file}: {f.path}") if x)) from None


def _path(f, base):
    """A file named in the scenario, relative to it. Not '' (the directory), nor with a NUL (open()
    raises ValueError) or a newline (the one-line error would break), nor a device or FIFO
    (reading /dev/zero never ends)."""
    if not f.value or not f.value.isprintable():
        raise f.error(f"{f.value!r} is not a file path", "name a YAML file, relative to the scenario")
    path = os.path.join(base, f.value)
    if os.path.exists(path) and not (os.path.isfile(path) or os.path.isdir(path)):  # /dev/zero would never end
        raise f.error(f"{f.value!r} is not a regular file", "name a YAML file, relative to the scenario")
    return path


def _expand(doc):
    """A manifest, or the items of a ``kind: List``."""
    if isinstance(doc.value, dict) and doc.value.get("kind") == "List":
        doc.mapping(allowed={"apiVersion", "kind", "items", "metadata"}, required=("items",))
        return [manifests.parse_object(item) for item in doc.child("items").list()]
    return [manifests.parse_object(doc)]


def _check_unique(objects, f):
    seen = {}
    for obj in objects:
        key = (obj.kind, obj.namespace, obj.name)
        if key in seen:
            raise InputError(obj.source, "metadata.name",
                             f"{key[0]} {obj.namespace}/{obj.name} is defined twice (also in {seen[key]})",
                             "give each object its own name")
        seen[key] = obj.source


def _pins(f):
    if f is None:
        return (), ()
    f.mapping(allowed={"pods", "services"})
    pods, services = [], []
    replica_counter = {}
    for pf in (f.child("pods").list() if f.has("pods") else []):
        pf.mapping(allowed={"deployment", "namespace", "name", "node", "ip"}, required=("deployment",))
        ns = pf.child("namespace").str(DNS_LABEL, "namespace") if pf.has("namespace") else "default"
        dep = pf.child("deployment").str(DNS_LABEL, "deployment name")
        index = replica_counter.get((ns, dep), 0)
        replica_counter[(ns, dep)] = index + 1
        pods.append(PodPin(
            ns, dep, index,
            name=pf.child("name").str(DNS_SUBDOMAIN, "pod name", max_len=253) if pf.has("name") else None,
            node=pf.child("node").str() if pf.has("node") else None,
            ip=pf.child("ip").ip() if pf.has("ip") else None,
            where=pf))
    for sf in (f.child("services").list() if f.has("services") else []):
        sf.mapping(allowed={"name", "namespace", "clusterIP"}, required=("name", "clusterIP"))
        ns = sf.child("namespace").str(DNS_LABEL, "namespace") if sf.has("namespace") else "default"
        services.append(ServicePin(ns, sf.child("name").str(DNS_LABEL, "service name"),
                                   sf.child("clusterIP").ip(), where=sf))
    return tuple(pods), tuple(services)
