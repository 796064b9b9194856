"""Starting the lab's agents in its namespaces, each recorded as it starts (teardown also finds
whatever runs in the lab's namespaces, so a crash between the two leaves nothing behind).

``PRELOAD``: what ``up``'s fork server imports, in the order the agents need it."""

import json
import os

from lab.agents import groups, registry
from lab.cluster import workloads
from lab.cluster.resources import KUBE_VERSIONS
from lab.kernel import processes

PRELOAD = tuple(dict.fromkeys(k.module for k in (registry.KUBE_PROXY, registry.KUBIA, registry.COREDNS,
                                                 registry.API_SERVER, registry.LB_CONTROLLER)))


def start_kube_proxies(record, cluster):
    """One kube-proxy per node group, started in the group's first node, on nodes with no rules yet."""
    return [start_kube_proxy(record, cluster, key, members, fresh=True)
            for key, members in groups.groups(n.name for n in cluster.nodes)]


def start_kube_proxy(record, cluster, key, members, fresh=False):
    args = [a for name in members for a in ("--node", name)] + ["--key", key, "--cluster", record.path("cluster.json")]
    return _spawn(record, cluster, registry.KUBE_PROXY, key, members, args + (["--fresh"] if fresh else []))


def write_pod_spec(record, cluster, key, members, app):
    """The pods one pod server serves (it re-reads this on SIGHUP). False when there are none."""
    pods = [p for node in members for p in cluster.pods_on(node) if p.app == app]
    with open(record.path(registry.POD_APPS[app].spec_file(key)), "w") as f:
        json.dump({"pods": [{"name": p.name, "netns": p.exec_netns, "ports": workloads.listen_ports(p)}
                            for p in pods]}, f)
    return bool(pods)


def start_pod_server(record, cluster, key, members, app):
    kind = registry.POD_APPS[app]
    args = ["--key", key, "--spec", record.path(kind.spec_file(key))]
    if app == "coredns":
        args += ["--cluster", record.path("cluster.json")]
    else:
        args += ["--app", app]
    return _spawn(record, cluster, kind, key, members, args)


def start_pod_servers(record, cluster):
    """One daemon per (node group, app): ``kubia`` for the web pods, ``coredns`` for the DNS pods."""
    return [start_pod_server(record, cluster, key, members, app)
            for key, members in groups.groups(n.name for n in cluster.nodes) for app in workloads.APPS
            if write_pod_spec(record, cluster, key, members, app)]


def start_api_server(record, cluster):
    """The API server, in the master's namespace (so that ``ip netns pids`` finds it, like every
    agent, even if ``up`` dies before recording it), with the host's namespace at hand for its
    loopback socket and its work (live changes run from the host's namespace)."""
    kind, master = registry.API_SERVER, cluster.nodes[0]
    host = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        args = ["--key", registry.MASTER_KEY, "--dir", record.path(), "--host-netns-fd", str(host),
                "--master-ip", str(master.ip), "--master-name", master.hostname,
                "--service-ip", str(cluster.service_cidr.network_address + 1), "--domain", cluster.domain,
                "--version", KUBE_VERSIONS[cluster.kube_proxy.profile]]
        return processes.spawn(kind.name, kind.module, args, master.netns,
                               record.path(kind.log_file(registry.MASTER_KEY)), cluster.lab, record.path("bin"),
                               pass_fds=(host,), on_pid=_recorder(record, kind.record_key(registry.MASTER_KEY)))
    finally:
        os.close(host)


def _spawn(record, cluster, kind, key, members, args):
    return processes.spawn(kind.name, kind.module, args, cluster.node(members[0]).netns,
                           record.path(kind.log_file(key)), cluster.lab, record.path("bin"),
                           on_pid=_recorder(record, kind.record_key(key)))


def _recorder(record, record_key):
    """The record entry of a daemon, made as soon as its PID is known (a forked daemon's comes a
    little later; meanwhile ``down`` finds it in its namespace, as it finds any)."""
    return lambda pid: record.add_pid(record_key, pid)
