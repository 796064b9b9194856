"""``lab lb config``: the front load balancer's nginx configuration, as it is now."""

import os

from lab.agents import loadbalancer
from lab.cli.args import add_lab
from lab.errors import LabError
from lab.kernel.record import find_running


def add_arguments(p):
    p.add_argument("what", choices=("config",))
    add_lab(p)


def run(args):
    lab_record, cluster = find_running(args.lab)
    path = loadbalancer.config_path(lab_record)
    if cluster.lb is None:
        raise LabError(f"lab {lab_record.lab!r} has no load balancer (its topology has no loadBalancer)")
    if not os.path.exists(path):
        raise LabError(f"lab {lab_record.lab!r} runs no nginx: its scenario has no frontend and no LoadBalancer "
                       "address")
    with open(path) as f:
        print(f.read(), end="")
    return 0
