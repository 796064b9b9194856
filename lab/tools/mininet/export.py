"""A lab as a Mininet custom topology file, or an IPMininet ``IPTopo`` script. Pure: state in, text out.

The file carries everything the network needs and nothing of svclab: per node its LAN address,
its pod bridge ``cni0`` with the pods' veths as hairpin ports, the routes to the other nodes'
pod CIDRs, the sysctls, and the exact restore inputs svclab loads (the pod network's rules, then
kube-proxy's); per pod its address, its default route via ``cni0`` and a small HTTP server
answering ``You've hit <pod>``. The front load balancer (nginx) and cluster DNS answers are not
exported; DNS pods are there, answering pings only.
"""

import dataclasses
import json

from lab.errors import LabError
from lab.net import netfilter, wiring
from lab.proxy import modes

FORMATS = ("mininet", "ipmininet")
POD_SERVER_APPS = ("kubia", "echo")  # apps the exported pods' server can stand in for


def export_data(cluster):
    """What the exported file builds, as plain JSON-able data."""
    prefix = cluster.lan_cidr.prefixlen
    names = pod_names(cluster)
    nodes = []
    for node in cluster.nodes:
        pods = cluster.pods_on(node.name)
        nodes.append({
            "name": node.name, "ip": f"{node.ip}/{prefix}",
            "podGateway": f"{node.pod_gateway}/{node.pod_cidr.prefixlen}",
            "podPorts": [p.host_veth for p in pods],
            "routes": [[str(o.pod_cidr), str(o.ip)] for o in cluster.nodes if o.name != node.name],
            "sysctls": [[k, v] for k, v in wiring.node_sysctls(cluster.kube_proxy.mode)],
            "rules": node_rules(cluster, node.name),
        })
    return {
        "lab": cluster.lab,
        "lan": {"gateway": f"{cluster.gateway}/{prefix}"},
        "nodes": nodes,
        "hosts": [{"name": h.name, "ip": f"{h.ip}/{prefix}"} for h in cluster.hosts],
        "pods": [{"name": names[(p.namespace, p.name)], "pod": p.name,
                  "namespace": p.namespace, "node": p.node,
                  "ip": f"{p.ip}/{cluster.node(p.node).pod_cidr.prefixlen}", "gateway": str(cluster.node(p.node).pod_gateway),
                  "veth": p.host_veth, "app": p.app if p.app in POD_SERVER_APPS else "",
                  "ports": list(p.serving_ports)} for p in cluster.pods],
    }


def node_rules(cluster, node_name):
    """[(argv, stdin)] a node loads, in order, as svclab loads them at ``up``."""
    without_lb = dataclasses.replace(cluster, lb=None)  # the load balancer's return path is not exported
    rules = [(list(modes.IPTABLES.load), netfilter.node_rules(without_lb))]
    rules += modes.of(cluster).initial_loads(cluster, node_name)
    return [{"argv": list(argv), "input": text} for argv, text in rules]


def pod_names(cluster):
    """Mininet node names for pods: the pod's name, with its namespace where two pods share a name."""
    counts = {}
    for p in cluster.pods:
        counts[p.name] = counts.get(p.name, 0) + 1
    machines = {n.name for n in cluster.nodes} | {h.name for h in cluster.hosts} | {"lan"}
    out = {}
    for p in cluster.pods:
        name = p.name if counts[p.name] == 1 and p.name not in machines else f"{p.namespace}.{p.name}"
        out[(p.namespace, p.name)] = name
    return out


def merged_restore(rules):
    """The node's iptables inputs as one ``iptables-restore`` (no --noflush) input per table, in the
    same order: what IPMininet's iptables daemon loads. Chain declarations go first in each table."""
    tables, order = {}, []
    for rule in rules:
        argv, text = rule["argv"], rule["input"]
        if argv[0] != "iptables-restore":
            continue
        table = None
        for line in text.splitlines():
            if line.startswith("*"):
                table = line[1:]
                if table not in tables:
                    tables[table] = ([], [])
                    order.append(table)
            elif line.startswith(":"):
                if line not in tables[table][0]:
                    tables[table][0].append(line)
            elif line and line != "COMMIT" and not line.startswith("#"):
                tables[table][1].append(line)
    return [(t, tables[t][0] + tables[t][1]) for t in order]


# rendering ---------------------------------------------------------------------------------

def render(cluster, fmt, source="a scenario"):
    if fmt == "mininet":
        return mininet_file(cluster, source)
    if fmt == "ipmininet":
        return ipmininet_file(cluster, source)
    raise LabError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")


def _header(cluster, source, how):
    node = cluster.nodes[1] if len(cluster.nodes) > 1 else cluster.nodes[0]
    port = next((p.node_port for s in cluster.services for p in s.ports if p.node_port), None)
    client = cluster.hosts[0].name if cluster.hosts else None
    tries = [f"{client} curl -s {node.ip}:{port}"] if client and port else []
    tries += [f"{node.name} iptables-save -t nat", "pingall"]
    return (f'"""svclab lab {cluster.lab!r} (from {source}) for {how}\n\nThen try:\n\n'
            + "".join(f"    mininet> {t}\n" for t in tries)
            + '\nGenerated by `lab export`: regenerate it rather than edit it.\n"""\n')


def _literal(obj, indent=0):
    """Python source for plain data: one key per line, short lists inline, multi-line text (the
    restore inputs) as triple-quoted strings, so the rules read as iptables-save prints them."""
    pad = " " * (indent + 4)
    if isinstance(obj, dict):
        items = [f"{pad}{json.dumps(k)}: {_literal(v, indent + 4)}," for k, v in obj.items()]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, list):
        if all(_scalar(v) or (isinstance(v, list) and all(_scalar(x) for x in v)) for v in obj):
            return json.dumps(obj)
        return "[\n" + "\n".join(f"{pad}{_literal(v, indent + 4)}," for v in obj) + "\n" + " " * indent + "]"
    if isinstance(obj, str) and "\n" in obj:
        if '"""' in obj or "\\" in obj or obj.endswith('"'):
            return repr(obj)
        return '"""\\\n' + obj + '"""'
    return json.dumps(obj)


def _scalar(value):
    return not isinstance(value, (dict, list)) and not (isinstance(value, str) and "\n" in value)


def mininet_file(cluster, source="a scenario"):
    how = ("Mininet. Run it with:\n\n    sudo mn --custom FILE --topo svclab --switch lxbr --controller none\n\n"
           "Nodes are routers (hosts that forward), pods are hosts behind their node's cni0 bridge,\n"
           "the LAN is a Linux bridge in a namespace of its own holding the gateway address.")
    return _header(cluster, source, how) + "\nSVCLAB = " + _literal(export_data(cluster)) + "\n" + MININET_RUNTIME


def ipmininet_file(cluster, source="a scenario"):
    if cluster.kube_proxy.mode != "iptables":
        raise LabError("the IPMininet export loads kube-proxy's rules through IPMininet's iptables daemon: "
                       "use a scenario in iptables mode (kubeProxy: {mode: iptables})")
    data = export_data(cluster)
    for node in data["nodes"]:
        node["iptables"] = [{"table": table, "rules": "\n".join(lines) + "\n"}
                            for table, lines in merged_restore(node.pop("rules"))]
    how = ("IPMininet. Run it with:\n\n    sudo python3 FILE\n\n"
           "Nodes are plain IPMininet routers (no routing daemons: static routes; kube-proxy's rules\n"
           "through IPMininet's iptables daemon), pods are hosts behind their node's cni0 bridge.")
    return _header(cluster, source, how) + "\nSVCLAB = " + _literal(data) + "\n" + IPMININET_RUNTIME


# what the exported files run ---------------------------------------------------------------

POD_SERVER = r'''
import http.server, socketserver, sys, threading
name, app, ports = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3:]]

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = "You've hit %s\n" % name
        if app == "echo":
            body += "client address %s:%d\n" % self.client_address[:2]
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingTCPServer):
    daemon_threads = allow_reuse_address = True

servers = [Server(("0.0.0.0", port), Handler) for port in ports]
for server in servers:
    threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()  # returns when Mininet (which holds the other end) has gone: then so do we
'''

_COMMON_RUNTIME = '''
import cmd as _cmd
import subprocess
import sys

from mininet.cli import CLI as _MininetCLI
from mininet.log import error
from mininet.node import Switch
from mininet.nodelib import LinuxBridge

SVCLAB_POD_SERVER = ''' + repr(POD_SERVER) + '''


def svclab_run(node, command):
    """A shell command in the node; its output, if any, is an error worth showing."""
    out = node.cmd(command).strip()
    if out:
        error("svclab: %s: %s: %s\\n" % (node.name, command, out))


def svclab_load(node, argv, text):
    """Rules into the node, as svclab loads them: iptables-restore --noflush, or nft -f."""
    proc = node.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.communicate(text.encode())[0].decode().strip()
    if proc.returncode != 0:
        error("svclab: %s: %s failed: %s\\n" % (node.name, " ".join(argv), out))


def svclab_node_setup(node, info):
    """A Kubernetes node: IP forwarding, the cni0 bridge with the pods' veths (hairpin on),
    routes to the other nodes' pods (flannel host-gw style), then the node's rules."""
    for key, value in [["net.ipv6.conf.all.disable_ipv6", 1]] + info["sysctls"]:
        svclab_run(node, "sysctl -qw %s=%s" % (key, value))
    svclab_run(node, "ip link add cni0 type bridge && ip addr add %s dev cni0 && ip link set cni0 up"
               % info["podGateway"])
    for port in info["podPorts"]:
        svclab_run(node, "ip link set dev %s master cni0 && ip link set dev %s type bridge_slave hairpin on"
                   " && ip link set dev %s up" % (port, port, port))
    for cidr, via in info["routes"]:
        svclab_run(node, "ip route add %s via %s" % (cidr, via))


def svclab_start_server(node, info):
    """The pod's HTTP server (You've hit <pod>), in the pod's namespace; returns once it listens."""
    if not info["app"]:
        return None
    server = node.popen([sys.executable, "-c", SVCLAB_POD_SERVER, info["pod"], info["app"]]
                        + [str(p) for p in info["ports"]], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL)
    if not server.stdout.readline().startswith(b"ready"):
        error("svclab: %s: the pod's HTTP server did not start\\n" % node.name)
    return server


def svclab_stop_server(server):
    if server is not None and server.poll() is None:
        server.kill()
        server.wait()


class SvclabCLI(_MininetCLI):
    """Mininet's CLI, with node names that have dashes and dots (pod names), and pingall
    waiting 1 s per ping unless told otherwise (pod IPs do not answer the client: they are
    not routed outside the cluster)."""

    identchars = _cmd.IDENTCHARS + "-."

    def do_pingall(self, line):
        "Ping between all hosts (timeout 1 s unless given)."
        self.mn.pingAll(line or "1")


CLI = SvclabCLI  # mn uses it for --custom files


class SvclabLan(LinuxBridge):
    """The LAN: a Linux bridge (made with ip, no brctl needed) in a namespace of its own, holding
    the gateway address, as svclab's <lab>-lan namespace does. Nothing lands in the root namespace."""

    def __init__(self, name, gateway=None, **params):
        self.gateway = gateway
        LinuxBridge.__init__(self, name, **params)

    @classmethod
    def setup(cls):
        pass

    def connected(self):
        return True

    def start(self, _controllers):
        svclab_run(self, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1")
        svclab_run(self, "ip link add br0 type bridge")
        for intf in self.intfList():
            if intf.name != "lo":
                svclab_run(self, "ip link set dev %s master br0 && ip link set dev %s up" % (intf, intf))
        svclab_run(self, "ip addr add %s dev br0 && ip link set br0 up" % self.gateway)

    def stop(self, deleteIntfs=True):
        self.cmd("ip link del br0")
        Switch.stop(self, deleteIntfs)


def cleanup():
    """mn calls this after an error or Ctrl-C: Mininet's `mn -c`, which kills processes by name
    host-wide (every ping, every mnexec) and deletes links by pattern. This network goes away
    with its nodes' shells (the pods' servers follow them), so svclab skips it."""
    error("svclab: skipping Mininet's host-wide cleanup (mn -c); this network's nodes end with mn\\n")
'''

MININET_RUNTIME = _COMMON_RUNTIME + '''
from mininet.net import Mininet
from mininet.node import Host
from mininet.topo import Topo

# Mininet raises the host's limits and root-namespace sysctls (buffer sizes, ARP table, ptys)
# when it first starts; a lab this small needs none of that, and svclab leaves the host alone.
Mininet.inited = True


class SvclabNode(Host):
    """A Kubernetes node: a router between the LAN (eth0) and its pods, with kube-proxy's rules."""

    def config(self, svclab=None, **params):
        result = Host.config(self, **params)
        svclab_node_setup(self, svclab)
        for rule in svclab["rules"]:
            svclab_load(self, rule["argv"], rule["input"])
        return result


class SvclabHost(Host):
    """A machine outside the cluster on the LAN (the client)."""

    def config(self, **params):
        result = Host.config(self, **params)
        svclab_run(self, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1")
        return result


class SvclabPod(Host):
    """A pod: eth0 on its node's cni0, a default route via cni0, an HTTP server."""

    server = None

    def config(self, svclab=None, **params):
        result = Host.config(self, **params)
        svclab_run(self, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1")
        self.server = svclab_start_server(self, svclab)
        return result

    def terminate(self):
        svclab_stop_server(self.server)
        Host.terminate(self)


class SvclabTopo(Topo):
    """The lab's machines and pods; the LAN link of each node comes first, so it is the node's eth0."""

    def build(self, data=None):
        data = data or SVCLAB
        lan = self.addSwitch("lan", cls=SvclabLan, dpid="1", inNamespace=True, gateway=data["lan"]["gateway"])
        gateway = data["lan"]["gateway"].split("/")[0]
        for node in data["nodes"]:
            self.addHost(node["name"], cls=SvclabNode, ip=node["ip"], defaultRoute="via " + gateway, svclab=node)
            self.addLink(node["name"], lan, intfName1="eth0", intfName2=node["name"])
        for host in data["hosts"]:
            self.addHost(host["name"], cls=SvclabHost, ip=host["ip"], defaultRoute="via " + gateway)
            self.addLink(host["name"], lan, intfName1="eth0", intfName2=host["name"])
        for pod in data["pods"]:
            self.addHost(pod["name"], cls=SvclabPod, ip=pod["ip"], defaultRoute="via " + pod["gateway"], svclab=pod)
            self.addLink(pod["name"], pod["node"], intfName1="eth0", intfName2=pod["veth"])


topos = {"svclab": SvclabTopo}
'''

IPMININET_RUNTIME = _COMMON_RUNTIME + '''
import shutil
import tempfile
import types

import mininet.clean
from mininet.net import Mininet

# IPMininet's sshd module makes an SSH key pair in /tmp as it is imported (and cannot be imported
# where ssh-keygen is missing); no sshd runs here, so a stand-in takes its place.
_sshd = types.ModuleType("ipmininet.router.config.sshd")
_sshd.SSHd = type("SSHd", (), {"NAME": "sshd", "KILL_PATTERNS": ()})
sys.modules.setdefault("ipmininet.router.config.sshd", _sshd)

from ipmininet.cli import IPCLI
from ipmininet.host import IPHost
from ipmininet.host.config import HostConfig
from ipmininet.ipnet import IPNet
from ipmininet.iptopo import IPTopo
from ipmininet.router import Router
from ipmininet.router.config import IPTables, RouterConfig, Rule

Mininet.inited = True  # no host-wide limits and sysctls raised (see Mininet.init)
# IPMininet runs Mininet's host-wide cleanup (mn -c) when a daemon's configuration check fails or
# two nodes share an IPv6 address; this network ends with its nodes instead.
mininet.clean.cleanup = cleanup


def _without_frr_dir(paths):
    # Each node gets a private /etc/hosts and /etc/resolv.conf (bind mounts in the node's own mount
    # namespace, from files in its working directory) and a tmpfs on /var/run/frr, which Mininet
    # would first create on the host with mkdir -p. No FRR runs here: that one is left out.
    return [p for p in paths if p != "/var/run/frr"]


class SvclabRouterConfig(RouterConfig):
    def add_private_fs_path(self, loc=()):
        RouterConfig.add_private_fs_path(self, _without_frr_dir(loc))


class SvclabHostConfig(HostConfig):
    def add_private_fs_path(self, loc=()):
        HostConfig.add_private_fs_path(self, _without_frr_dir(loc))


class SvclabRouter(Router):
    """A Kubernetes node as a plain router: no routing daemon, static routes to the other nodes'
    pods, the cni0 bridge, and kube-proxy's rules loaded by IPMininet's iptables daemon."""

    def __init__(self, name, svclab=None, **params):
        self.svclab = svclab
        Router.__init__(self, name, **params)

    def start(self):
        Router.start(self)
        svclab_node_setup(self, self.svclab)
        svclab_run(self, "ip route replace default via %s" % SVCLAB["lan"]["gateway"].split("/")[0])


class SvclabHost(IPHost):
    """A machine outside the cluster on the LAN (the client)."""

    def start(self):
        IPHost.start(self)
        svclab_run(self, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1")


class SvclabPod(IPHost):
    """A pod: eth0 on its node's cni0, a default route via cni0, an HTTP server."""

    server = None

    def __init__(self, name, svclab=None, **params):
        self.svclab = svclab
        IPHost.__init__(self, name, **params)

    def start(self):
        IPHost.start(self)
        svclab_run(self, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1")
        self.server = svclab_start_server(self, self.svclab)

    def terminate(self):
        svclab_stop_server(self.server)
        IPHost.terminate(self)


class SvclabTopo(IPTopo):
    """The lab's machines and pods. workdir holds what IPMininet writes for its nodes (their
    hosts and resolv.conf files, the iptables daemon's input and log)."""

    def build(self, *args, workdir="/tmp", **kwargs):
        data = SVCLAB
        lan = self.addSwitch("lan", cls=SvclabLan, dpid="1", inNamespace=True, gateway=data["lan"]["gateway"])
        gateway = data["lan"]["gateway"].split("/")[0]
        for node in data["nodes"]:
            router = self.addRouter(node["name"], cls=SvclabRouter, config=SvclabRouterConfig, cwd=workdir,
                                    svclab=node)
            router.addDaemon(IPTables, rules=[Rule(line, table=t["table"]) for t in node["iptables"]
                                              for line in t["rules"].splitlines()])
            link = self.addLink(router, lan, intfName1="eth0", intfName2=node["name"])
            link[router].addParams(ip=node["ip"])
        for host in data["hosts"]:
            self.addHost(host["name"], cls=SvclabHost, config=SvclabHostConfig, cwd=workdir,
                         defaultRoute="via " + gateway)
            link = self.addLink(host["name"], lan, intfName1="eth0", intfName2=host["name"])
            link[host["name"]].addParams(ip=host["ip"])
        for pod in data["pods"]:
            self.addHost(pod["name"], cls=SvclabPod, config=SvclabHostConfig, cwd=workdir,
                         defaultRoute="via " + pod["gateway"], svclab=pod)
            link = self.addLink(pod["name"], pod["node"], intfName1="eth0", intfName2=pod["veth"])
            link[pod["name"]].addParams(ip=pod["ip"])
        super().build(*args, **kwargs)


class SvclabIPCLI(IPCLI):
    """IPMininet's CLI, with pod names and pingall as in SvclabCLI."""

    identchars = SvclabCLI.identchars
    do_pingall = SvclabCLI.do_pingall


class SvclabNet(IPNet):
    def stop(self):
        # IPNet ends the routers before Mininet deletes the links: each link's veth went with its
        # router's namespace, so deleting it first spares a warning per link
        for link in self.links:
            link.stop()
        self.links = []
        IPNet.stop(self)


def svclab_net(workdir):
    """The network, built, not started: nodes, pods and the LAN all in namespaces of their own."""
    return SvclabNet(topo=SvclabTopo(workdir=workdir), allocate_IPs=False, use_v6=False)


def main():
    workdir = tempfile.mkdtemp(prefix="svclab-ipmininet-")
    try:
        net = svclab_net(workdir)
        try:
            net.start()
            SvclabIPCLI(net)
        finally:
            net.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
'''
