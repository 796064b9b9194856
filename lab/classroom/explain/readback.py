"""What ``lab explain`` reads from the kernel: a node's rules as they are now, a pod's links,
routes and resolver. Read-only; every command runs inside the lab's own namespaces."""

import json
import os

from lab.errors import LabError
from lab.kernel import commands, etcdirs, netns
from lab.proxy import modes

TIMEOUT = 10


def _ip_json(netns_name, *args):
    result = commands.run(["ip", "-j", *args], netns_name, timeout=TIMEOUT, check=False)
    if result.returncode != 0:
        return None
    try:
        return json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        return None


def _need_netns(name, lab):
    if name not in netns.existing():
        raise LabError(f"namespace {name} of lab {lab!r} is missing (see: python3 -m lab status)")


def local_addresses(netns_name):
    """The node's own IPv4 addresses (what ``-m addrtype --dst-type LOCAL`` matches), as CIDR/32."""
    out = ["127.0.0.0/8"]
    for link in _ip_json(netns_name, "-4", "addr", "show") or []:
        out += [f"{a['local']}/32" for a in link.get("addr_info", []) if a.get("local")]
    return out


def node_rules(cluster, node):
    """(Ruleset, local addresses, where the rules came from) for one node, read now."""
    _need_netns(node.netns, cluster.lab)
    mode = modes.of(cluster)
    result = commands.run(mode.readback, node.netns, timeout=TIMEOUT, check=not mode.readback_fails_when_empty)
    text = result.stdout if result.returncode == 0 else ""
    return mode.parse(text), local_addresses(node.netns), f"ip netns exec {node.netns} {' '.join(mode.readback)}"


def pod_facts(cluster, pod):
    """The pod's interface, its veth peer in the node (bridge, hairpin), routes and resolver."""
    ns = pod.exec_netns  # a hostNetwork pod's is its node's: no veth, the node's interfaces and files
    _need_netns(ns, cluster.lab)
    node = cluster.node(pod.node)
    facts = {"interface": None, "peer": None, "routes": [], "resolv_path": None, "resolv_conf": None}
    links = _ip_json(ns, "-d", "addr", "show") or []
    eth = next((l for l in links if l.get("ifname") == "eth0"), None) or \
        next((l for l in links if l.get("ifname") != "lo"), None)
    if eth:
        facts["interface"] = {
            "name": eth.get("ifname"), "mac": eth.get("address"), "state": eth.get("operstate"),
            "addresses": [f"{a['local']}/{a['prefixlen']}" for a in eth.get("addr_info", [])
                          if a.get("family") == "inet"],
            "peer_ifindex": eth.get("link_index"), "kind": (eth.get("linkinfo") or {}).get("info_kind")}
        if pod.host_network:
            facts["peer_error"] = "hostNetwork: the pod has no veth, it uses its node's interfaces"
        else:
            facts["peer"], facts["peer_error"] = _peer(node.netns if node else None, eth.get("link_index"))
    routes = commands.run(["ip", "route", "show"], ns, timeout=TIMEOUT, check=False)
    facts["routes"] = [line.rstrip() for line in routes.stdout.strip().splitlines()]
    path = os.path.join(etcdirs.directory(ns), "resolv.conf")
    facts["resolv_path"] = path
    try:
        with open(path) as f:
            facts["resolv_conf"] = f.read()
    except OSError:
        facts["resolv_conf"] = None
    return facts


def _peer(node_netns, ifindex):
    if not node_netns or ifindex is None:
        return None, "the pod's interface is not a veth"
    if node_netns not in netns.existing():
        return None, f"the node's namespace {node_netns} is missing"
    for link in _ip_json(node_netns, "-d", "link", "show") or []:
        if link.get("ifindex") == ifindex:
            slave = (link.get("linkinfo") or {}).get("info_slave_data") or {}
            return {"name": link.get("ifname"), "ifindex": ifindex, "master": link.get("master"),
                    "state": link.get("operstate"), "hairpin": slave.get("hairpin"),
                    "mac": link.get("address")}, None
    return None, f"no interface with index {ifindex} in {node_netns}"
