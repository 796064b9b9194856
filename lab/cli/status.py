"""``lab status``: which labs are up."""

import json

from lab.live import status
from lab.tables import human_age, table


def add_arguments(p):
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")


def run(args):
    rows = status.rows()
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No labs are up.")
        return 0
    print(table(["LAB", "PHASE", "NAMESPACES", "DAEMONS", "AGE", "SCENARIO"],
                [[r["lab"], r["phase"], f"{r['namespaces_present']}/{r['namespaces']}",
                  f"{r['daemons_running']}/{r['daemons']}", human_age(r["age"]), r["scenario"]] for r in rows]))
    return 0
