"""kube-proxy for one node: loads the node's iptables rules and holds its NodePort sockets.

Like kube-proxy v1.18 it keeps a listening socket on every TCP/UDP NodePort (so nothing else
on the node can take the port, and ``netstat -tlnp`` shows ``kube-proxy`` there), and writes
its rules with one ``iptables-restore --noflush``. SIGHUP re-reads the cluster state and
re-syncs.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys

from lab import codec
from lab.agents.common import acknowledge, listen_in, parse_args
from lab.processes import report_ready
from lab.proxy import iptables

RESTORE = ["iptables-restore", "-w", "5", "--noflush"]


class KubeProxy:
    def __init__(self, cluster_file, node):
        self.cluster_file, self.node = cluster_file, node
        self.sockets = {}  # (port, protocol) -> socket
        self.bootstrapped = False
        self.udp_backends = set()  # (cluster IP, endpoint IP) pairs of UDP services

    def load(self):
        with open(self.cluster_file) as f:
            return codec.loads(f.read())

    def sync(self):
        state = self.load()
        node = state.node(self.node)
        profile = iptables.PROFILES[state.kube_proxy.profile]
        if not self.bootstrapped:
            restore(iptables.render_bootstrap(profile))
            self.bootstrapped = True
        restore(iptables.render(state, self.node))
        self.hold_node_ports(state, node.netns)
        self.clear_stale_udp(state)
        acknowledge(os.path.dirname(self.cluster_file), f"kube-proxy-{self.node}")

    def hold_node_ports(self, state, netns_name):
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
                subprocess.run(["conntrack", "-D", "--orig-dst", cluster_ip, "--dst-nat", endpoint, "-p", "udp"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.udp_backends = backends


def restore(text):
    result = subprocess.run(RESTORE, input=text, text=True, capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"iptables-restore failed: {result.stderr.strip()}")


def main():
    args = parse_args("kube-proxy for one lab node", [("--node", {"required": True}),
                                                       ("--cluster", {"required": True})])
    proxy = KubeProxy(args.cluster, args.node)
    try:
        proxy.sync()
    except (OSError, RuntimeError) as exc:
        report_ready(args.ready_fd, str(exc))
        return 1
    report_ready(args.ready_fd)
    resync = []
    signal.signal(signal.SIGHUP, lambda *_: resync.append(True))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()
        while resync:
            resync.clear()
            try:
                proxy.sync()
                print("resynced rules", flush=True)
            except (OSError, RuntimeError) as exc:
                print(f"sync failed: {exc}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
