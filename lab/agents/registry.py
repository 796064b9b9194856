"""The lab's agents by kind: what each is called, and where the lab finds it.

One ``AgentKind`` per daemon the lab runs. A kind names, for one instance (a node group's
``key``, or ``lb`` for the load balancer's), its record entry (``kube-proxy/node1``, holding
the PID), its acknowledgement file (``acks/kube-proxy-node1``: the generation of the cluster
state it has applied), its log, and the spec file a pod server follows. Every signal the lab
sends to an agent goes through ``signal``, which trusts a recorded PID only while its command
line still names the lab.
"""

import os

from lab.kernel import processes


class AgentKind:
    """(a plain class: dataclasses' imports would cost ``down`` 20 ms)"""

    __slots__ = ("name", "module", "pod_app")

    def __init__(self, name, module, pod_app=False):
        self.name = name  # the process's name in ps, netstat and ss (argv[0])
        self.module = module  # what it runs: python3 -m <module>
        self.pod_app = pod_app  # serves the pods of one app (its spec file lists them)

    def __repr__(self):
        return f"AgentKind({self.name!r}, {self.module!r}, pod_app={self.pod_app})"

    def record_key(self, key):
        return f"{self.name}/{key}"

    def ack_name(self, key):
        return f"{self.name}-{key}"

    def log_file(self, key):
        return f"{self.name}-{key}.log"

    def spec_file(self, key):
        return f"{self.name}-{key}.json"


KUBE_PROXY = AgentKind("kube-proxy", "lab.agents.kubeproxy")
KUBIA = AgentKind("kubia", "lab.agents.web", pod_app=True)
ECHO = AgentKind("echo", "lab.agents.web", pod_app=True)
COREDNS = AgentKind("coredns", "lab.agents.coredns", pod_app=True)
LB_CONTROLLER = AgentKind("lb-controller", "lab.agents.lbcontroller")
API_SERVER = AgentKind("kube-apiserver", "lab.api.daemon")  # in the master's namespace; a loopback port of the host
NGINX = AgentKind("nginx", "")  # the real nginx, started by lab.agents.loadbalancer

LB_KEY = "lb"  # the load balancer's agents: one of each per lab
MASTER_KEY = "master"  # the API server: one per lab, serving on the master node's address
POD_APPS = {kind.name: kind for kind in (KUBIA, ECHO, COREDNS)}
KINDS = (KUBE_PROXY, KUBIA, ECHO, COREDNS, LB_CONTROLLER, NGINX, API_SERVER)


def kind_of(record_key):
    """The AgentKind of a record entry (``kube-proxy/node1``)."""
    name = record_key.split("/", 1)[0]
    return next((k for k in KINDS if k.name == name), None)


def pid_of(record, kind, key):
    """The PID of a running agent of this lab, or None (not recorded, gone, or its PID reused)."""
    pid = record.pids.get(kind.record_key(key))
    if pid and processes.is_lab_process(pid, record.lab, record.path()):
        return pid
    return None


def signal(record, kind, key, sig):
    """Send ``sig`` to the lab's agent; False when it is not running."""
    pid = pid_of(record, kind, key)
    if pid is None:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True
