"""``lab export`` (a scenario as a Mininet or IPMininet topology file) and ``lab mininet-cli``."""

import os

from lab import cluster, mininet_export, running, scenario
from lab.errors import LabError


def register(sub):
    ex = sub.add_parser("export", help="write a scenario as a Mininet custom topology or an IPMininet script")
    ex.add_argument("scenario", help="scenario file, e.g. scenarios/seed.yml")
    ex.add_argument("--format", choices=mininet_export.FORMATS, default="mininet",
                    help="mininet: for `sudo mn --custom FILE --topo svclab --switch lxbr --controller none`; "
                    "ipmininet: an IPTopo script, `sudo python3 FILE`")
    ex.add_argument("-o", "--output", help="file to write (default: standard output)")
    ex.add_argument("--name", help="lab name, overriding the scenario's")
    cli = sub.add_parser("mininet-cli", help="Mininet's CLI on a running lab (pingall, node1 iptables-save, ...)")
    cli.add_argument("--lab", help="which lab (default: the only lab up)")
    return {"export": run_export, "mininet-cli": run_cli}


def run_export(args):
    spec = scenario.load(args.scenario, args.name)
    text = mininet_export.render(cluster.build(spec), args.format, source=os.path.relpath(args.scenario))
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


def run_cli(args):
    from lab import mininet_attach
    if os.geteuid() != 0:
        raise LabError("lab mininet-cli enters the lab's namespaces and needs root: run it with sudo")
    mininet_attach.import_mininet()  # a clear error before anything else when Mininet is absent
    _, cs = running.running(args.lab)
    mininet_attach.run_cli(cs)
    return 0
