"""``lab kubeconfig``: where the lab's kubeconfig is, for the real kubectl and client libraries."""

import os
import shlex

from lab.cli.args import add_lab
from lab.errors import LabError
from lab.kernel.record import find_running

FILES = {"host": "admin.conf", "inside": "admin-lab.conf"}


def add_arguments(p):
    add_lab(p)
    p.add_argument("--export", action="store_true", help="print an export KUBECONFIG=... line for a shell's eval")
    p.add_argument("--inside", action="store_true",
                   help="the kubeconfig for inside the lab (the master's address, port 6443), not the host's")


def path(lab_record, inside=False):
    """The lab's kubeconfig: the host's (127.0.0.1) or the one for the lab's own machines."""
    found = lab_record.path(FILES["inside" if inside else "host"])
    if not os.path.exists(found):
        raise LabError(f"lab {lab_record.lab!r} runs no API server (it came up with --no-api-server, or its "
                       f"API server failed: see {lab_record.path('kube-apiserver-master.log')}); bring it up again")
    return found


def run(args):
    lab_record, _ = find_running(args.lab)
    found = path(lab_record, args.inside)
    print(f"export KUBECONFIG={shlex.quote(found)}" if args.export else found)
    return 0
