"""kube-proxy's modes, one object each: what a node needs for it, what kube-proxy writes in it,
how each sync is loaded and how the node's rules are read back. Pure: commands as argv lists,
rules as text; the agent (lab.agents.kubeproxy) and the readers run them.

``iptables``: one ``iptables-restore --noflush`` per sync, with kube-proxy's partial syncs in the
current layout (lab.proxy.sync); the first sync also writes the chains and jump rules kube-proxy
and kubelet create at start. ``nftables``: one ``nft -f -`` transaction per sync on the ``ip
kube-proxy`` table; kube-proxy's nftables mode never serves NodePorts on 127.0.0.1, so it leaves
``route_localnet`` alone.
"""

from dataclasses import dataclass

from lab.proxy import iptables, names, nftables, ruleset, sync
from lab.proxy.options import PROFILES, options_for


@dataclass(frozen=True)
class Sync:
    """One sync's input: ``text`` for the mode's load command, ``applied`` to pass to the next."""

    text: str
    applied: object


class IptablesMode:
    name = "iptables"
    tools = ("iptables-restore", "iptables-save")
    sysctls = (("net.ipv4.conf.all.route_localnet", 1),)  # kube-proxy sets it for 127.0.0.1:<nodePort>
    load = ("iptables-restore", "-w", "5", "--noflush")
    # On a node namespace ``lab up`` has just made, the tables are empty, so replacing them gives
    # the very same rules; iptables-nft 1.8.9 spends about four times the CPU on --noflush with
    # thousands of chains, and a 50-node lab restores 50 times.
    replace = ("iptables-restore", "-w", "5")
    readback = ("iptables-save",)
    readback_fails_when_empty = False
    mark_chain = ("nat", "KUBE-MARK-MASQ")  # (table, chain) read back: sets the masquerade mark
    masquerade_chain = ("nat", "KUBE-POSTROUTING")  # masquerades what carries the mark

    def sync(self, cluster, node_name, previous=None):
        """The restore input of a sync: only what changed since ``previous`` (the last sync's
        ``applied``; None for the first, which also creates kube-proxy's chains)."""
        rules = iptables.render(cluster, node_name)
        profile = PROFILES[cluster.kube_proxy.profile]
        text = sync.restore_input(rules, previous, partial=not profile.legacy_layout)
        if previous is None:
            text = sync.merged(self.bootstrap(cluster, node_name), text)
        return Sync(text, rules)

    def resync(self, cluster, node_name):
        """No recovery beyond the next sync: iptables-restore applies a table or nothing."""
        return None

    def bootstrap(self, cluster, node_name):
        opts = options_for(cluster, node_name)
        return iptables.render_bootstrap(opts.profile, opts.localhost_node_ports)

    def initial_loads(self, cluster, node_name):
        """[(argv, text)] that give a fresh node kube-proxy's rules, step by step."""
        return [(list(self.load), self.bootstrap(cluster, node_name)),
                (list(self.load), iptables.render(cluster, node_name))]

    def parse(self, text):
        return ruleset.parse_iptables(text)

    def is_service_chain(self, chain):
        """A chain kube-proxy writes for one service port or endpoint (hashed names)."""
        return names.is_hashed(chain)

    def size(self, text):
        """(rules, chains, set elements) in a sync's text."""
        lines = text.splitlines()
        return sum(x.startswith("-A ") for x in lines), sum(x.startswith(":") for x in lines), 0



class NftablesMode:
    name = "nftables"
    tools = ("nft",)
    sysctls = ()
    load = ("nft", "-f", "-")
    replace = load
    readback = ("nft", "list", "table", *nftables.TABLE.split())
    readback_fails_when_empty = True  # no table yet: kube-proxy has written nothing
    mark_chain = (ruleset.NFT_TABLE, "mark-for-masquerade")
    masquerade_chain = (ruleset.NFT_TABLE, "masquerading")

    def sync(self, cluster, node_name, previous=None):
        """The transaction of a sync: the table from scratch the first time (whatever a previous
        kube-proxy left), then kube-proxy's flush-and-refill syncs, which keep the affinity sets'
        entries."""
        table = nftables.definition(cluster, node_name)
        return Sync(nftables.transaction(table, previous), table)

    def resync(self, cluster, node_name):
        """When a sync fails, the table is recreated from scratch."""
        table = nftables.definition(cluster, node_name)
        return Sync(nftables.transaction(table), table)

    def initial_loads(self, cluster, node_name):
        return [(list(self.load), nftables.transaction(nftables.definition(cluster, node_name)))]

    def parse(self, text):
        return ruleset.parse_nft(text)

    def is_service_chain(self, chain):
        return names.is_nft_service_chain(chain)

    def size(self, text):
        lines = text.splitlines()
        return (sum(x.startswith("add rule ") for x in lines), sum(x.startswith("add chain ") for x in lines),
                sum(x.startswith("add element ") for x in lines))



IPTABLES = IptablesMode()
NFTABLES = NftablesMode()
MODES = {m.name: m for m in (IPTABLES, NFTABLES)}


def of(cluster):
    """The mode of a cluster's kube-proxy."""
    return MODES[cluster.kube_proxy.mode]
