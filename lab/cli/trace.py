"""``lab trace FROM URL``: the kernel's own trace of one new connection through netfilter
(lab.verify.trace.monitor runs it; lab.verify.trace.analysis reads it)."""

import json
import sys

from lab.cluster import lookup
from lab.errors import LabError
from lab.kernel import netns
from lab.kernel.record import PROG, find_running
from lab.verify import urls
from lab.verify.trace import analysis, monitor


def add_arguments(p):
    p.description = ("Send one new TCP connection from FROM to URL and print the kernel's netfilter trace of "
                    "its first packet (xtables-monitor --trace) in every namespace it crosses: chain, rule "
                    "and verdict, with kube-proxy's hashed chains named by service and pod.")
    p.add_argument("source", metavar="FROM", help="a node (node1, k8s-node1), a host (client) or a pod name")
    p.add_argument("url", metavar="URL", help="where to connect: http://IP:PORT[/path], IP:PORT or tcp://IP:PORT")
    p.add_argument("-n", "--namespace", help="FROM's Kubernetes namespace, when FROM is a pod")
    p.add_argument("--lab", help="which lab (default: the only lab up)")
    p.add_argument("--json", action="store_true", help="print the walk as JSON, for tools")
    p.add_argument("--raw", action="store_true", help="also print xtables-monitor's own output per namespace")


def run(args):
    record, cluster = find_running(args.lab)
    source_netns = lookup.netns_of(cluster, args.source, getattr(args, "namespace", None))
    url = urls.parse(args.url, ("http", "https", "tcp"), ipv4=True, verb="trace")
    monitor.need_tools()
    namespaces = [source_netns] + [n.netns for n in cluster.nodes if n.netns != source_netns]
    missing = [n for n in namespaces if n not in netns.existing()]
    if missing:
        raise LabError(f"lab {record.lab!r} is missing namespace {missing[0]} (see: {PROG} status)")

    with monitor.trace_lock(record.path(), record.lab), monitor.terminate_cleanly():
        outputs, probe, dscp, notes = monitor.collect(source_netns, namespaces, url.host, url.port, url.scheme,
                                                            url.path, args.url)

    walks = {ns: analysis.walk(analysis.parse_monitor(text), dscp) for ns, text in outputs.items()}
    if probe.get("src") in (None, "0.0.0.0") and walks.get(source_netns):
        first = next((h["packet"] for h in walks[source_netns]["hops"] if h.get("packet")), None)
        if first:
            probe["src"] = first.get("src")
    report = analysis.build_report(cluster, source_netns, walks, probe, args.url, args.source, notes)
    if args.json:
        if args.raw:
            report["raw"] = outputs
        print(json.dumps(report, indent=2))
    else:
        if args.raw:
            for ns, text in outputs.items():
                print(f"--- xtables-monitor --trace in {ns}")
                print(text.rstrip() or "(nothing)")
            print()
        print(analysis.format_text(report))
    if not report["namespaces"]:
        print("error: no trace events arrived from any namespace; is xtables-monitor working "
              "(try: xtables-monitor --trace)?", file=sys.stderr)
        return 1
    return 0
