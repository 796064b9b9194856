"""Building a lab, as a list of named steps over one context. ``up`` runs them all; a live change
that adds pods runs the first ones for the new pods' namespaces only.

Each step is recorded before it acts (the record lists namespaces, files and PIDs before they
exist), so whatever a failed or killed step leaves is still taken down by ``down``.
"""

import os
from dataclasses import dataclass, field

from lab.agents import launch, loadbalancer
from lab.cluster import diff, workloads
from lab.errors import LabError
from lab.images import containers
from lab.kernel import commands, etcdirs, netns, processes, uts
from lab.live import events, publish
from lab.net import etcfiles, netfilter, nginx
from lab.proxy import modes


@dataclass
class Context:
    record: object  # lab.kernel.record.Record
    cluster: object  # the ClusterState being built
    plan: object  # the lab.net.wiring.Plan to build (all of it, or a live change's part)
    progress: object  # lab.live.progress.Progress
    only: frozenset = None  # the namespaces to give files to (None: every one of the plan's)
    daemons: list = field(default_factory=list)  # started, not yet known to be serving
    objects: tuple = ()  # the objects the cluster holds, as written (for the API's view of it)
    api_server: bool = True  # up starts the lab's API server (kubectl); --no-api-server: not


@dataclass(frozen=True)
class Step:
    name: str  # what the progress line and --timings call it
    run: object  # run(ctx)
    done: object = None  # done(ctx) -> the lines said once the step is through
    when: object = None  # when(ctx) -> False: the lab needs no such step

    def __call__(self, ctx):
        if self.when is not None and not self.when(ctx):
            return
        with ctx.progress.phase(self.name):
            self.run(ctx)
        for line in (self.done(ctx) if self.done else ()):
            ctx.progress.done(line)


def run_all(steps, ctx):
    for step in steps:
        step(ctx)


def check_names_free(namespace_names):
    """No namespace (nor /etc/netns directory) the lab would make may exist already."""
    clash = sorted(set(namespace_names) & netns.existing())
    if clash:
        raise LabError(f"network namespace {clash[0]} already exists and is not this lab's; "
                       f"choose another lab name with --name")
    clash = sorted(n for n in namespace_names if os.path.exists(etcdirs.directory(n)))
    if clash:
        raise LabError(f"{etcdirs.directory(clash[0])} already exists and is not this lab's; "
                       f"choose another lab name with --name")


def create_namespaces(ctx):
    check_names_free(ctx.plan.namespace_names)  # before recording: never take another's namespace
    ctx.record.add_namespaces(ctx.plan.namespace_names)
    netns.create(ctx.plan.namespace_names)


def publish_and_create_namespaces(ctx):
    """The cluster state the agents will read, then every namespace of the lab."""
    ctx.record.save_cluster(ctx.cluster)
    create_namespaces(ctx)


def start_agents(ctx):
    """kube-proxy and the pod servers start while the links are made: they need only their
    namespaces, and Python takes a while to start."""
    if ctx.api_server:  # first: it has the most to do before it serves (its PKI)
        ctx.daemons.append(launch.start_api_server(ctx.record, ctx.cluster))
    ctx.daemons += launch.start_kube_proxies(ctx.record, ctx.cluster)
    ctx.daemons += launch.start_pod_servers(ctx.record, ctx.cluster)


def build_links(ctx):
    from lab.kernel import dataplane  # the netlink client, only when links are made
    with dataplane.Dataplane() as dp:
        dp.build(ctx.plan, ctx.progress.count)


def set_hostnames(ctx):
    """A UTS namespace for each new machine and pod, with its hostname (a node's is its
    Kubernetes node name, ``k8s-node1``; a pod's its spec.hostname or name)."""
    c = ctx.cluster
    names = {n.netns: n.hostname for n in c.nodes} | {h.netns: h.name for h in c.hosts}
    names |= {c.lb.netns: "lb"} if c.lb else {}
    names |= {p.netns: p.host_name for p in c.pods}
    wanted = {ns: names[ns] for ns in ctx.plan.namespace_names if ns in names}
    ctx.record.add_uts(sorted(wanted))
    uts.create(ctx.record.path(), wanted)


def write_etc_files(ctx):
    files = {n: t for n, t in etcfiles.files(ctx.cluster).items()
             if n in (ctx.only if ctx.only is not None else set(ctx.plan.namespace_names))}
    ctx.record.add_etc_dirs(sorted(files))
    for netns_name, texts in files.items():
        etcdirs.write(netns_name, texts)


def start_container_commands(ctx):
    """The commands of containers whose image no svclab server stands for (``sleep 3600``)."""
    containers.start(ctx.record, _new_pods(ctx))


def _has_container_commands(ctx):
    return any(workloads.commands(p) for p in _new_pods(ctx))


def _new_pods(ctx):
    """The pods this run of the steps brings: all (up), or a live change's (named by ``only``; a
    hostNetwork pod has no namespace in the plan, only its name in ``only``)."""
    if ctx.only is None:
        return list(ctx.cluster.pods)
    return [p for p in ctx.cluster.pods if p.netns in ctx.only]


def wait_for_agents(ctx):
    # a kube-proxy serving several nodes of a large lab loads thousands of rules for each
    timeout = 15 + len(ctx.cluster.nodes) * len(ctx.cluster.services) / 2000
    processes.wait_ready(ctx.daemons, timeout=timeout)
    ctx.daemons.clear()


def load_node_rules(ctx):
    """The pod network's and load balancer's own rules (not kube-proxy's), once, after
    kube-proxy's first restore (which replaces the tables)."""
    cluster = ctx.cluster
    jobs = [(n.netns, netfilter.node_rules(cluster)) for n in cluster.nodes]
    if nginx.needs_nginx(cluster):
        jobs.append((cluster.lb.netns, netfilter.lb_rules()))
    load_rules(jobs)


def load_rules(jobs):
    """``[(namespace, iptables-restore --noflush input)]``, a few restores at a time."""
    jobs = [(netns_name, list(modes.IPTABLES.load), text) for netns_name, text in jobs]
    for start in range(0, len(jobs), 8):
        commands.finish_all(commands.start_all(jobs[start:start + 8]))


def start_load_balancer(ctx):
    loadbalancer.start(ctx.record, ctx.cluster)


def record_events(ctx):
    events.record_changes(ctx.record, diff.from_nothing(ctx.cluster), ctx.cluster)
    publish.publish(ctx.record, ctx.cluster, ctx.objects)
    ctx.record.set_phase("up")


def _network_lines(ctx):
    c = ctx.cluster
    return [f"Network: {len(ctx.plan.namespaces)} namespaces, LAN {c.lan_cidr}, {len(c.nodes)} nodes, "
            f"{len(c.pods)} pods"]


def _serving_lines(ctx):
    c = ctx.cluster
    return [f"kube-proxy ({c.kube_proxy.mode}, profile {c.kube_proxy.profile}) synced on {len(c.nodes)} nodes",
            f"Pods serving: {len(c.pods)}"]


def _load_balancer_lines(ctx):
    c = ctx.cluster
    external = sum(len(s.lb_ips) for s in c.services)
    return [f"Load balancer {c.lb.ip}: nginx with {len(c.frontends)} virtual hosts, "
            f"{external} LoadBalancer addresses"]


def _has_load_balancer(ctx):
    return nginx.needs_nginx(ctx.cluster)


UP = (
    Step("namespaces", publish_and_create_namespaces),
    Step("start kube-proxy and pod servers", start_agents),
    Step("links, addresses, routes", build_links),
    Step("hostnames", set_hostnames),
    Step("resolv.conf and hosts files", write_etc_files, _network_lines),
    Step("container commands", start_container_commands, when=_has_container_commands),
    Step("wait for kube-proxy syncs and pod servers", wait_for_agents),
    Step("pod network rules", load_node_rules, _serving_lines),
    Step("front load balancer (nginx)", start_load_balancer, _load_balancer_lines, when=_has_load_balancer),
    Step("record events", record_events),
)

# a live change's new pods: their namespaces, links and files (the agents are told afterwards)
NEW_PODS = (
    Step("namespaces", create_namespaces),
    Step("links, addresses, routes", build_links),
    Step("hostnames", set_hostnames),
    Step("resolv.conf and hosts files", write_etc_files),
    Step("container commands", start_container_commands, when=_has_container_commands),
)
