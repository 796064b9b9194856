"""``lab verify SCENARIO``: run a scenario's checks against its lab."""

import json
import sys

from lab.errors import LabError
from lab.kernel.record import find_running
from lab.live import down, up
from lab.spec import scenario
from lab.tables import table
from lab.verify import checks


def add_arguments(p):
    p.add_argument("scenario")
    p.add_argument("--lab", help="the lab to check (default: the scenario's name)")
    p.add_argument("--fresh", action="store_true", help="bring the lab up first and take it down after")
    p.add_argument("--json", action="store_true")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report")


def run(args):
    spec = scenario.load(args.scenario, args.lab)
    if not spec.checks:
        raise LabError(f"{args.scenario} has no checks: section")
    if args.fresh:
        up.up(args.scenario, spec.name, out=sys.stderr)
    try:
        _, cluster = find_running(spec.name)
        results = checks.run_all(cluster, spec.checks)
    finally:
        if args.fresh:
            down.down(spec.name)
    if args.junit:
        try:
            with open(args.junit, "w") as f:
                f.write(checks.junit(results, suite=f"svclab {spec.name}"))
        except OSError as exc:
            raise LabError(f"--junit {args.junit}: cannot write it: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        rows = [[str(r.check.index + 1), r.check.source, r.target, r.expected or "", r.got,
                 "PASS" if r.passed else "FAIL"] for r in results]
        print(table(["#", "FROM", "TARGET", "EXPECT", "GOT", "RESULT"], rows))
        failed = sum(not r.passed for r in results)
        print(f"\n{len(results) - failed} passed, {failed} failed")
    return 0 if all(r.passed for r in results) else 1
