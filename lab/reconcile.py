"""Changing a running lab: from one cluster state to the next, as a cluster converges.

The new state is published (``cluster.json``) and every agent is told (SIGHUP): kube-proxy
re-syncs the node's rules with one ``iptables-restore``, coredns re-reads its records, the pod
servers open and close listeners. New pods get their namespaces first; pods that left lose
theirs last, once the rules no longer send traffic to them. ``apply`` waits until every agent
has acknowledged the new generation.
"""

import os
import signal
import time

from lab import dataplane, etcfiles, lifecycle, netns, processes, state, wiring, workloads
from lab.errors import LabError


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
        with dataplane.Dataplane() as dp:
            dp.build(wiring.subplan(wiring.plan(new), added))
        lifecycle.write_etc_files(record, new, only=set(added))

    generation = _next_generation(record)
    record.save_cluster(new)
    waiting, starting = [], []
    for node in new.nodes:
        for app in workloads.APPS:
            has_pods = lifecycle.write_pod_spec(record, new, node, app)
            pid = record.pids.get(f"{app}/{node.name}")
            if pid and processes.is_lab_process(pid, record.lab):
                os.kill(pid, signal.SIGHUP)
                waiting.append(f"{app}-{node.name}")
            elif has_pods:
                starting.append(lifecycle.start_pod_server(record, new, node, app))
        os.kill(record.pids[f"kube-proxy/{node.name}"], signal.SIGHUP)
        waiting.append(f"kube-proxy-{node.name}")
    processes.wait_ready(starting, timeout)
    _wait_for_acks(record, waiting, generation, started + timeout)

    if removed:
        netns.delete(removed)
        for name in removed:
            etcfiles.remove(name)
        record.forget(removed)
    return time.monotonic() - started


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
