"""The commands of a pod's containers whose image svclab does not serve (``kubectl run dns-test
--image=busybox -- sleep 3600``): each runs inside the pod's namespaces as ``lab exec`` runs a
command (its network and UTS namespaces, its /etc/netns files, its image's toolset first on PATH),
from /, its output in ``containers/<netns>.<container>.log`` of the lab's run directory. A
hostNetwork pod's run in its node's namespaces (network, hostname, /etc files).

Each is recorded (``container/<netns>/<container>``) as soon as it is started: while it is still
``nsenter`` its command line names the lab's directory, so ``down`` knows it for the lab's; from
the moment it enters the pod's network namespace ``ip netns pids`` finds it. Each also carries
``SVCLAB_POD=<lab>/<netns>`` in its environment, and so does all it starts (and what ``kubectl
exec`` runs in the pod). When the pod goes, every process in its own namespace goes with it; a
hostNetwork pod shares its node's, so only the processes carrying its mark go, never the node's.
"""

import os

from lab.cluster import workloads
from lab.images import toolsets
from lab.kernel import commands, netns, processes

PREFIX = "container"
LOG_DIR = "containers"


MARK = "SVCLAB_POD"


def record_key(pod, container):
    return f"{PREFIX}/{pod.netns}/{container}"


def mark(lab, pod_netns):
    """The environment entry that names the processes of the pod ``pod_netns`` of ``lab``."""
    return {MARK: f"{lab}/{pod_netns}"}


def start(lab_record, pods):
    """Start the commands of ``pods``' unserved containers; returns how many started."""
    started = 0
    for pod in pods:
        for name, argv in workloads.commands(pod):
            os.makedirs(lab_record.path(LOG_DIR), mode=0o700, exist_ok=True)
            image = next(c.image for c in pod.containers if c.name == name)
            env = toolsets.environment(lab_record.path(), [image]) | mark(lab_record.lab, pod.netns)
            full = commands.user_argv(pod.exec_netns, toolsets.command(lab_record.path(), [image], argv),
                                      lab_record.lab)
            proc = processes.spawn_program(full, lab_record.path(LOG_DIR, f"{pod.netns}.{name}.log"), env)
            lab_record.add_pid(record_key(pod, name), proc.pid)
            started += 1
    return started


def stop(lab_record, netns_names, grace=1.0):
    """Stop the processes of these pods (named by their own namespace's name): every process in
    the pod's namespace (a hostNetwork pod has none: the name exists only as its mark), those that
    carry its mark, and what the record lists of its container commands while they still name the
    lab (SIGTERM, SIGKILL after ``grace`` seconds)."""
    names = set(netns_names)
    keys = [k for k in lab_record.pids if k.startswith(f"{PREFIX}/") and k.split("/")[1] in names]
    found = {pid for name in names for pid in netns.pids(name)}
    found |= set(processes.carrying({f"{var}={value}" for name in names
                                     for var, value in mark(lab_record.lab, name).items()}))
    found |= {lab_record.pids[k] for k in keys
              if processes.is_lab_process(lab_record.pids[k], lab_record.lab, lab_record.path())}
    found.discard(os.getpid())
    if found:
        processes.stop(sorted(found), grace)
    lab_record.drop_pids(keys)
