"""``lab events``: what happened, like kubectl get events."""

from lab.cli.args import add_lab
from lab.kernel.record import find_running
from lab.live import events


def add_arguments(p):
    add_lab(p)


def run(args):
    lab_record, _ = find_running(args.lab)
    print(events.table(events.load(lab_record)))
    return 0
