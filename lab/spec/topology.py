"""The machines of a lab and their wiring (nothing Kubernetes-specific)."""

import ipaddress
from dataclasses import dataclass

from lab.spec.fields import DNS_LABEL, Field

MAX_MACHINE_NAME = 15  # the machine's name is its port name on the LAN switch
# names the LAN switch's namespace already has, or that the kernel keeps for itself (net.ipv4.conf.all)
RESERVED_MACHINE_NAMES = ("lo", "br0", "all", "default", "eth0", "cni0", "lan")


@dataclass(frozen=True)
class Machine:
    """A node (runs kubelet/kube-proxy, has a pod CIDR) or an outside host."""

    name: str
    ip: ipaddress.IPv4Address
    pod_cidr: ipaddress.IPv4Network = None  # None for hosts outside the cluster

    @property
    def is_node(self):
        return self.pod_cidr is not None


@dataclass(frozen=True)
class LoadBalancer:
    """The front load-balancer machine on the LAN, and the pool its controller hands out."""

    ip: ipaddress.IPv4Address
    pool: tuple  # addresses for LoadBalancer services, in order
    name: str = "lb"


@dataclass(frozen=True)
class Topology:
    source: str
    lan_cidr: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    nodes: tuple
    hosts: tuple
    load_balancer: LoadBalancer = None

    @property
    def machines(self):
        return self.nodes + self.hosts

    def machine(self, name):
        for m in self.machines:
            if m.name == name:
                return m
        return None


def load(path, files=None):
    """A topology file: YAML, or Python (a Topo subclass, see lab.spec.topo_api) when it ends in .py.
    ``files``: a lab.spec.sources.Sources to read it through (default: read it from the disk)."""
    if files is None:
        from lab.spec.sources import Sources
        files = Sources()
    if str(path).endswith(".py"):
        return parse(Field(files.python_topology(path), path))
    return parse(Field(files.single(path), path))


def parse(doc):
    doc.mapping(allowed={"lan", "nodes", "hosts", "loadBalancer"}, required=("lan", "nodes"))
    lan = doc.child("lan").mapping(allowed={"cidr", "gateway"}, required=("cidr",))
    lan_cidr = lan.child("cidr").cidr()
    if lan_cidr.prefixlen > 29:
        raise lan.child("cidr").error(f"{lan_cidr} is too small for a LAN", "use a /24 or larger")
    gateway = lan.child("gateway").ip() if lan.has("gateway") else next(lan_cidr.hosts())
    if gateway not in lan_cidr or gateway in (lan_cidr.network_address, lan_cidr.broadcast_address):
        raise lan.child("gateway").error(f"{gateway} is not a host address in {lan_cidr}")

    taken_ips = {gateway: "lan.gateway"}
    names = set()
    nodes = [_parse_machine(f, lan_cidr, taken_ips, names, is_node=True)
             for f in doc.child("nodes").list()]
    if not nodes:
        raise doc.child("nodes").error("a cluster needs at least one node")
    hosts = [_parse_machine(f, lan_cidr, taken_ips, names, is_node=False)
             for f in (doc.child("hosts").list() if doc.has("hosts") else [])]
    _check_pod_cidrs(doc, nodes, lan_cidr)
    lb = _load_balancer(doc.child("loadBalancer"), lan_cidr, taken_ips, names) if doc.has("loadBalancer") else None
    return Topology(str(doc.file), lan_cidr, gateway, tuple(nodes), tuple(hosts), lb)


def _load_balancer(f, lan_cidr, taken_ips, names):
    f.mapping(allowed={"ip", "pool"}, required=("ip",))
    if "lb" in names:
        raise f.error("a machine is already named 'lb'", "rename it: the load balancer's namespace is <lab>-lb")
    ip_field = f.child("ip")
    ip = ip_field.ip()
    if ip not in lan_cidr or ip in taken_ips:
        raise ip_field.error(f"{ip} is not a free host address in the LAN {lan_cidr}")
    taken_ips[ip] = "loadBalancer.ip"
    pool = []
    if f.has("pool"):
        pf = f.child("pool")
        text = pf.str()
        try:
            if "-" in text:
                first, last = (ipaddress.IPv4Address(x.strip()) for x in text.split("-"))
                pool = [ipaddress.IPv4Address(i) for i in range(int(first), int(last) + 1)]
            else:
                pool = list(ipaddress.IPv4Network(text).hosts())
        except ValueError:
            raise pf.error(f"{text!r} is not an address range", "write FIRST-LAST or a CIDR, e.g. "
                           "192.168.179.240-192.168.179.249") from None
        for addr in pool:
            if addr not in lan_cidr or addr in (lan_cidr.network_address, lan_cidr.broadcast_address):
                raise pf.error(f"{addr} is not a host address in the LAN {lan_cidr}")
            if addr in taken_ips:
                raise pf.error(f"{addr} is already used by {taken_ips[addr]}", "keep the pool clear of machines")
        if not pool or len(pool) > 256:
            raise pf.error(f"the pool has {len(pool)} addresses", "give it 1 to 256")
    return LoadBalancer(ip, tuple(pool))


def _parse_machine(f, lan_cidr, taken_ips, names, is_node):
    allowed = {"name", "ip", "podCIDR"} if is_node else {"name", "ip"}
    f.mapping(allowed=allowed, required=tuple(sorted(allowed)))
    name_field = f.child("name")
    name = name_field.str(DNS_LABEL, "machine name", max_len=MAX_MACHINE_NAME)
    if name in RESERVED_MACHINE_NAMES:
        raise name_field.error(f"{name!r} is the name of an interface or namespace the lab makes, or the kernel keeps",
                               "choose another name (not " + ", ".join(RESERVED_MACHINE_NAMES) + ")")
    if name in names:
        raise name_field.error(f"machine name {name!r} is used twice", "give each machine its own name")
    names.add(name)
    ip_field = f.child("ip")
    ip = ip_field.ip()
    if ip not in lan_cidr or ip in (lan_cidr.network_address, lan_cidr.broadcast_address):
        raise ip_field.error(f"{ip} is not a host address in the LAN {lan_cidr}")
    if ip in taken_ips:
        raise ip_field.error(f"{ip} is already used by {taken_ips[ip]}", "give each machine its own address")
    taken_ips[ip] = f.path
    pod_cidr = None
    if is_node:
        pod_field = f.child("podCIDR")
        pod_cidr = pod_field.cidr()
        if pod_cidr.prefixlen > 28:
            raise pod_field.error(f"{pod_cidr} is too small for a node's pods", "use a /24 (or /28 at the least)")
    return Machine(name, ip, pod_cidr)


def _check_pod_cidrs(doc, nodes, lan_cidr):
    fields = doc.child("nodes").list()
    for i, node in enumerate(nodes):
        where = fields[i].child("podCIDR")
        if node.pod_cidr.overlaps(lan_cidr):
            raise where.error(f"{node.pod_cidr} overlaps the LAN {lan_cidr}", "pick a pod CIDR outside the LAN")
        for other in nodes[:i]:
            if node.pod_cidr.overlaps(other.pod_cidr):
                raise where.error(f"{node.pod_cidr} overlaps {other.name}'s pod CIDR {other.pod_cidr}",
                                  "give each node its own pod CIDR")
