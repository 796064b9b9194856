"""``lab diagram``: a picture of a lab's network with its services, from a running lab or a
scenario file (no root, no lab). Mermaid or DOT text; SVG or PNG through Graphviz's ``dot``."""

import os
import sys

from lab.classroom import diagram
from lab.cluster.build import build_cluster
from lab.errors import LabError
from lab.kernel.record import find_running
from lab.spec import scenario

FORMATS = ("mermaid", "dot", "svg", "png")
EXTENSIONS = {".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png"}


def add_arguments(d):
    d.add_argument("scenario", nargs="?", help="draw this scenario file instead of a running lab (no root needed)")
    d.add_argument("--lab", help="which running lab (default: the only lab up)")
    d.add_argument("--format", choices=FORMATS,
                   help="mermaid (the default), dot, or svg/png rendered by Graphviz; "
                   "default: from the -o file's extension")
    d.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    d.add_argument("--all", action="store_true", help="also the cluster's own objects: kube-system's pods "
                   "and services (cluster DNS) and the kubernetes service")


def choose_format(fmt, output):
    if fmt:
        return fmt
    if output:
        ext = os.path.splitext(output)[1].lower()
        if ext not in EXTENSIONS:
            raise LabError(f"-o {output}: cannot tell the format from {ext or 'no extension'!r}; "
                           f"name it .mmd, .dot, .svg or .png, or say --format {'|'.join(FORMATS)}")
        return EXTENSIONS[ext]
    return "mermaid"


def cluster_of(args):
    if args.scenario and args.lab is not None:
        raise LabError("give a scenario file or --lab LAB, not both")
    if args.scenario:
        return build_cluster(scenario.load(args.scenario))
    return find_running(args.lab)[1]


def run(args):
    fmt = choose_format(args.format, args.output)
    if fmt == "png" and not args.output and sys.stdout.isatty():
        raise LabError("a PNG is binary: write it to a file with -o FILE.png (or pipe the output)")
    scene = diagram.scene(cluster_of(args), include_system=args.all)
    if fmt == "mermaid":
        data = diagram.mermaid(scene).encode()
    elif fmt == "dot":
        data = diagram.dot(scene).encode()
    else:
        data = diagram.render_with_dot(diagram.dot(scene), fmt)
    if args.output:
        try:
            with open(args.output, "wb") as f:
                f.write(data)
        except OSError as exc:
            raise LabError(f"cannot write -o {args.output}: {exc.strerror}") from None
        print(f"Wrote {args.output} ({fmt}, {len(data)} bytes).", file=sys.stderr)
    elif fmt in ("mermaid", "dot", "svg"):
        sys.stdout.write(data.decode())
    else:
        try:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except BrokenPipeError:  # the reader went away (| head): nothing left to tell it
            pass
    return 0
