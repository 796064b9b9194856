"""Finding a running lab and the things in it, for the commands that look at one."""

import os

from lab import state
from lab.errors import LabError

PROG = "python3 -m lab"


def only_lab():
    labs = state.labs()
    env = os.environ.get("SVCLAB_LAB")
    if env:
        return env
    if len(labs) == 1:
        return labs[0]
    if not labs:
        raise LabError("no lab is up; start one with: sudo python3 -m lab up scenarios/seed.yml")
    raise LabError(f"several labs are up ({', '.join(labs)}); say which with --lab NAME")


def running(lab):
    lab = lab or only_lab()
    record = state.Record.load(lab)
    cluster_state = record.load_cluster() if record else None
    if cluster_state is None:
        raise LabError(f"lab {lab!r} is not up (see: {PROG} status)")
    return record, cluster_state


def labelled_pod(cs, label):
    """The first pod, by name, with the label ``KEY=VALUE``."""
    key, _, value = label.partition("=")
    pods = sorted((p for p in cs.pods if p.label_dict.get(key) == value), key=lambda p: p.name)
    if not pods:
        raise LabError(f"no pod has the label {key}={value}")
    return pods[0]


def resolve_target(cs, target, namespace=None):
    """The network namespace of a node, host or pod named ``target``, or of ``pod:KEY=VALUE``
    (the first pod with that label)."""
    if target.startswith("pod:") and "=" in target:
        return labelled_pod(cs, target[4:]).netns
    for n in cs.nodes:
        if target in (n.name, n.hostname):
            return n.netns
    for h in cs.hosts:
        if target == h.name:
            return h.netns
    if cs.lb is not None and target in ("lb", cs.lb.netns):
        return cs.lb.netns
    pods = [p for p in cs.pods if p.name == target and (namespace is None or p.namespace == namespace)]
    if len(pods) == 1:
        return pods[0].netns
    if len(pods) > 1:
        raise LabError(f"several pods are named {target!r}; say which namespace with -n")
    names = [n.name for n in cs.nodes] + [h.name for h in cs.hosts]
    raise LabError(f"no node, host or pod named {target!r} (nodes and hosts: {', '.join(names)}; "
                   f"pods: see {PROG} get pods -A)")
