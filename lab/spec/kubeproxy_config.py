"""kube-proxy's settings: what a scenario's ``kubeProxy:`` says (``KubeProxyConfig``), and kube-proxy's
own configuration file (KubeProxyConfiguration, kubeproxy.config.k8s.io/v1alpha1)."""

from dataclasses import dataclass

from lab.spec import yamlfiles
from lab.spec.fields import Field

TOP_FIELDS = {"apiVersion", "kind", "hostnameOverride", "clusterCIDR", "detectLocalMode", "detectLocal", "iptables",
              "nftables", "ipvs", "winkernel", "nodePortAddresses", "mode", "bindAddress", "healthzBindAddress",
              "metricsBindAddress", "bindAddressHardFail", "enableProfiling", "showHiddenMetricsForVersion",
              "clientConnection", "conntrack", "configSyncPeriod", "featureGates", "logging", "oomScoreAdj",
              "portRange", "linux", "syncPeriod", "minSyncPeriod"}
IPTABLES_FIELDS = {"masqueradeBit", "masqueradeAll", "localhostNodePorts", "syncPeriod", "minSyncPeriod"}


@dataclass(frozen=True)
class KubeProxyConfig:
    """kube-proxy's settings, from a scenario's ``kubeProxy:`` or a KubeProxyConfiguration."""

    mode: str = "iptables"
    profile: str = "current"
    masquerade_bit: int = 14
    masquerade_all: bool = False
    localhost_node_ports: bool = True
    node_port_addresses: tuple = ()  # CIDRs (or "primary"); empty: every local address
    detect_local_mode: str = "ClusterCIDR"
    detect_local_value: str = None
    cluster_cidr: str = None  # kube-proxy's own clusterCIDR: None, the lab's; "", none (no local detector)


@dataclass(frozen=True)
class ProxySettings:
    hostname_override: str = None
    cluster_cidr: str = None  # None: not in the file; "": given empty (kube-proxy then detects no local traffic)
    mode: str = None
    masquerade_bit: int = 14
    masquerade_all: bool = False
    localhost_node_ports: bool = True
    node_port_addresses: tuple = ()  # CIDRs
    detect_local_mode: str = "ClusterCIDR"
    detect_local_value: str = None  # the bridge or the interface name prefix


DETECT_LOCAL_MODES = ("ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix")


def load(path, files=None):
    doc = Field(files.single(path) if files is not None else yamlfiles.load_single(path), path)
    doc.mapping(allowed=TOP_FIELDS, required=("apiVersion", "kind"))
    if doc.child("kind").str() != "KubeProxyConfiguration":
        raise doc.child("kind").error("expected KubeProxyConfiguration")
    if doc.child("apiVersion").str() != "kubeproxy.config.k8s.io/v1alpha1":
        raise doc.child("apiVersion").error("expected kubeproxy.config.k8s.io/v1alpha1")
    mode = doc.child("detectLocalMode").choice(DETECT_LOCAL_MODES) if doc.has("detectLocalMode") else "ClusterCIDR"
    local = doc.child("detectLocal").mapping(allowed={"bridgeInterface", "interfaceNamePrefix"}) \
        if doc.has("detectLocal") else None
    wanted = {"BridgeInterface": "bridgeInterface", "InterfaceNamePrefix": "interfaceNamePrefix"}.get(mode)
    if wanted and not (local and local.has(wanted)):
        raise doc.error(f"detectLocalMode {mode} needs detectLocal.{wanted}")
    detect_value = local.child(wanted).str() if wanted else None
    ipt = doc.child("iptables").mapping(allowed=IPTABLES_FIELDS) if doc.has("iptables") else None
    d = ProxySettings()
    addresses = ()
    if doc.has("nodePortAddresses"):
        addresses = tuple(str(f.cidr()) if f.value != "primary" else "primary"
                          for f in doc.child("nodePortAddresses").list())
    return ProxySettings(
        hostname_override=doc.child("hostnameOverride").str() if doc.has("hostnameOverride") else None,
        cluster_cidr=_cluster_cidr(doc),
        mode=doc.child("mode").choice(("", "iptables", "nftables", "ipvs")) or None if doc.has("mode") else None,
        masquerade_bit=ipt.child("masqueradeBit").int(0, 31) if ipt and ipt.has("masqueradeBit") else d.masquerade_bit,
        masquerade_all=ipt.child("masqueradeAll").bool() if ipt and ipt.has("masqueradeAll") else d.masquerade_all,
        localhost_node_ports=ipt.child("localhostNodePorts").bool() if ipt and ipt.has("localhostNodePorts")
        else d.localhost_node_ports,
        node_port_addresses=addresses, detect_local_mode=mode, detect_local_value=detect_value)


def _cluster_cidr(doc):
    """``clusterCIDR``: absent (None), empty (""), or CIDRs, comma-separated as kube-proxy takes them
    (only the IPv4 one counts in an IPv4 lab)."""
    if not doc.has("clusterCIDR"):
        return None
    field = doc.child("clusterCIDR")
    if field.str(empty=True) == "":
        return ""
    cidrs = [c.strip() for c in field.value.split(",")]
    v4 = [Field(c, field.file, field.path).cidr() for c in cidrs if ":" not in c]
    if not v4:
        raise field.error(f"{field.value!r} has no IPv4 CIDR", "svclab labs are IPv4 only")
    return str(v4[0])
