"""``lab probe``: packet-level probes from inside the lab's namespaces (scapy).

  lab probe nodeport FROM NODE PORT     a SYN to NODE's NodePort, followed hop by hop to the pod
  lab probe clusterip FROM IP           ARP and a SYN for a ClusterIP, from a machine on the LAN

The probes are lab.verify.probes; this module parses, runs one and prints its report.
"""

import json

from lab.cli.args import number
from lab.kernel.record import find_running
from lab.verify import packets, probes


def add_arguments(p):
    p.description = ("Send a real SYN from inside a lab machine and capture it where it passes: the addresses "
                    "before and after kube-proxy's DNAT and SNAT, hop by hop.")
    kinds = p.add_subparsers(dest="probe", metavar="PROBE")
    kinds.required = True

    np = kinds.add_parser("nodeport", help="SYN from FROM to NODE's IP:PORT, captured where it lands",
                          description="Connect from FROM to NODE's address on a NodePort, capture the SYN on "
                                      "FROM's eth0, on every node's eth0 and in every endpoint pod, and show "
                                      "the DNAT and SNAT (or its absence) hop by hop.")
    np.add_argument("source", metavar="FROM", help="where the SYN starts: a host (client), a node or a pod")
    np.add_argument("node", metavar="NODE", help="the node whose NodePort is called (node1, k8s-node1)")
    np.add_argument("port", metavar="PORT", type=number(1, 65535, integer=True, what="a port"),
                    help="the NodePort, e.g. 30090")
    np.add_argument("--timeout", type=number(0.01, 10, what="seconds"), default=2.0, help="seconds to wait for the connection (default 2)")

    ci = kinds.add_parser("clusterip", help="ARP and SYN for a ClusterIP from FROM: unreachable from the LAN",
                          description="From FROM's eth0, ask ARP who has the ClusterIP and try a TCP connect "
                                      "to it, capturing where the SYN goes. From the LAN nobody answers; from "
                                      "a node the DNAT shows.")
    ci.add_argument("source", metavar="FROM", help="where the probe starts: a host (client), a node or a pod")
    ci.add_argument("ip", metavar="IP", help="a service's ClusterIP, e.g. 10.105.182.209")
    ci.add_argument("--port", type=number(1, 65535, integer=True, what="a port"), help="the service port (default: the service's first TCP port)")
    ci.add_argument("--timeout", type=number(0.01, 10, what="seconds"), default=1.0, help="seconds to wait for ARP and TCP (default 1)")

    for sp in (np, ci):
        sp.add_argument("--lab", help="which lab (default: the only lab up)")
        sp.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args):
    _, cluster = find_running(args.lab)
    if args.probe == "nodeport":
        report = probes.probe_nodeport(cluster, args.source, args.node, args.port, args.timeout)
        text = packets.format_nodeport
    else:
        report = probes.probe_clusterip(cluster, args.source, args.ip, args.port, args.timeout)
        text = packets.format_clusterip
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(text(report), end="")
    return 0
