"""``lab doctor``: check what the host needs (root, kernel features, iptables backend, nginx,
tools) and say how to fix each gap. Exit 0 when every required check passes, 1 otherwise."""

import json
import sys

from lab import doctor


def register(sub):
    d = sub.add_parser("doctor", help="check the host: root, kernel features, iptables, nginx, tools; "
                       "exit 0 ready, 1 something to fix")
    d.add_argument("--json", action="store_true", help="the results as JSON")
    return "doctor"


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
