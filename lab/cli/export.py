"""``lab export SCENARIO --format mininet|ipmininet``: a scenario as a Mininet custom topology or an
IPMininet script."""

import os

from lab.cluster.build import build_cluster
from lab.errors import LabError
from lab.spec import scenario
from lab.tools.mininet import export


def add_arguments(p):
    p.add_argument("scenario", help="scenario file, e.g. scenarios/seed.yml")
    p.add_argument("--format", choices=export.FORMATS, default="mininet",
                   help="mininet: for `sudo mn --custom FILE --topo svclab --switch lxbr --controller none`; "
                   "ipmininet: an IPTopo script, `sudo python3 FILE`")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument("--name", help="lab name, overriding the scenario's")


def run(args):
    spec = scenario.load(args.scenario, args.name)
    text = export.render(build_cluster(spec), args.format, source=os.path.relpath(args.scenario))
    if not args.output:
        print(text, end="")
        return 0
    try:
        with open(args.output, "w") as f:
            f.write(text)
    except OSError as exc:
        raise LabError(f"cannot write {args.output}: {exc.strerror}") from None
    print(f"Wrote {args.output} ({args.format}). Run it with:")
    if args.format == "mininet":
        print(f"  sudo mn --custom {args.output} --topo svclab --switch lxbr --controller none")
    else:
        print(f"  sudo python3 {args.output}")
    return 0
