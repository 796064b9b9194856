"""Moving a running lab from one cluster state to the next, as a cluster converges.

The new state is published (``cluster.json``) and every agent is told (SIGHUP): kube-proxy
re-syncs the node's rules with one ``iptables-restore``, coredns re-reads its records, the pod
servers open and close listeners. New pods get their namespaces first; pods that left lose
theirs last, once the rules no longer send traffic to them. It returns once every agent has
acknowledged the new generation.
"""

import dataclasses
import signal
import time

from lab.agents import groups, launch, loadbalancer, registry
from lab.cluster import diff
from lab.cluster.model import ClusterState
from lab.errors import InternalError
from lab.images import containers
from lab.kernel import commands, etcdirs, netns, processes, record, uts
from lab.kernel.files import write_atomic
from lab.live import events, steps
from lab.live.progress import Progress
from lab.net import netfilter, nginx, wiring

DRAIN_SECONDS = 0.3
CLOSE_SECONDS = 0.05


def converge(lab_record, old: ClusterState, new: ClusterState, timeout=10.0):
    """Move the lab behind ``lab_record`` from ``old`` to ``new``; returns seconds until converged.

    In Kubernetes' order: a new pod listens before any rule sends it traffic (it becomes an
    endpoint once ready); then every kube-proxy and coredns applies the new state, and the load
    balancer's controller probes the nodes' health after that; a leaving pod keeps listening
    until no rule sends it new connections, and its namespace goes last.
    """
    started = time.monotonic()
    deadline = started + timeout
    changes = diff.between(old, new)
    if changes.added_pods:
        plan = wiring.subplan(wiring.plan(new, netns.neighbour_limit()), changes.added_netns)
        ctx = steps.Context(lab_record, new, plan, Progress(None, interactive=False), only=set(changes.added_netns))
        steps.run_all(steps.NEW_PODS, ctx)
        _serve(lab_record, dataclasses.replace(new, pods=new.pods + changes.removed_pods), deadline)
    _external_addresses(new, changes.added_external_ips, "add")
    controller = _apply_control_plane(lab_record, new, deadline)
    # the load balancer's first use (never started in this lab, not merely unused since): plumbing too
    if nginx.needs_nginx(new) and registry.LB_CONTROLLER.record_key(registry.LB_KEY) not in lab_record.pids:
        steps.load_rules([(n.netns, netfilter.lb_return_rules(new)) for n in new.nodes]
                         + [(new.lb.netns, netfilter.lb_rules())])
        loadbalancer.start(lab_record, new)
    elif nginx.needs_nginx(new) and not controller:
        raise InternalError(f"the load balancer's controller of lab {lab_record.lab!r} is not running (see its log "
                            f"{lab_record.path(registry.LB_CONTROLLER.log_file(registry.LB_KEY))})")
    if changes.removed_pods:
        # a short termination grace: what reached a leaving pod before the rules changed (its listen
        # backlog included) is answered before the listener closes, and answered before the namespace goes
        time.sleep(DRAIN_SECONDS)
        _serve(lab_record, new, time.monotonic() + timeout)
        time.sleep(CLOSE_SECONDS)
    _external_addresses(new, changes.removed_external_ips, "del")
    events.record_changes(lab_record, changes, new)
    if changes.removed_pods:
        containers.stop(lab_record, changes.removed_netns)  # a container's command, an exec session
        _unplug(changes.removed_netns)
        netns.delete(changes.removed_netns)
        for name in changes.removed_netns:
            etcdirs.remove(name)
        uts.remove(lab_record.path(), changes.removed_netns)
        lab_record.forget(changes.removed_netns)
    return time.monotonic() - started


def repair(lab_record, cluster):
    """Before a change: finish what a killed or failed change left (``cluster`` is the state last
    published). Namespaces the record lists that the state has no place for are taken down (a new
    pod the change never published, or a leaving one it never removed); pods of the state whose
    namespace is missing are built again; pod servers that died are started again."""
    plan = wiring.plan(cluster, netns.neighbour_limit())
    wanted = set(plan.namespace_names)
    stray = [n for n in lab_record.namespaces if n not in wanted]
    if stray:
        containers.stop(lab_record, stray)
        _unplug(stray)
        netns.delete(stray)
        for name in stray:
            etcdirs.remove(name)
        uts.remove(lab_record.path(), stray)
        lab_record.forget(stray)
    present = netns.existing()
    missing = [p.sandbox for p in cluster.pods if p.sandbox and p.sandbox not in present]
    if missing:
        sub = wiring.subplan(plan, missing)
        steps.run_all(steps.NEW_PODS, steps.Context(lab_record, cluster, sub, Progress(None, interactive=False),
                                                    only=set(missing)))
    if stray or missing or _dead_pod_servers(lab_record, cluster):
        _serve(lab_record, cluster, time.monotonic() + 10)


def _unplug(netns_names):
    """Leaving pods' veths go now, not when the kernel frees their namespaces (the same pod made
    again at once would find its node-side veth)."""
    from lab.kernel import dataplane  # the netlink client, only when links change
    dataplane.unplug(netns_names)


def _dead_pod_servers(lab_record, cluster):
    return [key for key, members in groups.groups(n.name for n in cluster.nodes) for app, kind in registry.POD_APPS.items()
            if any(p.app == app for node in members for p in cluster.pods_on(node))
            and registry.pid_of(lab_record, kind, key) is None]


def _serve(lab_record, cluster, deadline):
    """Every pod server serves exactly ``cluster``'s pods (a server starts for a node group's
    first pod of its app); returns once each listens."""
    generation = _next_generation(lab_record)
    waiting, starting = [], []
    for key, members in groups.groups(n.name for n in cluster.nodes):
        for app, kind in registry.POD_APPS.items():
            has_pods = launch.write_pod_spec(lab_record, cluster, key, members, app)
            if registry.signal(lab_record, kind, key, signal.SIGHUP):
                waiting.append(kind.ack_name(key))
            elif has_pods:
                starting.append(launch.start_pod_server(lab_record, cluster, key, members, app))
    processes.wait_ready(starting, max(0.1, deadline - time.monotonic()))
    _wait_for_acks(lab_record, waiting, generation, deadline)


def _apply_control_plane(lab_record, cluster, deadline):
    """Publish ``cluster``; every kube-proxy re-syncs and coredns re-reads its records; then the
    load balancer's controller, whose health probes now see the new answers. True if a
    controller runs."""
    generation = _next_generation(lab_record)
    lab_record.save_cluster(cluster)
    waiting, starting = [], []
    for key, members in groups.groups(n.name for n in cluster.nodes):
        if registry.signal(lab_record, registry.KUBE_PROXY, key, signal.SIGHUP):
            waiting.append(registry.KUBE_PROXY.ack_name(key))
        else:  # it died (or was killed): a new one syncs the nodes from this state
            starting.append(launch.start_kube_proxy(lab_record, cluster, key, members))
        if registry.signal(lab_record, registry.COREDNS, key, signal.SIGHUP):
            waiting.append(registry.COREDNS.ack_name(key))
    processes.wait_ready(starting, max(0.1, deadline - time.monotonic()))
    _wait_for_acks(lab_record, waiting, generation, deadline)
    if not registry.signal(lab_record, registry.LB_CONTROLLER, registry.LB_KEY, signal.SIGHUP):
        return False
    _wait_for_acks(lab_record, [registry.LB_CONTROLLER.ack_name(registry.LB_KEY)], generation, deadline)
    return True


def stop_serving(lab_record, cluster, pod):
    """A pod's server dies: its daemon closes the pod's listeners (nothing else changes yet); a
    pod that no server stands for loses its containers' commands."""
    if pod.app is None:
        containers.stop(lab_record, [pod.netns])
        return
    others = tuple(p for p in cluster.pods if not (p.namespace == pod.namespace and p.name == pod.name))
    key, members = groups.group_of([n.name for n in cluster.nodes], pod.node)
    launch.write_pod_spec(lab_record, dataclasses.replace(cluster, pods=others), key, members, pod.app)
    generation = _next_generation(lab_record)
    kind = registry.POD_APPS[pod.app]
    if registry.signal(lab_record, kind, key, signal.SIGHUP):
        _wait_for_acks(lab_record, [kind.ack_name(key)], generation, time.monotonic() + 5)


def _external_addresses(cluster, addresses, action):
    """LoadBalancer addresses come and go on the load balancer's eth0."""
    if not addresses or cluster.lb is None:
        return
    for address in addresses:
        commands.run(["ip", "addr", action, f"{address}/32", "dev", wiring.ETH], cluster.lb.netns, check=False)


def _next_generation(lab_record):
    path = lab_record.path("generation")
    try:
        with open(path) as f:
            generation = int(f.read().strip() or 0) + 1
    except FileNotFoundError:
        generation = 1
    write_atomic(path, str(generation))
    return generation


def _wait_for_acks(lab_record, agents, generation, deadline):
    pending = set(agents)
    while pending:
        for agent in list(pending):
            try:
                with open(lab_record.path("acks", agent)) as f:
                    if int(f.read().strip() or 0) >= generation:
                        pending.discard(agent)
            except (FileNotFoundError, ValueError):
                pass
        if not pending:
            return
        if time.monotonic() > deadline:
            raise InternalError(f"{', '.join(sorted(pending))} did not apply the change in time "
                                f"(see the logs in {record.lab_dir(lab_record.lab)})")
        time.sleep(0.005)
