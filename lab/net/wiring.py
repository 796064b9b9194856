"""The network a cluster state needs, as plain data: namespaces, bridges, veths, addresses, routes.

Pure: ``plan(state)`` says what to build; ``lab.dataplane`` builds it with netlink and
``bench/`` renders the same plan as an ``ip -batch`` file for its baseline.
"""

from dataclasses import dataclass

from lab.proxy import modes

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
    ("net.bridge.bridge-nf-call-iptables", 1),  # pod -> ClusterIP on the same bridge passes netfilter
)


def node_sysctls(mode):
    """A node's sysctls: the pod network's, and what kube-proxy's mode (lab.proxy.modes) sets."""
    return NODE_SYSCTLS + modes.MODES[mode].sysctls


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
    mac: str = None


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
    peer_mac: str = None


@dataclass(frozen=True)
class Route:
    netns: str
    dst: str  # "default" or a CIDR
    via: str = None
    table: int = 254  # main
    local_dev: str = None  # a "local" route through this device (via is None then)


@dataclass(frozen=True)
class PolicyRule:
    """A policy-routing rule: packets carrying ``fwmark`` look up ``table``."""

    netns: str
    fwmark: int
    mask: int
    table: int


@dataclass(frozen=True)
class Address:
    """An extra address on an interface (the load balancer's external IPs)."""

    netns: str
    dev: str
    address: str  # "ip/prefix"


@dataclass(frozen=True)
class Neighbour:
    """A permanent ARP entry in ``netns``: ``ip`` is at ``mac`` on ``dev`` (``owner``: the namespace
    that holds ``ip``, so a new pod's entries travel with it)."""
    netns: str
    dev: str
    ip: str
    mac: str
    owner: str


@dataclass(frozen=True)
class Plan:
    namespaces: tuple
    bridges: tuple
    veths: tuple
    routes: tuple
    addresses: tuple = ()
    rules: tuple = ()
    neighbours: tuple = ()

    @property
    def namespace_names(self):
        return tuple(n.name for n in self.namespaces)


def plan(cluster, neighbour_limit=None):
    """The lab's network. ``neighbour_limit``: the host kernel's ARP table limit (``gc_thresh3``),
    which every namespace shares; a lab that could fill it gets permanent ARP entries."""
    lan_prefix = cluster.lan_cidr.prefixlen
    namespaces = [Namespace(cluster.switch_netns, "switch", COMMON_SYSCTLS)]
    bridges = [Bridge(cluster.switch_netns, LAN_BRIDGE, f"{cluster.gateway}/{lan_prefix}", mac_for(cluster.gateway))]
    veths, routes = [], []
    sysctls = node_sysctls(cluster.kube_proxy.mode)
    for node in cluster.nodes:
        namespaces.append(Namespace(node.netns, "node", sysctls))
        veths.append(Veth(cluster.switch_netns, node.name, LAN_BRIDGE, node.netns, ETH, f"{node.ip}/{lan_prefix}",
                          peer_mac=mac_for(node.ip)))
        bridges.append(Bridge(node.netns, POD_BRIDGE, f"{node.pod_gateway}/{node.pod_cidr.prefixlen}",
                              mac_for(node.pod_gateway)))
        routes.append(Route(node.netns, "default", str(cluster.gateway)))
        routes += [Route(node.netns, str(other.pod_cidr), str(other.ip)) for other in cluster.nodes if other != node]
    for host in cluster.hosts:
        namespaces.append(Namespace(host.netns, "host", COMMON_SYSCTLS))
        veths.append(Veth(cluster.switch_netns, host.name, LAN_BRIDGE, host.netns, ETH, f"{host.ip}/{lan_prefix}",
                          peer_mac=mac_for(host.ip)))
        routes.append(Route(host.netns, "default", str(cluster.gateway)))
    addresses, rules = [], []
    if cluster.lb is not None:
        namespaces.append(Namespace(cluster.lb.netns, "lb", COMMON_SYSCTLS))
        veths.append(Veth(cluster.switch_netns, "lb", LAN_BRIDGE, cluster.lb.netns, ETH, f"{cluster.lb.ip}/{lan_prefix}",
                          peer_mac=lb_mac(cluster)))
        routes.append(Route(cluster.lb.netns, "default", str(cluster.gateway)))
        addresses += [Address(cluster.lb.netns, ETH, f"{ip}/32") for ip in cluster.external_ips]
        # transparent proxying (client addresses kept for externalTrafficPolicy: Local): replies
        # to a client come back to the load balancer and are handed to nginx's socket ...
        rules.append(PolicyRule(cluster.lb.netns, LB_TPROXY_MARK, LB_TPROXY_MARK, LB_TABLE))
        routes.append(Route(cluster.lb.netns, "0.0.0.0/0", table=LB_TABLE, local_dev="lo"))
        # ... because each node sends the replies of the load balancer's connections back through it
        for node in cluster.nodes:
            rules.append(PolicyRule(node.netns, LB_RETURN_MARK, LB_RETURN_MARK, LB_TABLE))
            routes.append(Route(node.netns, "default", str(cluster.lb.ip), table=LB_TABLE))
    for pod in cluster.pods:
        if pod.host_network:  # it runs in its node's namespace: no namespace, veth or address of its own
            continue
        node = cluster.node(pod.node)
        namespaces.append(Namespace(pod.netns, "pod", COMMON_SYSCTLS))
        veths.append(Veth(node.netns, pod.host_veth, POD_BRIDGE, pod.netns, ETH,
                          f"{pod.ip}/{node.pod_cidr.prefixlen}", hairpin=True, peer_mac=mac_for(pod.ip)))
        routes.append(Route(pod.netns, "default", str(node.pod_gateway)))
    neighbours = permanent_neighbours(cluster) if neighbour_limit and \
        neighbour_estimate(cluster) > neighbour_limit // 2 else ()
    return Plan(tuple(namespaces), tuple(bridges), tuple(veths), tuple(routes), tuple(addresses), tuple(rules),
                tuple(neighbours))


def mac_for(ip):
    """``0a:58:`` and the four bytes of the address, as the CNI bridge plugin named pods' MACs:
    the same address always gets the same MAC, so an ARP entry never points at a stale one."""
    return "0a:58:" + ":".join(f"{int(b):02x}" for b in str(ip).split("."))


def neighbour_estimate(cluster):
    """ARP entries a busy lab could hold at once: every LAN machine knowing every other, every
    node knowing its pods, every pod knowing its gateway."""
    lan = len(cluster.nodes) + len(cluster.hosts) + (1 if cluster.lb else 0) + 1
    return lan * lan + 2 * len(cluster.pods)


def permanent_neighbours(cluster):
    """The ARP table of a large lab, written once: the kernel keeps one ARP table for all
    namespaces with a host-wide limit, and permanent entries do not count against it."""
    lan = [(cluster.switch_netns, LAN_BRIDGE, str(cluster.gateway), mac_for(cluster.gateway))]
    lan += [(n.netns, ETH, str(n.ip), mac_for(n.ip)) for n in cluster.nodes]
    lan += [(h.netns, ETH, str(h.ip), mac_for(h.ip)) for h in cluster.hosts]
    if cluster.lb is not None:
        lan.append((cluster.lb.netns, ETH, str(cluster.lb.ip), lb_mac(cluster)))
    out = [Neighbour(netns, dev, ip, mac, owner) for netns, dev, _, _ in lan
           for owner, _, ip, mac in lan if owner != netns]
    for pod in cluster.pods:
        if pod.host_network:
            continue
        node = cluster.node(pod.node)
        out.append(Neighbour(pod.netns, ETH, str(node.pod_gateway), mac_for(node.pod_gateway), node.netns))
        out.append(Neighbour(node.netns, POD_BRIDGE, str(pod.ip), mac_for(pod.ip), pod.netns))
    return out


LB_TABLE = 100
LB_TPROXY_MARK = 0x1
LB_RETURN_MARK = 0x100


def lb_mac(cluster):
    """A fixed MAC for the load balancer's eth0, so nodes can tell its packets apart."""
    return "02:42:" + ":".join(f"{int(b):02x}" for b in str(cluster.lb.ip).split("."))


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
        makers.setdefault(b.netns, []).extend([f"link add {b.name} type bridge"]
                                              + ([f"link set dev {b.name} address {b.mac}"] if b.mac else [])
                                              + [f"addr add {b.address} dev {b.name}", f"link set {b.name} up"])
    for v in p.veths:
        makers.setdefault(v.netns, []).extend(
            [f"link add name {v.name} type veth peer name {v.peer} netns {v.peer_netns}",
             f"link set dev {v.name} master {v.bridge} up"]
            + ([f"link set dev {v.name} type bridge_slave hairpin on"] if v.hairpin else []))
    batches += list(makers.items())
    config = {n.name: ["link set lo up"] for n in p.namespaces}
    for v in p.veths:
        config[v.peer_netns] += [f"addr add {v.peer_address} dev {v.peer}", f"link set {v.peer} up"]
    for v in p.veths:
        if v.peer_mac:
            config[v.peer_netns].append(f"link set dev {v.peer} address {v.peer_mac}")
    for a in p.addresses:
        config[a.netns].append(f"addr add {a.address} dev {a.dev}")
    for r in p.routes:
        where = f"local {r.dst} dev {r.local_dev}" if r.local_dev else f"{r.dst} via {r.via}"
        config[r.netns].append(f"route add {where}" + (f" table {r.table}" if r.table != 254 else ""))
    for rule in p.rules:
        config[rule.netns].append(f"rule add fwmark {rule.fwmark:#x}/{rule.mask:#x} lookup {rule.table}")
    for n in p.neighbours:
        config[n.netns].append(f"neigh replace {n.ip} lladdr {n.mac} dev {n.dev} nud permanent")
    return batches + list(config.items())


def subplan(p, netns_names):
    """The part of ``p`` that builds the namespaces ``netns_names`` (new pods joining a running lab)."""
    names = set(netns_names)
    return Plan(tuple(n for n in p.namespaces if n.name in names), (),
                tuple(v for v in p.veths if v.peer_netns in names),
                tuple(r for r in p.routes if r.netns in names),
                tuple(a for a in p.addresses if a.netns in names),
                tuple(r for r in p.rules if r.netns in names),
                tuple(n for n in p.neighbours if n.netns in names or n.owner in names))
