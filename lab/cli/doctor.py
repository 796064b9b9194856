"""``lab doctor``: check what the host needs (root, kernel features, iptables backend, nginx,
tools) and say how to fix each gap. Exit 0 when every required check passes, 1 otherwise."""

import json
import sys

from lab.tools import doctor


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="the results as JSON")


def run(args):
    results = doctor.evaluate(doctor.probe())
    code = doctor.exit_code(results)
    if args.json:
        print(json.dumps({"ok": code == 0, "checks": [r.as_dict() for r in results]}, indent=2))
        return code
    unicode = (getattr(sys.stdout, "encoding", "") or "").lower().startswith("utf")
    for line in doctor.render(results, unicode):
        print(line)
    print(doctor.summary(results))
    return code
