"""``lab mininet-cli``: Mininet's CLI on a running lab, its nodes, hosts and pods as Mininet hosts.

Each Mininet host's shell is started inside the lab's named namespace (``ip netns exec NAME``)
instead of a new one, and knows its ``eth0`` address; nothing is built or torn down: leaving the
CLI ends the shells and leaves the lab as it was. Mininet is imported only here, lazily: svclab's
core never needs it.
"""

import sys

from lab.errors import LabError
from lab.tools.mininet.export import pod_names


def members(cluster):
    """(Mininet name, namespace, eth0 address, prefix length) of every node, host and pod. Pure."""
    lan = cluster.lan_cidr.prefixlen
    out = [(n.name, n.netns, str(n.ip), lan) for n in cluster.nodes]
    out += [(h.name, h.netns, str(h.ip), lan) for h in cluster.hosts]
    names = pod_names(cluster)
    out += [(names[(p.namespace, p.name)], p.netns, str(p.ip), cluster.node(p.node).pod_cidr.prefixlen)
            for p in cluster.pods if not p.host_network]  # a hostNetwork pod is its node's namespace
    return out


def import_mininet():
    try:
        import mininet.cli
        import mininet.link
        import mininet.log
        import mininet.net
        import mininet.node
    except ImportError:
        raise LabError(f"Mininet is not installed for this Python ({sys.executable}): install Debian's package "
                       "(sudo apt-get install mininet) and run svclab with /usr/bin/python3") from None
    return mininet


def cli_class():
    mininet = import_mininet()
    import cmd

    class SvclabCLI(mininet.cli.CLI):
        """Mininet's CLI, with node names that have dashes and dots (pod names), and pingall
        waiting 1 s per ping unless told otherwise (pod IPs do not answer the client: they are
        not routed outside the cluster)."""

        identchars = cmd.IDENTCHARS + "-."

        def do_pingall(self, line):
            "Ping between all hosts (timeout 1 s unless given)."
            self.mn.pingAll(line or "1")

    return SvclabCLI


def host_class():
    mininet = import_mininet()

    class NetnsHost(mininet.node.Host):
        """A Mininet host whose shell runs in an existing named network namespace."""

        def __init__(self, name, netns, **params):
            self.netns = netns
            # inNamespace=False: Mininet makes no namespace and moves no interface; the shell
            # enters the lab's namespace itself (see _popen)
            super().__init__(name, inNamespace=False, **params)

        def _popen(self, cmd, **params):
            if self.shell is None and cmd[:1] == ["mnexec"]:  # the node's shell, from startShell()
                cmd = ["ip", "netns", "exec", self.netns] + cmd
            return super()._popen(cmd, **params)

    return NetnsHost


def attach(cluster):
    """A Mininet network object over the lab's namespaces (nothing created)."""
    mininet = import_mininet()
    mininet.net.Mininet.inited = True  # skip Mininet.init(): it raises host-wide limits and sysctls
    net = mininet.net.Mininet(topo=None, build=False, controller=None)
    NetnsHost = host_class()
    try:
        for name, netns, ip, prefix in members(cluster):
            host = NetnsHost(name, netns)
            intf = mininet.link.Intf("eth0", node=host)
            intf.ip, intf.prefixLen = ip, prefix
            net.hosts.append(host)
            net.nameToNode[name] = host
    except BaseException:
        detach(net)
        raise
    return net


def detach(net):
    """End the shells (and what they run); the lab's interfaces and namespaces stay."""
    for host in net.hosts:
        host.terminate()


def run_cli(cluster, stdin=None):
    mininet = import_mininet()
    mininet.log.setLogLevel("info")
    net = attach(cluster)
    try:
        cli_class()(net, stdin=stdin or sys.stdin)
    finally:
        detach(net)
