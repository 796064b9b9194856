"""``lab export SCENARIO --format mininet|ipmininet|kind``: a scenario as a Mininet custom
topology, an IPMininet script, or a kind cluster configuration (with its manifests beside it)."""

import os

from lab.cluster.build import build_cluster
from lab.errors import LabError
from lab.spec import scenario
from lab.tools.kind import export as kind_export
from lab.tools.mininet import export

FORMATS = export.FORMATS + ("kind",)


def add_arguments(p):
    p.add_argument("scenario", help="scenario file, e.g. scenarios/seed.yml")
    p.add_argument("--format", choices=FORMATS, default="mininet",
                   help="mininet: for `sudo mn --custom FILE --topo svclab --switch lxbr --controller none`; "
                   "ipmininet: an IPTopo script, `sudo python3 FILE`; kind: for `kind create cluster --config FILE` "
                   "(the manifests go to FILE's .manifests.yml)")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument("--name", help="lab name, overriding the scenario's")


def _write(path, text):
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as exc:
        raise LabError(f"cannot write {path}: {exc.strerror}") from None


def manifests_path(output):
    root, _ = os.path.splitext(output)
    return root + ".manifests.yml"


def run(args):
    spec = scenario.load(args.scenario, args.name)
    source = os.path.relpath(args.scenario)
    if args.format == "kind":
        extra = manifests_path(args.output) if args.output else None
        text = kind_export.render(spec, build_cluster(spec), source, extra)
    else:
        text = export.render(build_cluster(spec), args.format, source=source)
    if not args.output:
        print(text, end="")
        return 0
    _write(args.output, text)
    if args.format == "kind":
        _write(extra, kind_export.render_manifests(spec, source))
        print(f"Wrote {args.output} (kind) and {extra} (the manifests). Then:")
        print(f"  kind create cluster --config {args.output}")
        print(f"  python3 -m lab verify {source} --kubeconfig ~/.kube/config --context kind-{spec.name}")
        return 0
    print(f"Wrote {args.output} ({args.format}). Run it with:")
    if args.format == "mininet":
        print(f"  sudo mn --custom {args.output} --topo svclab --switch lxbr --controller none")
    else:
        print(f"  sudo python3 {args.output}")
    return 0
