"""``lab kubeconfig``: where the lab's kubeconfig is, for the real kubectl and client libraries."""

import shlex

from lab.api import client
from lab.cli.args import add_lab
from lab.kernel.record import find_running


def add_arguments(p):
    add_lab(p)
    p.add_argument("--export", action="store_true", help="print an export KUBECONFIG=... line for a shell's eval")
    p.add_argument("--inside", action="store_true",
                   help="the kubeconfig for inside the lab (the master's address, port 6443), not the host's")


def run(args):
    lab_record, _ = find_running(args.lab)
    found = client.kubeconfig_path(lab_record, args.inside)
    print(f"export KUBECONFIG={shlex.quote(found)}" if args.export else found)
    return 0
