"""The network a cluster state needs, as plain data: namespaces, bridges, veths, addresses, routes.

Pure: ``plan(state)`` says what to build; ``lab.dataplane`` builds it with netlink and
``bench/`` renders the same plan as an ``ip -batch`` file for its baseline.
"""

from dataclasses import dataclass

LAN_BRIDGE = "br0"
POD_BRIDGE = "cni0"
ETH = "eth0"

COMMON_SYSCTLS = (
    # IPv6 on a shared bridge floods DAD/MLD/RS packets to every port (O(N^2)); the lab is IPv4.
    ("net.ipv6.conf.all.disable_ipv6", 1),
    ("net.ipv6.conf.default.disable_ipv6", 1),
)
NODE_SYSCTLS = COMMON_SYSCTLS + (
    ("net.ipv4.ip_forward", 1),  # a node routes between its pods, the LAN and other nodes
    ("net.ipv4.conf.all.route_localnet", 1),  # kube-proxy sets it for 127.0.0.1:<nodePort>
    ("net.bridge.bridge-nf-call-iptables", 1),  # pod -> ClusterIP on the same bridge passes netfilter
)


@dataclass(frozen=True)
class Namespace:
    name: str
    role: str  # switch, node, host, pod
    sysctls: tuple


@dataclass(frozen=True)
class Bridge:
    netns: str
    name: str
    address: str  # "ip/prefix"


@dataclass(frozen=True)
class Veth:
    """A veth pair: ``name`` in ``netns`` (a bridge port) and ``peer`` in ``peer_netns``."""

    netns: str
    name: str
    bridge: str
    peer_netns: str
    peer: str
    peer_address: str  # "ip/prefix"
    hairpin: bool = False


@dataclass(frozen=True)
class Route:
    netns: str
    dst: str  # "default" or a CIDR
    via: str


@dataclass(frozen=True)
class Plan:
    namespaces: tuple
    bridges: tuple
    veths: tuple
    routes: tuple

    @property
    def namespace_names(self):
        return tuple(n.name for n in self.namespaces)


def plan(state):
    lan_prefix = state.lan_cidr.prefixlen
    namespaces = [Namespace(state.switch_netns, "switch", COMMON_SYSCTLS)]
    bridges = [Bridge(state.switch_netns, LAN_BRIDGE, f"{state.gateway}/{lan_prefix}")]
    veths, routes = [], []
    for node in state.nodes:
        namespaces.append(Namespace(node.netns, "node", NODE_SYSCTLS))
        veths.append(Veth(state.switch_netns, node.name, LAN_BRIDGE, node.netns, ETH, f"{node.ip}/{lan_prefix}"))
        bridges.append(Bridge(node.netns, POD_BRIDGE, f"{node.pod_gateway}/{node.pod_cidr.prefixlen}"))
        routes.append(Route(node.netns, "default", str(state.gateway)))
        routes += [Route(node.netns, str(other.pod_cidr), str(other.ip)) for other in state.nodes if other != node]
    for host in state.hosts:
        namespaces.append(Namespace(host.netns, "host", COMMON_SYSCTLS))
        veths.append(Veth(state.switch_netns, host.name, LAN_BRIDGE, host.netns, ETH, f"{host.ip}/{lan_prefix}"))
        routes.append(Route(host.netns, "default", str(state.gateway)))
    for pod in state.pods:
        node = state.node(pod.node)
        namespaces.append(Namespace(pod.netns, "pod", COMMON_SYSCTLS))
        veths.append(Veth(node.netns, pod.host_veth, POD_BRIDGE, pod.netns, ETH,
                          f"{pod.ip}/{node.pod_cidr.prefixlen}", hairpin=True))
        routes.append(Route(pod.netns, "default", str(node.pod_gateway)))
    return Plan(tuple(namespaces), tuple(bridges), tuple(veths), tuple(routes))


def ip_batches(p):
    """The same network as ``ip -batch`` input: (namespace or None, lines) in the order to run them.

    ``ip -batch`` takes no ``-n`` per line, so each namespace gets a batch of its own
    (``ip -n NS -batch -``); this is the benchmark's plain-tools baseline.
    """
    setup = [f"netns add {n.name}" for n in p.namespaces]
    setup += [f"netns exec {n.name} sysctl -qw {k}={v}" for n in p.namespaces for k, v in n.sysctls]
    batches = [(None, setup)]
    makers = {}
    for b in p.bridges:
        makers.setdefault(b.netns, []).extend([f"link add {b.name} type bridge",
                                               f"addr add {b.address} dev {b.name}", f"link set {b.name} up"])
    for v in p.veths:
        makers.setdefault(v.netns, []).extend(
            [f"link add name {v.name} type veth peer name {v.peer} netns {v.peer_netns}",
             f"link set dev {v.name} master {v.bridge} up"]
            + ([f"link set dev {v.name} type bridge_slave hairpin on"] if v.hairpin else []))
    batches += list(makers.items())
    config = {n.name: ["link set lo up"] for n in p.namespaces}
    for v in p.veths:
        config[v.peer_netns] += [f"addr add {v.peer_address} dev {v.peer}", f"link set {v.peer} up"]
    for r in p.routes:
        config[r.netns].append(f"route add {r.dst} via {r.via}")
    return batches + list(config.items())


def subplan(p, netns_names):
    """The part of ``p`` that builds the namespaces ``netns_names`` (new pods joining a running lab)."""
    names = set(netns_names)
    return Plan(tuple(n for n in p.namespaces if n.name in names), (),
                tuple(v for v in p.veths if v.peer_netns in names),
                tuple(r for r in p.routes if r.netns in names))
