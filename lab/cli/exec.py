"""``lab exec TARGET -- COMMAND``: run a command in a node, pod or host of the lab, as
``ip netns exec`` runs it (with the namespace's resolv.conf and hosts; in a pod, its image's
toolset first on PATH)."""

import os

from lab.cli.args import add_lab, prog
from lab.cluster import lookup
from lab.images import toolsets
from lab.kernel import commands
from lab.kernel.record import find_running


def add_arguments(p):
    p.usage = f"{prog()} exec TARGET [-n NAMESPACE] [--lab LAB] -- COMMAND [ARG...]"
    p.add_argument("target", help="a node (master, node1), a host (client) or a pod name")
    p.add_argument("-n", "--namespace", help="the pod's Kubernetes namespace (default: search all)")
    add_lab(p)


def run(args):
    lab_record, cluster = find_running(args.lab)
    netns_name = lookup.netns_of(cluster, args.target, args.namespace)
    images = lookup.images_of(cluster, args.target, args.namespace)
    command = toolsets.command(lab_record.path(), images, args.cmd or [os.environ.get("SHELL", "/bin/sh")])
    argv = commands.user_argv(netns_name, command, cluster.lab)
    env = toolsets.prefixed(lab_record.path(), images, os.environ)
    os.execvpe(argv[0], argv, env)
