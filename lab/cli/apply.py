"""``lab apply -f FILE``: apply manifests to a running lab, like kubectl apply."""

from lab.cli.args import add_lab
from lab.live import changes


def add_arguments(p):
    p.add_argument("-f", "--filename", required=True)
    add_lab(p)


def run(args):
    changes.apply_file(args.lab, args.filename, say=print)
    return 0
