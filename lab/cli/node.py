"""``lab node down|up NODE``: a node's LAN link goes, and the control plane reacts."""

from lab.cli.args import add_lab, number
from lab.live import changes


def add_arguments(p):
    p.add_argument("action", choices=("down", "up"))
    p.add_argument("node")
    p.add_argument("--grace", type=number(0, 3600, what="seconds"), default=5.0,
                   help="seconds until the node is NotReady and its pods leave the endpoints (5)")
    add_lab(p)


def run(args):
    changes.set_node(args.lab, args.node, args.action == "up", args.grace, say=lambda line: print(line, flush=True))
    return 0
