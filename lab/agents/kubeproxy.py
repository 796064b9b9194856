"""kube-proxy for a node (or a few, in a large lab: lab.agentgroups): loads the node's service
rules, serves the health check node ports of its ETP=Local LoadBalancer services and, in the 1.18
profile, holds its NodePort sockets.

In iptables mode it writes its rules with one ``iptables-restore --noflush`` per sync; in
nftables mode (``kubeProxy: {mode: nftables}``) it loads the ``ip kube-proxy`` table with one
``nft -f -`` transaction per sync and touches no iptables chain. Like kube-proxy v1.18 (and
unlike releases since v1.24) the 1.18 profile keeps a listening socket on every TCP/UDP NodePort
(so nothing else on the node can take the port, and ``netstat -tlnp`` shows ``kube-proxy``
there). Like every kube-proxy it answers HTTP on each ``healthCheckNodePort``
(``pkg/proxy/healthcheck/service_health.go``): 200 while the node has a ready endpoint of the
service, else 503, so a load balancer only sends to nodes that can serve locally. SIGHUP re-reads
the cluster state and re-syncs (rules, sockets, health answers, stale UDP conntrack entries).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass

from lab import codec, netns
from lab.agents.common import acknowledge, listen_in, parse_args
from lab.processes import report_ready
from lab.proxy import iptables, nftables, sync

RESTORE = ["iptables-restore", "-w", "5", "--noflush"]
# kube-proxy always restores with --noflush. On a node namespace ``lab up`` has just made, its
# tables are empty, so replacing them gives the very same rules; iptables-nft 1.8.9 spends about
# four times the CPU on --noflush with thousands of chains, and a 50-node lab restores 50 times.
REPLACE = ["iptables-restore", "-w", "5"]
NFT = ["nft", "-f", "-"]


# service health ------------------------------------------------------------------------------

@dataclass(frozen=True)
class HealthAnswer:
    status: int
    headers: tuple  # (name, value) pairs besides Content-Length and Date
    body: bytes


def local_ready_endpoints(state, svc, node_name):
    """``LocalReadyEndpoints``: the service's ready endpoints on this node, over all its ports,
    counted once per IP (a pod serving two ports of the service is one endpoint)."""
    return len({e.ip for p in svc.ports for e in state.endpoints_for(svc, p) if e.node == node_name and e.ready})


def health_answer(namespace, name, local_endpoints, legacy=False):
    """``hcHandler.ServeHTTP``. Recent releases (v1.28+) add the nosniff and endpoint-weight headers
    and ``serviceProxyHealthy`` (always true here: the rules are loaded before the port opens);
    v1.18 sent Content-Type only and a two-field body. The body is Go's tab-indented text, no newline."""
    fields = ['\t"service": {\n'
              f'\t\t"namespace": {json.dumps(namespace)},\n'
              f'\t\t"name": {json.dumps(name)}\n'
              '\t}',
              f'\t"localEndpoints": {local_endpoints}']
    headers = [("Content-Type", "application/json")]
    if not legacy:
        fields.append('\t"serviceProxyHealthy": true')
        headers += [("X-Content-Type-Options", "nosniff"), ("X-Load-Balancing-Endpoint-Weight", str(local_endpoints))]
    body = "{\n" + ",\n".join(fields) + "\n}"
    return HealthAnswer(200 if local_endpoints else 503, tuple(headers), body.encode())


def service_health(state, node_name):
    """What this node's kube-proxy answers on each health check node port: {port: HealthAnswer}."""
    legacy = iptables.PROFILES[state.kube_proxy.profile].legacy_layout
    out = {}
    for svc in sorted(state.services, key=lambda s: (s.namespace, s.name)):
        port = iptables.health_check_node_port(svc)
        if port and iptables.is_proxied(svc):
            out[port] = health_answer(svc.namespace, svc.name, local_ready_endpoints(state, svc, node_name), legacy)
    return out


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

    def __init__(self, node, enter=(), fresh=False):
        self.node = node
        self.fresh = fresh  # the namespace has no rules yet: the first restore may replace tables
        self.enter = list(enter)  # the command prefix that runs a tool in the node's namespace
        self.sockets = {}  # (port, protocol) -> socket
        self.bootstrapped = False
        self.udp_backends = set()  # (cluster IP, endpoint IP) pairs of UDP services
        self.health = ServiceHealthServer()
        self.applied = None  # the full rules of the last sync

    def sync(self, state):
        node = state.node(self.node)
        profile = iptables.PROFILES[state.kube_proxy.profile]
        if state.kube_proxy.mode == "nftables":
            self.sync_nftables(state)
        else:
            self.sync_iptables(state, profile)
        self.hold_node_ports(state, node.netns, profile)
        self.health.sync(service_health(state, self.node), node.netns)
        self.clear_stale_udp(state)

    def sync_iptables(self, state, profile):
        rules = iptables.render(state, self.node)
        text = sync.restore_input(rules, self.applied, partial=not profile.legacy_layout)
        if not self.bootstrapped:  # the first sync and the chains it needs, in one restore
            text = sync.merged(iptables.render_bootstrap(
                profile, iptables.options_for(state, self.node).localhost_node_ports), text)
        restore(text, self.enter, replace=self.fresh and not self.bootstrapped)
        self.bootstrapped = True
        self.applied = rules

    def sync_nftables(self, state):
        """One transaction: the table from scratch the first time (whatever a previous kube-proxy
        left), then kube-proxy's flush-and-refill syncs, which keep the affinity sets' entries. If
        one fails, the table is recreated from scratch."""
        table = nftables.definition(state, self.node)
        try:
            nft(nftables.transaction(table, self.applied), self.enter)
        except RuntimeError as exc:
            if self.applied is None:
                raise
            print(f"nftables sync failed on {self.node}, recreating the table: {exc}", flush=True)
            nft(nftables.transaction(table), self.enter)
        self.applied = table

    def hold_node_ports(self, state, netns_name, profile):
        """The "port opener": kube-proxy kept a socket on every NodePort until v1.24 removed it
        (kubernetes/kubernetes#108496, CHANGELOG-1.24: "Kube-proxy will no longer hold service
        node ports open on the node"; cherry-picked to 1.22 and 1.21 patch releases, #108888 and
        #108896), so only the 1.18 profile holds them."""
        wanted = set()
        if profile.legacy_layout:
            wanted = {(p.node_port, p.protocol) for s in state.services for p in s.ports
                      if p.node_port and p.protocol in ("TCP", "UDP") and s.cluster_ip not in (None, "None")}
        for key in set(self.sockets) - wanted:
            self.sockets.pop(key).close()
        for port, proto in sorted(wanted - set(self.sockets)):
            kind = socket.SOCK_STREAM if proto == "TCP" else socket.SOCK_DGRAM
            self.sockets[(port, proto)] = listen_in(netns_name, port, kind)

    def clear_stale_udp(self, state):
        """UDP has no connections to end: conntrack entries still DNAT to a removed endpoint,
        so kube-proxy deletes them (``conntrack -D --orig-dst CIP --dst-nat EP -p udp``)."""
        backends = {(s.cluster_ip, str(e.ip)) for s in state.services if s.cluster_ip not in (None, "None")
                    for p in s.ports if p.protocol == "UDP" for e in state.endpoints_for(s, p)}
        if shutil.which("conntrack"):
            for cluster_ip, endpoint in sorted(self.udp_backends - backends):
                subprocess.run(self.enter + ["conntrack", "-D", "--orig-dst", cluster_ip, "--dst-nat", endpoint,
                                             "-p", "udp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.udp_backends = backends


class KubeProxy:
    """The kube-proxies of one or more nodes (see lab.agentgroups), synced from one cluster state."""

    def __init__(self, cluster_file, nodes, key, fresh=False):
        self.cluster_file, self.key, self.node_names, self.fresh = cluster_file, key, nodes, fresh
        self.nodes = None

    def _node_proxies(self, state):
        """The process starts in the first node's namespace; tools for the others run through
        nsenter (not setns in a preexec function: this process has threads, where that is unsafe)."""
        return [NodeProxy(name, [] if i == 0 else netns.enter_argv(state.node(name).netns), self.fresh)
                for i, name in enumerate(self.node_names)]

    def load(self):
        with open(self.cluster_file) as f:
            return codec.loads(f.read())

    def sync(self):
        state = self.load()
        if self.nodes is None:
            self.nodes = self._node_proxies(state)
        for node in self.nodes:
            node.sync(state)
        acknowledge(os.path.dirname(self.cluster_file), f"kube-proxy-{self.key}")


def restore(text, enter=(), replace=False):
    result = subprocess.run(list(enter) + (REPLACE if replace else RESTORE), input=text, text=True,
                            capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"iptables-restore failed: {result.stderr.strip()}")


def nft(text, enter=()):
    result = subprocess.run(list(enter) + NFT, input=text, text=True, capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"nft -f failed: {result.stderr.strip()}")


def main():
    args = parse_args("kube-proxy for lab nodes", [("--node", {"required": True, "action": "append"}),
                                                    ("--key", {"help": "names the acknowledgement (default: the node)"}),
                                                    ("--cluster", {"required": True}),
                                                    ("--fresh", {"action": "store_true",
                                                                 "help": "the nodes' namespaces have no rules yet"})])
    proxy = KubeProxy(args.cluster, args.node, args.key or args.node[0], args.fresh)
    resync = []  # set before the first sync, so a SIGHUP sent meanwhile is not lost (nor fatal)
    signal.signal(signal.SIGHUP, lambda *_: resync.append(True))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        proxy.sync()
    except (OSError, RuntimeError) as exc:
        report_ready(args.ready_fd, str(exc))
        return 1
    report_ready(args.ready_fd)
    while True:
        while resync:
            resync.clear()
            try:
                proxy.sync()
                print("resynced rules", flush=True)
            except (OSError, RuntimeError) as exc:
                print(f"sync failed: {exc}", flush=True)
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
