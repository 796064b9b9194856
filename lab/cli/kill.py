"""``lab kill pod NAME``: the pod's server dies; its ReplicaSet replaces the pod."""

from lab.cli.args import add_lab, number
from lab.live import changes


def add_arguments(p):
    p.add_argument("kind", choices=("pod",))
    p.add_argument("name")
    p.add_argument("-n", "--namespace", default="default")
    p.add_argument("--after", type=number(0, 3600, what="seconds"), default=1.0,
                   help="seconds until the control plane notices (1)")
    add_lab(p)


def run(args):
    changes.kill_pod(args.lab, args.namespace, args.name, args.after, say=print)
    return 0
