"""``lab bench proxy``: kube-proxy's rule load time and first-packet latency against the number of
services, iptables mode against nftables mode (``lab.scaling_study``, ``lab.scaling_runtime``)."""

import os
import sys

from lab.errors import LabError
from lab.tools.bench import proxy_study as study


def add_arguments(bench):
    which = bench.add_subparsers(dest="bench", metavar="BENCH")
    which.required = True
    p = which.add_parser("proxy", help="rule load time and connect latency vs S services, iptables vs nftables",
                         description="For each S, a node namespace gets kube-proxy's rules for S ClusterIP "
                         "services (2 endpoints each); measures the rules' load time and connect() latency "
                         "from a pod to the first and last service and to a pod directly.")
    add_options(p)


def add_options(p):
    sizes = ",".join(str(s) for s in study.DEFAULT_SIZES)
    p.add_argument("--sizes", default=sizes, help=f"numbers of services, comma-separated (default {sizes})")
    p.add_argument("--modes", default=",".join(study.MODES), help="iptables,nftables (default both)")
    p.add_argument("--connections", type=int, default=study.Options.connections,
                   help="timed new connections per target and run (default %(default)s)")
    p.add_argument("--warmup", type=int, default=study.Options.warmup,
                   help="untimed connections first (default %(default)s)")
    p.add_argument("--runs", type=int, default=study.Options.runs,
                   help="loads and measurement rounds per S and mode (default %(default)s)")
    p.add_argument("--no-baseline", action="store_true", help="skip the node without rules")
    p.add_argument("--plot", metavar="FILE.png", help="also write the two-panel plot")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    p.add_argument("--name", help="prefix of the study's namespaces and state record (default bproxy<pid>)")


def options_from(args):
    if args.plot:
        if not args.plot.lower().endswith(".png"):
            raise LabError(f"--plot: {args.plot!r} should be a .png file")
        folder = os.path.dirname(os.path.abspath(args.plot))
        if not os.path.isdir(folder):
            raise LabError(f"--plot: the directory {folder} does not exist")
        study.plotting()  # before a study of minutes, not after
    if args.name is not None and (not args.name.replace("-", "").isalnum() or len(args.name) > 20):
        raise LabError(f"--name: {args.name!r} should be letters, digits and dashes, at most 20 characters")
    return study.Options(sizes=study.parse_sizes(args.sizes), modes=study.parse_modes(args.modes),
                         connections=study.positive("--connections", args.connections),
                         warmup=study.positive("--warmup", args.warmup, 0),
                         runs=study.positive("--runs", args.runs), baseline=not args.no_baseline)


def run(args):
    options = options_from(args)
    from lab.tools.bench import proxy_testbed  # only once the options are known good
    results = proxy_testbed.run(options, args.name)
    if args.json:
        print(study.to_json(results, options))
    else:
        print(study.table(results))
        print()
        print(study.legend(options))
    if args.plot:
        study.plot(results, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0
