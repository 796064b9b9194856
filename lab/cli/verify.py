"""``lab verify SCENARIO``: run a scenario's checks against its lab, or, with ``--kubeconfig``,
against any Kubernetes cluster through its API (lab.remote; that path imports nothing that
enters a lab's namespaces)."""

import json
import sys

from lab.cli.args import number
from lab.errors import LabError
from lab.spec import scenario
from lab.verify import report


def add_arguments(p):
    p.add_argument("scenario", nargs="?")
    p.add_argument("--lab", help="the lab to check (default: the scenario's name)")
    p.add_argument("--fresh", action="store_true", help="bring the lab up first and take it down after")
    p.add_argument("--json", action="store_true")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report")
    cluster = p.add_argument_group("a Kubernetes cluster, through its API (kind, k3s, a cloud's)")
    cluster.add_argument("--kubeconfig", metavar="FILE", help="run the checks on the cluster this kubeconfig names")
    cluster.add_argument("--context", help="the kubeconfig's context (default: its current one)")
    cluster.add_argument("--namespace-prefix", metavar="P", default="",
                         help="put objects of namespace NS in PNS (e.g. ci- gives ci-default)")
    cluster.add_argument("--keep", action="store_true", help="leave what the run made on the cluster")
    cluster.add_argument("--node-map", metavar="MAP",
                         help="topology node = cluster node, e.g. master=kind-control-plane,node1=kind-worker "
                         "(default: same names, then the topology's order)")
    cluster.add_argument("--client-routes-ok", action="store_true",
                         help="send `from: client` checks from this machine even when its route to the nodes "
                         "is its default route")
    cluster.add_argument("--wait-timeout", type=number(1, 3600, what="seconds"), default=180.0, metavar="SECONDS",
                         help="how long the scenario's pods and endpoints may take (default 180)")
    cluster.add_argument("--cleanup", action="store_true",
                         help="remove what interrupted runs left on the cluster (of SCENARIO, or of every run)")


def run(args):
    remote = args.kubeconfig is not None
    if args.cleanup or not remote:
        for flag, given in (("--cleanup", args.cleanup), ("--context", args.context), ("--keep", args.keep),
                            ("--namespace-prefix", args.namespace_prefix), ("--node-map", args.node_map),
                            ("--client-routes-ok", args.client_routes_ok)):
            if given and not remote:
                raise LabError(f"{flag} goes with --kubeconfig FILE (a cluster reached through its API)")
    if remote and (args.fresh or args.lab):
        raise LabError("--kubeconfig runs the checks on a cluster: --fresh and --lab are for a lab")
    if args.cleanup:
        return _cleanup(args)
    if args.scenario is None:
        raise LabError("name a scenario file, e.g. lab verify scenarios/seed.yml")
    spec = scenario.load(args.scenario, args.lab)
    if not spec.checks:
        raise LabError(f"{args.scenario} has no checks: section")
    results = _on_cluster(spec, args) if remote else _on_lab(spec, args)
    if args.junit:
        try:
            with open(args.junit, "w") as f:
                f.write(report.junit(results, suite=f"svclab {spec.name}"))
        except OSError as exc:
            raise LabError(f"--junit {args.junit}: cannot write it: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        print(report.text(results))
    return report.exit_code(results)


def _on_lab(spec, args):
    from lab.kernel.record import find_running
    from lab.live import down, up
    from lab.verify import checks
    if args.fresh:
        up.up(args.scenario, spec.name, out=sys.stderr)
    try:
        _, cluster = find_running(spec.name)
        return checks.run_all(cluster, spec.checks)
    finally:
        if args.fresh:
            down.down(spec.name)


def _options(args):
    from lab.remote import run as remote_run
    prefix = args.namespace_prefix or ""
    if prefix and not (prefix[0].isalnum() and prefix.islower() or prefix[0].isdigit()) \
            or any(not (ch.isdigit() or ("a" <= ch <= "z") or ch == "-") for ch in prefix) or len(prefix) > 40:
        raise LabError(f"--namespace-prefix {prefix!r}: use lower-case letters, digits and '-', starting with a "
                       "letter or digit, at most 40 characters (e.g. ci-)")
    return remote_run.Options(args.kubeconfig, args.context, prefix, args.keep, args.node_map,
                              args.client_routes_ok, args.wait_timeout, sys.stderr)


def _on_cluster(spec, args):
    from lab.remote import run as remote_run
    return remote_run.Run(spec, _options(args)).verify()


def _cleanup(args):
    from lab.remote import run as remote_run
    name = scenario.load(args.scenario).name if args.scenario else None
    removed = remote_run.cleanup(_options(args), name)
    print(f"Removed {removed} objects lab verify runs left on the cluster" if removed
          else "Nothing lab verify runs left is on the cluster")
    return 0
