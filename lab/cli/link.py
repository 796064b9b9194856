"""``lab link MACHINE down|up``: unplug or plug a machine's LAN link; the control plane does not react."""

from lab.cli.args import add_lab
from lab.live import changes


def add_arguments(p):
    p.add_argument("machine")
    p.add_argument("action", choices=("down", "up"))
    add_lab(p)


def run(args):
    changes.set_link(args.lab, args.machine, args.action == "up", say=print)
    return 0
