"""``lab dist FROM URL``: N new connections, how they spread over the pods (chi-square test)."""

import json
import sys

from lab.classroom import plots
from lab.cli.args import add_lab, number
from lab.cluster import lookup
from lab.kernel.record import find_running
from lab.verify import dist


def add_arguments(p):
    p.add_argument("source", help="client, a node or a pod")
    p.add_argument("url")
    p.add_argument("-n", type=number(10, 100000, integer=True, what="a number of requests"), default=1000)
    add_lab(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the counts per pod, the expected split and "
                   "the p-value as a bar chart (needs matplotlib)")


def run(args):
    if args.plot:
        plots.check(args.plot)
    _, cluster = find_running(args.lab)
    netns_name = lookup.netns_of(cluster, args.source)
    result = dist.measure(cluster, netns_name, args.source, args.url, args.n)
    print(json.dumps(result.as_dict(), indent=2) if args.json else dist.report(result))
    if args.plot:
        plots.write(result, args.plot)
        print(f"Plot: {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0 if result.passed else 1
