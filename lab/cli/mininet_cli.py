"""``lab mininet-cli``: Mininet's CLI over a running lab (pingall, node1 iptables-save, ...)."""

import os

from lab.cli.args import add_lab
from lab.errors import LabError
from lab.kernel.record import find_running


def add_arguments(p):
    add_lab(p)


def run(args):
    from lab.tools.mininet import attach
    if os.geteuid() != 0:
        raise LabError("lab mininet-cli enters the lab's namespaces and needs root: run it with sudo")
    attach.import_mininet()  # a clear error before anything else when Mininet is absent
    _, cluster = find_running(args.lab)
    attach.run_cli(cluster)
    return 0
