"""What kube-proxy knows about itself on one node: its release's rule layout (the profile) and
its settings (masquerade bit, local-traffic detector, NodePort addresses, ...). Pure."""

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    trailing_colon: bool  # ServicePortName.String() before 1.19
    legacy_layout: bool  # 1.18 rules (no KUBE-EXT/SVL chains)
    endpoint_comments: bool  # "N -> IP:port" on service -> endpoint rules
    fallback_to_terminating: bool  # use serving+terminating endpoints when none is ready
    host_cidrs: bool  # addresses written as IP/32 (``utilproxy.ToCIDR``, gone by the EXT/SVL layout)


PROFILES = {
    "1.18": Profile("1.18", trailing_colon=True, legacy_layout=True, endpoint_comments=False,
                    fallback_to_terminating=False, host_cidrs=True),
    "current": Profile("current", trailing_colon=False, legacy_layout=False, endpoint_comments=True,
                       fallback_to_terminating=True, host_cidrs=False),
}


@dataclass(frozen=True)
class ProxyOptions:
    """What kube-proxy knows about itself on one node."""

    node: str  # the topology name of this node (endpoints on it are local)
    profile: Profile
    cluster_cidr: str  # the local-traffic detector (--cluster-cidr); "": none
    masquerade_bit: int = 14
    masquerade_all: bool = False
    random_fully: bool = True  # iptables >= 1.6.2 supports MASQUERADE --random-fully
    localhost_node_ports: bool = True  # iptables.localhostNodePorts: NodePorts on 127.0.0.1 too
    node_port_addresses: tuple = ()  # the node's addresses NodePorts answer on (empty: all local ones)
    nfacct: bool = False  # the host has nfacct counters: kube-proxy counts two kinds of packets
    local_detector: tuple = None  # (match, negated match) for "from a local pod"; default: the cluster CIDR

    @property
    def if_local(self):
        """The match for "from a pod of this cluster (or node)"; None without a local detector."""
        if self.local_detector:
            return self.local_detector[0]
        return f"-s {self.cluster_cidr}" if self.cluster_cidr else None

    @property
    def if_not_local(self):
        if self.local_detector:
            return self.local_detector[1]
        return f"! -s {self.cluster_cidr}" if self.cluster_cidr else None
    node_ip: str = None  # proxier.nodeIP: a loadBalancerSourceRange holding it lets the node reach its LB IPs

    @property
    def mark(self):
        return f"{1 << self.masquerade_bit:#010x}"  # Go's %#08x pads the digits: 0x00004000

    @property
    def mark_with_mask(self):
        return f"{self.mark}/{self.mark}"


def options_for(cluster, node_name):
    kp = cluster.kube_proxy
    node = cluster.node(node_name)
    node_ip = str(node.ip) if node else None
    detector_cidr = str(cluster.cluster_cidr) if kp.cluster_cidr is None else kp.cluster_cidr
    return ProxyOptions(node=node_name, profile=PROFILES[kp.profile], cluster_cidr=detector_cidr,
                        masquerade_bit=kp.masquerade_bit, masquerade_all=kp.masquerade_all, node_ip=node_ip,
                        localhost_node_ports=getattr(kp, "localhost_node_ports", True),
                        node_port_addresses=node_port_ips(getattr(kp, "node_port_addresses", ()), [node_ip]),
                        local_detector=_local_detector(kp, node))


def _local_detector(kp, node):
    """kube-proxy's LocalTrafficDetector, from its detectLocalMode (the cluster CIDR by default)."""
    mode, value = getattr(kp, "detect_local_mode", "ClusterCIDR"), getattr(kp, "detect_local_value", None)
    if mode == "NodeCIDR" and node is not None:
        return (f"-s {node.pod_cidr}", f"! -s {node.pod_cidr}")
    if mode == "BridgeInterface":
        return (f"-i {value}", f"! -i {value}")
    if mode == "InterfaceNamePrefix":
        return (f"-i {value}+", f"! -i {value}+")
    return None


def node_port_ips(cidrs, node_ips):
    """The node addresses inside ``nodePortAddresses`` (``primary``: the first one); () for all."""
    chosen = []
    for ip in node_ips:
        if ip and any(c == "primary" and ip == node_ips[0] or c != "primary" and
                      ipaddress.ip_address(ip) in ipaddress.ip_network(c) for c in cidrs):
            chosen.append(ip)
    return tuple(chosen)
