"""``lab down [LAB|SCENARIO]``: take a lab down."""

import os

from lab.errors import LabError
from lab.kernel.record import only_lab
from lab.live import down
from lab.spec import yamlfiles


def add_arguments(p):
    p.add_argument("target", nargs="?", help="scenario file or lab name (default: the only lab up)")
    p.add_argument("--name", help="lab name, when the scenario was brought up with --name")


def run(args):
    lab = _lab_of_target(args.target, args.name)
    if down.down(lab):
        print(f"Lab {lab!r} is down.")
    else:
        print(f"Lab {lab!r} is not up; nothing to do.")
    return 0


def _lab_of_target(target, name):
    if name:
        return name
    if target and os.path.isfile(target):
        try:
            doc = yamlfiles.load_single(target)
            return doc.get("name", "k8s") if isinstance(doc, dict) else "k8s"
        except LabError:
            return "k8s"
    return target if target is not None else only_lab()
