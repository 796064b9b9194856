"""What every agent shares with the lab that starts it: its command line (``--lab NAME``, the
ready pipe, its instance ``--key``), and the acknowledgement of each cluster-state generation it
has applied (``acks/<name>``, which live changes wait for)."""

import argparse
import os

from lab.kernel.files import write_atomic


def parse_args(description, extra=()):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--lab", required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--key", help="which instance: the node group it serves (registry.AgentKind)")
    for flag, kwargs in extra:
        parser.add_argument(flag, **kwargs)
    return parser.parse_args()


def acknowledge(state_dir, ack_name):
    """Tell ``lab`` which generation of the lab's state this agent has now applied."""
    try:
        with open(os.path.join(state_dir, "generation")) as f:
            generation = f.read().strip() or "0"
    except FileNotFoundError:
        generation = "0"
    acks = os.path.join(state_dir, "acks")
    os.makedirs(acks, exist_ok=True)
    write_atomic(os.path.join(acks, ack_name), generation)
