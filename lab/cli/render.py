"""``lab render``: the rules kube-proxy would write on one node for some manifests. No root, no lab."""

from lab.proxy import offline
from lab.spec import scenario


def add_arguments(r):
    r.add_argument("mode", choices=("iptables", "nftables"))
    r.add_argument("files", nargs="+", metavar="FILE", help="manifests: Services, Deployments, Pods, "
                   "EndpointSlices, Endpoints (multi-document YAML)")
    r.add_argument("--node", help="the node kube-proxy runs on (default: hostnameOverride, else the first node)")
    r.add_argument("--profile", choices=scenario.PROFILES, default="current")
    r.add_argument("--form", choices=("save", "restore"), default="save",
                   help="save: what iptables-save / nft list table prints; restore: what kube-proxy feeds "
                   "iptables-restore / nft -f")
    r.add_argument("--config", help="a KubeProxyConfiguration file")
    r.add_argument("--node-ip", action="append", default=[], help="the node's address (repeatable)")
    r.add_argument("--topology", help="machines and pod CIDRs (default: the seed's three nodes)")
    r.add_argument("--cluster-cidr", default="10.244.0.0/16")
    r.add_argument("--service-cidr", default="10.96.0.0/12")
    r.add_argument("--service-node-port-range", default="30000-32767", help="as kube-apiserver's flag")
    r.add_argument("--no-random-fully", action="store_true", help="iptables without MASQUERADE --random-fully")
    r.add_argument("--nfacct", action="store_true", help="nfacct counters present on the host")
    r.add_argument("--all-services", action="store_true", help="also the cluster's own (kubernetes, kube-dns)")


def run(args):
    print(offline.render_manifests(
        args.files, args.mode, node=args.node, profile=args.profile, form=args.form, config=args.config,
        node_ips=args.node_ip, topology_file=args.topology, cluster_cidr=args.cluster_cidr,
        service_cidr=args.service_cidr, node_port_range=args.service_node_port_range,
        random_fully=not args.no_random_fully, nfacct=args.nfacct, all_services=args.all_services), end="")
    return 0
