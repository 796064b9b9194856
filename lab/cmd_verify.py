"""``lab verify``, ``lab matrix`` and ``lab dist``: is the lab doing what Kubernetes promises?"""

import json
import sys

from lab import checks, dist, lifecycle, matrix, plots, running, scenario
from lab.errors import LabError


def register(sub):
    v = sub.add_parser("verify", help="run a scenario's checks: exit 0 all pass, 1 some fail, 2 bad input or no lab")
    v.add_argument("scenario")
    v.add_argument("--lab", help="the lab to check (default: the scenario's name)")
    v.add_argument("--fresh", action="store_true", help="bring the lab up first and take it down after")
    v.add_argument("--json", action="store_true")
    v.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report")

    m = sub.add_parser("matrix", help="who reaches what: sources x targets, against Kubernetes semantics")
    m.add_argument("--lab")
    m.add_argument("--timeout", type=float, default=1.0)
    m.add_argument("--json", action="store_true")

    d = sub.add_parser("dist", help="N new connections: how they spread over pods (chi-square test)")
    d.add_argument("source", help="client, a node or a pod")
    d.add_argument("url")
    d.add_argument("-n", type=int, default=1000)
    d.add_argument("--lab")
    d.add_argument("--json", action="store_true")
    d.add_argument("--plot", metavar="FILE.png", help="also draw the counts per pod, the expected split and "
                   "the p-value as a bar chart (needs matplotlib)")
    return {"verify": run_verify, "matrix": run_matrix, "dist": run_dist}


def run_verify(args):
    spec = scenario.load(args.scenario, args.lab)
    if not spec.checks:
        raise LabError(f"{args.scenario} has no checks: section")
    if args.fresh:
        lifecycle.up(args.scenario, spec.name, out=sys.stderr)
    try:
        _, state = running.running(spec.name)
        results = checks.run_all(state, spec.checks)
    finally:
        if args.fresh:
            lifecycle.down(spec.name)
    if args.junit:
        with open(args.junit, "w") as f:
            f.write(checks.junit(results, suite=f"svclab {spec.name}"))
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        from lab import views
        rows = [[str(r.check.index + 1), r.check.source, r.target, r.expected or "", r.got,
                 "PASS" if r.passed else "FAIL"] for r in results]
        print(views.table(["#", "FROM", "TARGET", "EXPECT", "GOT", "RESULT"], rows))
        failed = sum(not r.passed for r in results)
        print(f"\n{len(results) - failed} passed, {failed} failed")
    return 0 if all(r.passed for r in results) else 1


def run_matrix(args):
    _, state = running.running(args.lab)
    srcs, tgts, cells = matrix.measure(state, args.timeout)
    if args.json:
        print(json.dumps(matrix.as_json(srcs, tgts, cells), indent=2))
    else:
        print(matrix.render(srcs, tgts, cells))
    return 1 if any(c.deviation for c in cells.values()) else 0


def run_dist(args):
    if not 10 <= args.n <= 100000:
        raise LabError(f"-n {args.n}: use 10 to 100000 requests")
    if args.plot:
        plots.check(args.plot)
    _, state = running.running(args.lab)
    netns_name = running.resolve_target(state, args.source)
    result = dist.measure(state, netns_name, args.source, args.url, args.n)
    print(json.dumps(result.as_dict(), indent=2) if args.json else dist.report(result))
    if args.plot:
        plots.write(result, args.plot)
        print(f"Plot: {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0 if result.passed else 1
