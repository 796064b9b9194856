"""Builds a wiring plan in the kernel with rtnetlink (lab.rtnl), from one process.

Each namespace gets one netlink socket, opened while this thread is inside it (a socket
keeps the namespace it was created in). Veths are created inside the bridge's namespace with
the peer placed straight into the other namespace, so the host's root namespace never holds
a lab interface, even for a moment.
"""

import os

from lab.kernel import netns
from lab.kernel.rtnl import LOOPBACK_INDEX, Netlink


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
            self._sockets[name] = Netlink()
        self._fds[name] = os.open(netns.path(name), os.O_RDONLY)

    def build(self, plan, report=None):
        """Realise ``plan`` in namespaces that exist and are empty; its veths may join bridges
        of namespaces built earlier (pods added to a running lab). ``report(done, total)`` hears
        how many veths are done, now and then."""
        for ns in plan.namespaces:
            self._prepare(ns.name, ns.sysctls)
        for name in {v.netns for v in plan.veths} - set(self._sockets):
            self._prepare(name)
        bridges = {}
        for b in plan.bridges:
            nl = self._sockets[b.netns]
            nl.add_bridge(b.name, b.mac)
            bridges[(b.netns, b.name)] = index = nl.index(b.name)
            nl.add_address(index, b.address)
            nl.set_up(index)
        for i, v in enumerate(plan.veths, 1):
            bridge = bridges.get((v.netns, v.bridge)) or self._sockets[v.netns].index(v.bridge)
            nl = self._sockets[v.netns]
            with nl.batched():
                nl.add_veth(v.name, v.peer, self._fds[v.peer_netns], master=bridge, peer_mac=v.peer_mac)
                if v.hairpin:  # as the CNI bridge plugin sets it
                    nl.set_hairpin(ifname=v.name)
            if report and (i % 50 == 0 or i == len(plan.veths)):
                report(i, len(plan.veths))
        # then each namespace's own configuration, sent in one go (it needs only its links' indexes)
        work = {ns.name: [] for ns in plan.namespaces}
        indexes = {}

        def index(netns_name, dev):
            if (netns_name, dev) not in indexes:
                indexes[(netns_name, dev)] = self._sockets[netns_name].index(dev)
            return indexes[(netns_name, dev)]

        for name in work:
            work[name].append(lambda nl: nl.set_up(LOOPBACK_INDEX))
        for v in plan.veths:
            peer = index(v.peer_netns, v.peer)
            work.setdefault(v.peer_netns, []).append(
                lambda nl, peer=peer, v=v: (nl.add_address(peer, v.peer_address), nl.set_up(peer)))
        for a in plan.addresses:
            work.setdefault(a.netns, []).append(lambda nl, i=index(a.netns, a.dev), a=a: nl.add_address(i, a.address))
        for r in plan.routes:
            local = index(r.netns, r.local_dev) if r.local_dev else None
            work.setdefault(r.netns, []).append(
                lambda nl, r=r, local=local: nl.add_route(r.dst, gateway=r.via, table=r.table, local_index=local))
        for rule in plan.rules:
            work.setdefault(rule.netns, []).append(lambda nl, r=rule: nl.add_rule(r.fwmark, r.mask, r.table))
        for n in plan.neighbours:
            work.setdefault(n.netns, []).append(lambda nl, i=index(n.netns, n.dev), n=n: nl.add_neighbour(i, n.ip, n.mac))
        for name, calls in work.items():
            nl = self._sockets[name]
            with nl.batched():
                for call in calls:
                    call(nl)


def unplug(netns_names, ifname="eth0"):
    """Delete ``ifname`` (a pod's veth, and so its node-side peer) in each of ``netns_names`` that
    exists, now. A deleted namespace is freed later (asynchronously, and only once no socket holds
    it), its veth pair with it: a pod made again under the same name at once would find its old
    node-side veth still there."""
    present = netns.existing()
    for name in netns_names:
        if name not in present:
            continue
        with netns.entered(name):
            nl = Netlink()
        try:
            nl.delete_link(nl.index(ifname))
        except OSError:  # no such link (a pod killed before its link was made)
            pass
        finally:
            nl.close()
