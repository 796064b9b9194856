"""Changing a running lab: from one cluster state to the next, as a cluster converges.

The new state is published (``cluster.json``) and every agent is told (SIGHUP): kube-proxy
re-syncs the node's rules with one ``iptables-restore``, coredns re-reads its records, the pod
servers open and close listeners. New pods get their namespaces first; pods that left lose
theirs last, once the rules no longer send traffic to them. ``apply`` waits until every agent
has acknowledged the new generation.
"""

import dataclasses
import os
import signal
import time

from lab import (agentgroups, etcfiles, events, frontlb, frontlb_runtime, lifecycle, netns, processes, state, wiring,
                 workloads)
from lab.errors import LabError


DRAIN_SECONDS = 0.3


def apply(record, old, new, timeout=10.0):
    """Move the lab behind ``record`` from ``old`` to ``new``; returns seconds until converged."""
    started = time.monotonic()
    old_pods = {p.netns: p for p in old.pods}
    new_pods = {p.netns: p for p in new.pods}
    added = [n for n in new_pods if n not in old_pods]
    removed = [n for n in old_pods if n not in new_pods]

    if added:
        record.add_namespaces(added)
        netns.create(added)
        from lab import dataplane
        with dataplane.Dataplane() as dp:
            dp.build(wiring.subplan(wiring.plan(new, netns.neighbour_limit()), added))
        lifecycle.write_etc_files(record, new, only=set(added))
    _external_addresses(new, set(wiring.external_ips(new)) - set(wiring.external_ips(old)), "add")

    generation = _next_generation(record)
    record.save_cluster(new)
    waiting, starting = [], []
    for key, members in agentgroups.groups(n.name for n in new.nodes):
        for app in workloads.APPS:
            has_pods = lifecycle.write_pod_spec(record, new, key, members, app)
            pid = record.pids.get(f"{app}/{key}")
            if pid and processes.is_lab_process(pid, record.lab):
                os.kill(pid, signal.SIGHUP)
                waiting.append(f"{app}-{key}")
            elif has_pods:
                starting.append(lifecycle.start_pod_server(record, new, key, members, app))
        os.kill(record.pids[f"kube-proxy/{key}"], signal.SIGHUP)
        waiting.append(f"kube-proxy-{key}")
    controller = record.pids.get("lb-controller/lb")
    if controller and processes.is_lab_process(controller, record.lab):
        os.kill(controller, signal.SIGHUP)
        waiting.append("lb-controller")
    processes.wait_ready(starting, timeout)
    _wait_for_acks(record, waiting, generation, started + timeout)
    if frontlb.needs_nginx(new) and not controller:
        frontlb_runtime.start(record, new)
    _external_addresses(new, set(wiring.external_ips(old)) - set(wiring.external_ips(new)), "del")
    events.record_changes(record, old, new)

    if removed:
        time.sleep(DRAIN_SECONDS)  # requests already inside a leaving pod finish (a short termination grace)
        netns.delete(removed)
        for name in removed:
            etcfiles.remove(name)
        record.forget(removed)
    return time.monotonic() - started


def stop_serving(record, cs, pod):
    """A pod's server dies: its daemon closes the pod's listeners (nothing else changes yet)."""
    spec = [p for p in cs.pods if not (p.namespace == pod.namespace and p.name == pod.name)]
    key, members = agentgroups.group_of([n.name for n in cs.nodes], pod.node)
    lifecycle.write_pod_spec(record, dataclasses.replace(cs, pods=tuple(spec)), key, members, pod.app)
    generation = _next_generation(record)
    pid = record.pids.get(f"{pod.app}/{key}")
    if pid and processes.is_lab_process(pid, record.lab):
        os.kill(pid, signal.SIGHUP)
        _wait_for_acks(record, [f"{pod.app}-{key}"], generation, time.monotonic() + 5)


def _external_addresses(state, addresses, action):
    """LoadBalancer addresses come and go on the load balancer's eth0."""
    if not addresses or state.lb is None:
        return
    for address in sorted(addresses):
        processes.run_in(state.lb.netns, ["ip", "addr", action, f"{address}/32", "dev", wiring.ETH])


def _next_generation(record):
    path = record.path("generation")
    try:
        with open(path) as f:
            generation = int(f.read().strip() or 0) + 1
    except FileNotFoundError:
        generation = 1
    with open(path + ".tmp", "w") as f:
        f.write(str(generation))
    os.replace(path + ".tmp", path)
    return generation


def _wait_for_acks(record, agents, generation, deadline):
    pending = set(agents)
    while pending:
        for agent in list(pending):
            try:
                with open(record.path("acks", agent)) as f:
                    if int(f.read().strip() or 0) >= generation:
                        pending.discard(agent)
            except (FileNotFoundError, ValueError):
                pass
        if not pending:
            return
        if time.monotonic() > deadline:
            raise LabError(f"{', '.join(sorted(pending))} did not apply the change in time "
                           f"(see the logs in {state.lab_dir(record.lab)})")
        time.sleep(0.005)
