"""kube-proxy for a node (or a few, in a large lab: lab.agents.groups): loads the node's service
rules, serves the health check node ports of its ETP=Local LoadBalancer services and, in the 1.18
profile, holds its NodePort sockets.

In iptables mode it writes its rules with one ``iptables-restore --noflush`` per sync; in
nftables mode (``kubeProxy: {mode: nftables}``) it loads the ``ip kube-proxy`` table with one
``nft -f -`` transaction per sync and touches no iptables chain. Like kube-proxy v1.18 (and
unlike releases since v1.24) the 1.18 profile keeps a listening socket on every TCP/UDP NodePort
(so nothing else on the node can take the port, and ``netstat -tlnp`` shows ``kube-proxy``
there). Like every kube-proxy it answers HTTP on each ``healthCheckNodePort``
(kube-proxy's service health server): 200 while the node has a ready endpoint of the
service, else 503, so a load balancer only sends to nodes that can serve locally. SIGHUP re-reads
the cluster state and re-syncs (rules, sockets, health answers, stale UDP conntrack entries).
"""

import os
import shutil
import signal
import socket
import sys
import threading

from lab.agents import registry
from lab.agents.protocol import acknowledge, parse_args
from lab.cluster import codec
from lab.errors import CommandFailed, InternalError
from lab.kernel import commands
from lab.kernel.netns import listen_in
from lab.kernel.processes import report_ready
from lab.proxy import modes
from lab.proxy.health import service_health
from lab.proxy.options import PROFILES

_SIGNALS = {signal.SIGHUP, signal.SIGTERM, signal.SIGINT}


class ServiceHealthServer:
    """One HTTP listener per health check node port, each served from its own daemon thread.

    ``sync`` swaps in the new answers as a whole (handler threads read them without a lock),
    closes the listeners of ports no longer wanted and opens the new ones.
    """

    def __init__(self):
        self.answers = {}  # port -> HealthAnswer
        self.servers = {}  # port -> ThreadingHTTPServer

    def sync(self, answers, netns_name):
        for port in sorted(set(self.servers) - set(answers)):
            self._close(self.servers.pop(port))
        self.answers = dict(answers)
        for port in sorted(set(answers) - set(self.servers)):
            try:
                self.servers[port] = self._open(netns_name, port)
            except OSError as exc:  # kube-proxy logs the event and carries on without this port
                print(f"cannot open health check node port {port}: {exc}", flush=True)

    def close(self):
        for port in list(self.servers):
            self._close(self.servers.pop(port))

    def _open(self, netns_name, port):
        import http.server  # 20 ms of imports, for nodes that serve a health check port only

        from lab.agents.healthhandler import HealthHandler
        sock = listen_in(netns_name, port)
        sock.setblocking(True)
        server = http.server.ThreadingHTTPServer(sock.getsockname(), HealthHandler, bind_and_activate=False)
        server.socket.close()  # the one made by the constructor: serve the namespace's socket instead
        server.socket, server.health_port = sock, port
        server.answers = lambda: self.answers
        thread = threading.Thread(target=server.serve_forever, name=f"healthcheck-{port}", daemon=True)
        # the thread (and the handler threads it starts) inherit a mask without our signals, so
        # SIGHUP and SIGTERM always reach the main thread, which waits in signal.pause()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            thread.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return server

    @staticmethod
    def _close(server):
        server.shutdown()
        server.server_close()


# the agent -------------------------------------------------------------------------------------

class NodeProxy:
    """kube-proxy's work on one node: its rules, NodePort sockets, health check ports, conntrack."""

    def __init__(self, node, netns=None, fresh=False):
        self.node = node
        self.fresh = fresh  # the namespace has no rules yet: the first restore may replace tables
        self.netns = netns  # where its tools run: None for the namespace this process is in
        self.sockets = {}  # (port, protocol) -> socket
        self.udp_backends = set()  # (cluster IP, endpoint IP) pairs of UDP services
        self.health = ServiceHealthServer()
        self.applied = None  # what the last sync loaded, for the next one

    def sync(self, cluster):
        node = cluster.node(self.node)
        self.sync_rules(cluster)
        self.hold_node_ports(cluster, node.netns, PROFILES[cluster.kube_proxy.profile])
        self.health.sync(service_health(cluster, self.node), node.netns)
        self.clear_stale_udp(cluster)

    def sync_rules(self, cluster):
        """One load of the mode's sync; if it fails after the first, the mode's full resync."""
        mode = modes.of(cluster)
        first = self.applied is None
        change = mode.sync(cluster, self.node, self.applied)
        try:
            commands.run(mode.replace if first and self.fresh else mode.load, self.netns, input=change.text)
        except CommandFailed as exc:
            change = None if first else mode.resync(cluster, self.node)
            if change is None:
                raise
            print(f"{mode.name} sync failed on {self.node}, loading everything again: {exc}", flush=True)
            commands.run(mode.load, self.netns, input=change.text)
        self.applied = change.applied

    def hold_node_ports(self, cluster, netns_name, profile):
        """The "port opener": kube-proxy kept a socket on every NodePort until v1.24 ("Kube-proxy
        will no longer hold service node ports open on the node", also in 1.22 and 1.21 patch
        releases), so only the 1.18 profile holds them."""
        wanted = set()
        if profile.legacy_layout:
            wanted = {(p.node_port, p.protocol) for s in cluster.services for p in s.ports
                      if p.node_port and p.protocol in ("TCP", "UDP") and s.cluster_ip not in (None, "None")}
        for key in set(self.sockets) - wanted:
            self.sockets.pop(key).close()
        for port, proto in sorted(wanted - set(self.sockets)):
            kind = socket.SOCK_STREAM if proto == "TCP" else socket.SOCK_DGRAM
            self.sockets[(port, proto)] = listen_in(netns_name, port, kind)

    def clear_stale_udp(self, cluster):
        """UDP has no connections to end: conntrack entries still DNAT to a removed endpoint,
        so kube-proxy deletes them (``conntrack -D --orig-dst CIP --dst-nat EP -p udp``)."""
        backends = {(s.cluster_ip, str(e.ip)) for s in cluster.services if s.cluster_ip not in (None, "None")
                    for p in s.ports if p.protocol == "UDP" for e in cluster.endpoints_for(s, p)}
        if shutil.which("conntrack"):
            for cluster_ip, endpoint in sorted(self.udp_backends - backends):
                commands.run(["conntrack", "-D", "--orig-dst", cluster_ip, "--dst-nat", endpoint, "-p", "udp"],
                             self.netns, check=False)
        self.udp_backends = backends


class KubeProxy:
    """The kube-proxies of one or more nodes (see lab.agents.groups), synced from one cluster state."""

    def __init__(self, cluster_file, nodes, key, fresh=False):
        self.cluster_file, self.key, self.node_names, self.fresh = cluster_file, key, nodes, fresh
        self.nodes = None

    def _node_proxies(self, cluster):
        """The process starts in the first node's namespace; tools for the others run through
        nsenter (not setns in a preexec function: this process has threads, where that is unsafe)."""
        return [NodeProxy(name, None if i == 0 else cluster.node(name).netns, self.fresh)
                for i, name in enumerate(self.node_names)]

    def load(self):
        with open(self.cluster_file) as f:
            return codec.loads(f.read())

    def sync(self):
        cluster = self.load()
        if self.nodes is None:
            self.nodes = self._node_proxies(cluster)
        for node in self.nodes:
            node.sync(cluster)
        acknowledge(os.path.dirname(self.cluster_file), registry.KUBE_PROXY.ack_name(self.key))


def main():
    args = parse_args("kube-proxy for lab nodes", [("--node", {"required": True, "action": "append"}),
                                                    ("--cluster", {"required": True}),
                                                    ("--fresh", {"action": "store_true",
                                                                 "help": "the nodes' namespaces have no rules yet"})])
    proxy = KubeProxy(args.cluster, args.node, args.key or args.node[0], args.fresh)
    resync = []  # set before the first sync, so a SIGHUP sent meanwhile is not lost (nor fatal)
    signal.signal(signal.SIGHUP, lambda *_: resync.append(True))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        proxy.sync()
    except (OSError, InternalError) as exc:
        report_ready(args.ready_fd, str(exc))
        return 1
    report_ready(args.ready_fd)
    while True:
        while resync:
            resync.clear()
            try:
                proxy.sync()
                print("resynced rules", flush=True)
            except (OSError, InternalError) as exc:
                print(f"sync failed: {exc}", flush=True)
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
