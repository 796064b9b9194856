"""The machines of a lab and their wiring (nothing Kubernetes-specific)."""

import ipaddress
from dataclasses import dataclass

from lab.fields import DNS_LABEL, Field
from lab import yamlfiles

MAX_MACHINE_NAME = 15  # the machine's name is its port name on the LAN switch


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
class Topology:
    source: str
    lan_cidr: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    nodes: tuple
    hosts: tuple

    @property
    def machines(self):
        return self.nodes + self.hosts

    def machine(self, name):
        for m in self.machines:
            if m.name == name:
                return m
        return None


def load(path):
    return parse(Field(yamlfiles.load_single(path), path))


def parse(doc):
    doc.mapping(allowed={"lan", "nodes", "hosts"}, required=("lan", "nodes"))
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
    return Topology(str(doc.file), lan_cidr, gateway, tuple(nodes), tuple(hosts))


def _parse_machine(f, lan_cidr, taken_ips, names, is_node):
    allowed = {"name", "ip", "podCIDR"} if is_node else {"name", "ip"}
    f.mapping(allowed=allowed, required=tuple(sorted(allowed)))
    name_field = f.child("name")
    name = name_field.str(DNS_LABEL, "machine name", max_len=MAX_MACHINE_NAME)
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
