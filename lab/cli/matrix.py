"""``lab matrix``: who reaches what, sources x targets, against what Kubernetes promises."""

import json

from lab.cli.args import add_lab, number
from lab.kernel.record import find_running
from lab.verify import matrix


def add_arguments(p):
    add_lab(p)
    p.add_argument("--timeout", type=number(0.1, 30, what="seconds"), default=1.0)
    p.add_argument("--json", action="store_true")


def run(args):
    _, cluster = find_running(args.lab)
    srcs, tgts, cells = matrix.measure(cluster, args.timeout)
    if args.json:
        print(json.dumps(matrix.as_json(srcs, tgts, cells), indent=2))
    else:
        print(matrix.render(srcs, tgts, cells))
    return 1 if any(c.deviation for c in cells.values()) else 0
