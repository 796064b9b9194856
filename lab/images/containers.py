"""The commands of a pod's containers whose image svclab does not serve (``kubectl run dns-test
--image=busybox -- sleep 3600``): each runs inside the pod's namespaces as ``lab exec`` runs a
command (its network and UTS namespaces, its /etc/netns files, its image's toolset first on PATH),
from /, its output in ``containers/<netns>.<container>.log`` of the lab's run directory.

Each is recorded (``container/<netns>/<container>``) as soon as it is started: while it is still
``nsenter`` its command line names the lab's directory, so ``down`` knows it for the lab's; from
the moment it enters the pod's network namespace ``ip netns pids`` finds it. When the pod goes,
every process in its namespace goes with it.
"""

import os

from lab.cluster import workloads
from lab.images import toolsets
from lab.kernel import commands, netns, processes

PREFIX = "container"
LOG_DIR = "containers"


def record_key(pod, container):
    return f"{PREFIX}/{pod.netns}/{container}"


def start(lab_record, pods):
    """Start the commands of ``pods``' unserved containers; returns how many started."""
    started = 0
    for pod in pods:
        for name, argv in workloads.commands(pod):
            os.makedirs(lab_record.path(LOG_DIR), mode=0o700, exist_ok=True)
            image = next(c.image for c in pod.containers if c.name == name)
            env = toolsets.environment(lab_record.path(), [image])
            full = commands.user_argv(pod.netns, toolsets.command(lab_record.path(), [image], argv), lab_record.lab)
            proc = processes.spawn_program(full, lab_record.path(LOG_DIR, f"{pod.netns}.{name}.log"), env)
            lab_record.add_pid(record_key(pod, name), proc.pid)
            started += 1
    return started


def stop(lab_record, netns_names, grace=1.0):
    """Stop every process in these (pod) namespaces, and what the record lists of their
    container commands (SIGTERM, SIGKILL after ``grace`` seconds)."""
    names = set(netns_names)
    keys = [k for k in lab_record.pids if k.startswith(f"{PREFIX}/") and k.split("/")[1] in names]
    found = {pid for name in names for pid in netns.pids(name)}
    found |= {lab_record.pids[k] for k in keys
              if processes.is_lab_process(lab_record.pids[k], lab_record.lab, lab_record.path())}
    if found:
        processes.stop(sorted(found), grace)
    lab_record.drop_pids(keys)
