"""``lab``: bring Kubernetes Service networking up in network namespaces, look at it, take it down.

The verb index below is the whole command line: each verb is the module of the same name in
this package (``mininet-cli`` is ``mininet_cli``), with ``add_arguments(parser)`` and
``run(args) -> exit code``. Only the verb being run is imported.
"""

import argparse
import importlib
import os
import sys

from lab.cli import args as cli_args
from lab.errors import InternalError, LabError

VERBS = (
    ("up", "bring a lab up from a scenario file"),
    ("down", "take a lab down: every namespace, process and file it made"),
    ("status", "which labs are up"),
    ("get", "list pods, services, endpoints or nodes, like kubectl get"),
    ("describe", "describe a service, like kubectl describe"),
    ("exec", "run a command in a node, pod or host of the lab"),
    ("shell", "an interactive shell on a node ([root@k8s-master service]#, kubectl set up) or in a pod"),
    ("kubeconfig", "the lab's kubeconfig for the real kubectl (--export: an export KUBECONFIG= line)"),
    ("apply", "apply manifests to a running lab (new or changed objects), like kubectl apply"),
    ("delete", "delete a pod (its Deployment replaces it), a service or a deployment"),
    ("kill", "kill a pod's server: its Deployment replaces it, endpoints follow"),
    ("node", "a node goes down (its LAN link) or comes back"),
    ("link", "unplug or plug a machine's LAN link (the control plane does not react)"),
    ("events", "what happened, like kubectl get events"),
    ("lb", "the front load balancer: lb config prints its nginx configuration"),
    ("verify", "run a scenario's checks: exit 0 all pass, 1 some fail, 2 bad input or no lab"),
    ("matrix", "who reaches what: sources x targets, against Kubernetes semantics"),
    ("dist", "N new connections: how they spread over pods (chi-square test)"),
    ("probe", "packet-level probes (scapy): follow a SYN to a NodePort, show a ClusterIP from the LAN"),
    ("trace", "the kernel's trace of one new connection through netfilter, namespace by namespace"),
    ("explain", "a service's paths through each node's real rules, or a pod's plumbing, in words"),
    ("exercise", "classroom exercises: list, start NAME, check, hint, reset"),
    ("diagram", "the lab's network and services as a picture (Mermaid, DOT, SVG, PNG)"),
    ("ui", "the lab as a live page on 127.0.0.1 (picture, new connections per pod, exercise); Ctrl-C stops"),
    ("render", "the rules kube-proxy would write on a node for these manifests (no root)"),
    ("export", "write a scenario as a Mininet custom topology, an IPMininet script or a kind cluster configuration"),
    ("mininet-cli", "Mininet's CLI on a running lab (pingall, node1 iptables-save, ...)"),
    ("bench", "measure svclab's data path (bench proxy: kube-proxy modes vs services)"),
    ("doctor", "check the host: root, kernel features, iptables, nginx, tools; exit 0 ready, 1 something to fix"),
)


def verb_module(verb):
    return importlib.import_module(f"lab.cli.{verb.replace('-', '_')}")


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as svclab's: one line on stderr (no usage block), exit code 2."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {' '.join(message.split())} (see: {self.prog} --help)\n")


def build_parser(verb=None):
    """The command line; only ``verb`` (when given) gets its own arguments."""
    prog = cli_args.prog()
    p = _Parser(
        prog=prog, description="Kubernetes Service networking, built for real out of Linux network namespaces.",
        epilog="Start with: sudo python3 -m lab up scenarios/seed.yml")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help_text in VERBS:
        verb_parser = sub.add_parser(name, help=help_text, description=help_text[:1].upper() + help_text[1:] + ".")
        if name == verb:
            verb_module(name).add_arguments(verb_parser)
    return p


def parse_args(argv):
    """The command line read: the verb's own arguments are known only once it is seen."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return build_parser(first if first in dict(VERBS) else None).parse_args(argv)


class _PipeSafe:
    """stdout that goes quiet when its reader has gone (``lab up | head``), instead of failing
    halfway through an ``up`` and tearing the lab down."""

    def __init__(self, stream):
        self.stream, self.closed_pipe = stream, False

    def write(self, text):
        if not self.closed_pipe:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                self.closed_pipe = True
        return len(text)

    def flush(self):
        if not self.closed_pipe:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self.closed_pipe = True

    def __getattr__(self, name):
        return getattr(self.stream, name)


def main(argv=None):
    if not isinstance(sys.stdout, _PipeSafe):
        sys.stdout = _PipeSafe(sys.stdout)
    argv = list(sys.argv[1:] if argv is None else argv)
    command = []
    if argv[:1] == ["exec"] and "--" in argv:  # everything after -- is the command, options included
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1:]
    args = parse_args(argv)
    args.cmd = command
    try:
        return verb_module(args.command).run(args)
    except (LabError, InternalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except PermissionError as exc:
        if os.geteuid() != 0:
            print("error: needs root: run it with sudo", file=sys.stderr)
            return LabError.exit_code
        return _internal(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, and the traceback only when asked for
        return _internal(exc)


def _internal(exc):
    if os.environ.get("SVCLAB_DEBUG"):
        raise exc
    import traceback
    where = traceback.extract_tb(exc.__traceback__)[-1]
    print(f"error: internal error: {type(exc).__name__}: {exc} (at {os.path.basename(where.filename)}:"
          f"{where.lineno}; SVCLAB_DEBUG=1 shows the traceback)", file=sys.stderr)
    return InternalError.exit_code
