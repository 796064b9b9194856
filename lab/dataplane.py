"""Builds a wiring plan in the kernel with netlink (pyroute2), from one process.

Each namespace gets one netlink socket, opened while this thread is inside it (a socket
keeps the namespace it was created in). Veths are created inside the bridge's namespace with
the peer placed straight into the other namespace, so the host's root namespace never holds
a lab interface, even for a moment.
"""

import os

from pyroute2 import IPRoute

from lab import netns


class Dataplane:
    def __init__(self):
        self._sockets = {}
        self._fds = {}

    def close(self):
        for sock in self._sockets.values():
            sock.close()
        for fd in self._fds.values():
            os.close(fd)
        self._sockets.clear()
        self._fds.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _prepare(self, name, sysctls=()):
        """Sysctls first (IPv6 off before any link exists), then a netlink socket for ``name``.

        A sysctl this kernel lacks is skipped: no IPv6 at all is as good as IPv6 off, and
        ``up`` refuses to start without br_netfilter before it gets here.
        """
        with netns.entered(name):
            for key, value in sysctls:
                netns.write_sysctl(key, value)
            self._sockets[name] = IPRoute()
        self._fds[name] = os.open(netns.path(name), os.O_RDONLY)

    def _index(self, ns, ifname):
        found = self._sockets[ns].link_lookup(ifname=ifname)
        if not found:
            raise RuntimeError(f"{ifname} not found in {ns}")
        return found[0]

    def build(self, plan, report=None):
        """Realise ``plan`` in namespaces that exist and are empty; its veths may join bridges
        of namespaces built earlier (pods added to a running lab). ``report(done, total)`` hears
        how many veths are done, now and then."""
        for ns in plan.namespaces:
            self._prepare(ns.name, ns.sysctls)
        for name in {v.netns for v in plan.veths} - set(self._sockets):
            self._prepare(name)
        for ns in plan.namespaces:
            ipr = self._sockets[ns.name]
            ipr.link("set", index=self._index(ns.name, "lo"), state="up")
        for b in plan.bridges:
            ipr = self._sockets[b.netns]
            ipr.link("add", ifname=b.name, kind="bridge")
            index = self._index(b.netns, b.name)
            address, prefix = b.address.split("/")
            ipr.addr("add", index=index, address=address, prefixlen=int(prefix))
            ipr.link("set", index=index, state="up")
        for i, v in enumerate(plan.veths, 1):
            self._veth(v, self._index(v.netns, v.bridge))
            if report and (i % 50 == 0 or i == len(plan.veths)):
                report(i, len(plan.veths))
        for a in plan.addresses:
            address, prefix = a.address.split("/")
            self._sockets[a.netns].addr("add", index=self._index(a.netns, a.dev), address=address,
                                        prefixlen=int(prefix))
        for r in plan.routes:
            dst = "0.0.0.0/0" if r.dst == "default" else r.dst
            if r.local_dev:
                self._sockets[r.netns].route("add", dst=dst, type="local", scope=254, oif=self._index(r.netns, r.local_dev),
                                             table=r.table)
            else:
                self._sockets[r.netns].route("add", dst=dst, gateway=r.via, table=r.table)
        for rule in plan.rules:
            self._sockets[rule.netns].rule("add", fwmark=rule.fwmark, fwmask=rule.mask, table=rule.table)

    def _veth(self, v, bridge):
        ipr, peer_ipr = self._sockets[v.netns], self._sockets[v.peer_netns]
        ipr.link("add", ifname=v.name, kind="veth", peer={"ifname": v.peer, "net_ns_fd": self._fds[v.peer_netns]})
        index = self._index(v.netns, v.name)
        ipr.link("set", index=index, master=bridge, state="up")
        if v.hairpin:
            ipr.brport("set", index=index, mode=1)  # IFLA_BRPORT_MODE: hairpin, as the CNI bridge plugin sets
        peer = self._index(v.peer_netns, v.peer)
        if v.peer_mac:
            peer_ipr.link("set", index=peer, address=v.peer_mac)
        address, prefix = v.peer_address.split("/")
        peer_ipr.addr("add", index=peer, address=address, prefixlen=int(prefix))
        peer_ipr.link("set", index=peer, state="up")
