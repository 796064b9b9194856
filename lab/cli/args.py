"""What the verbs' command lines share: the program's name, ``--lab``, kinds as kubectl spells them,
label selectors, and numbers checked against their range while the line is parsed."""

import argparse
import math
import os
import sys

from lab.errors import LabError

KINDS = {
    "pods": "pods", "pod": "pods", "po": "pods",
    "services": "services", "service": "services", "svc": "services",
    "endpoints": "endpoints", "endpoint": "endpoints", "ep": "endpoints",
    "nodes": "nodes", "node": "nodes", "no": "nodes",
    "deployments": "deployments", "deployment": "deployments", "deploy": "deployments",
}


def prog():
    return "python3 -m lab" if os.path.basename(sys.argv[0]) == "__main__.py" else "lab"


def add_lab(parser, what="which lab (default: the only lab up)"):
    parser.add_argument("--lab", help=what)


def kind(text, allowed, verb):
    """The kind ``text`` names (pods, services, ...), if ``verb`` handles it."""
    found = KINDS.get(text.lower())
    if found not in allowed:
        raise LabError(f"lab {verb} handles {', '.join(allowed)} (not {text!r})")
    return found


def number(lo, hi, integer=False, what="a number"):
    """An argparse type: a finite number within [lo, hi] (nan, inf and out-of-range values are
    refused while parsing, before anything acts)."""
    def parse(text):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value) or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text!r}: use {what} from {lo:g} to {hi:g}")
        return value
    return parse


def selector(text):
    """``key=value,key2!=value2`` as ``[(key, op, value)]``."""
    if not text:
        return []
    out = []
    for term in text.split(","):
        for op in ("!=", "==", "="):
            if op in term:
                k, v = term.split(op, 1)
                out.append((k.strip(), "!=" if op == "!=" else "=", v.strip()))
                break
        else:
            raise LabError(f"cannot read the selector {text!r}: use key=value[,key2=value2]")
    return out


def matches(labels, terms):
    return all((labels.get(k) == v) == (op == "=") for k, op, v in terms)
