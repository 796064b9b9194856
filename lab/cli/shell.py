"""``lab shell TARGET``: an interactive shell on a node (``[root@k8s-master service]#``, with
kubectl set up for the lab and the scenario's manifests at hand), a host, or in a pod."""

import os

from lab.api import client
from lab.classroom import shell
from lab.cli.args import add_lab, prog
from lab.errors import LabError
from lab.kernel.record import find_running


def add_arguments(p):
    p.usage = f"{prog()} shell TARGET [-n NAMESPACE] [--lab LAB]"
    p.add_argument("target", help="a node (master, k8s-node1), a host (client) or a pod name")
    p.add_argument("-n", "--namespace", help="the pod's Kubernetes namespace (TARGET is then a pod)")
    add_lab(p)


def run(args):
    lab_record, cluster = find_running(args.lab)
    try:
        kubeconfig = client.kubeconfig_path(lab_record, inside=True)
    except LabError:  # a lab without its API server: no kubectl, the rest of the shell still works
        kubeconfig = None
    found = shell.prepare(lab_record, cluster, args.target, args.namespace, kubeconfig)
    os.chdir(found.cwd)
    os.execvpe(found.argv[0], list(found.argv), found.env)
