"""``lab render``: the rules kube-proxy would write on one node for some manifests. No root, no lab."""

import dataclasses
import os

from lab import cluster, manifests, model, proxyconfig, scenario, topology, yamlfiles
from lab.errors import LabError
from lab.fields import Field
from lab.proxy import iptables, nftlist, saveform

DEFAULT_TOPOLOGY = {
    "lan": {"cidr": "192.168.179.0/24", "gateway": "192.168.179.1"},
    "nodes": [{"name": "master", "ip": "192.168.179.99", "podCIDR": "10.244.0.0/24"},
              {"name": "node1", "ip": "192.168.179.100", "podCIDR": "10.244.1.0/24"},
              {"name": "node2", "ip": "192.168.179.101", "podCIDR": "10.244.2.0/24"}],
}


def register(sub):
    r = sub.add_parser("render", help="the rules kube-proxy would write on a node for these manifests (no root)")
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
    return "render"


def _objects(files):
    return [manifests.parse_object(Field(doc, label)) for path in files
            for label, doc in yamlfiles.labelled_documents(path)]


def run(args):
    settings = proxyconfig.load(args.config) if args.config else proxyconfig.ProxySettings()
    mode = settings.mode or args.mode
    topo = topology.load(args.topology) if args.topology else topology.parse(Field(DEFAULT_TOPOLOGY, "(default)"))
    cluster_cidr = settings.cluster_cidr or args.cluster_cidr
    spec = scenario.Scenario(
        source=os.path.abspath(args.files[0]), name="k8s", topology=topo,  # node names k8s-<node>
        cluster=scenario.ClusterConfig(service_cidr=Field(args.service_cidr, "--service-cidr").cidr(),
                                       node_port_range=scenario.port_range(Field(args.service_node_port_range,
                                                                                 "--service-node-port-range")),
                                       cluster_cidr=Field(cluster_cidr, "--cluster-cidr").cidr(), dns=args.all_services),
        kube_proxy=model.KubeProxyConfig(profile=args.profile, masquerade_bit=settings.masquerade_bit,
                                            masquerade_all=settings.masquerade_all,
                                            detect_local_mode=settings.detect_local_mode,
                                            detect_local_value=settings.detect_local_value),
        objects=tuple(_objects(args.files)))
    state = cluster.build(spec)
    if not args.all_services:
        wanted = {(o.namespace, o.name) for o in spec.objects if o.kind == "Service"}
        state = dataclasses.replace(state, services=tuple(s for s in state.services if s.key in wanted))
    node = _node(state, args.node or settings.hostname_override)
    node_ips = tuple(args.node_ip) or (str(node.ip),)
    opts = dataclasses.replace(iptables.options_for(state, node.name), random_fully=not args.no_random_fully,
                               localhost_node_ports=settings.localhost_node_ports, nfacct=args.nfacct,
                               node_port_addresses=iptables.node_port_ips(settings.node_port_addresses, node_ips))
    if mode == "nftables":
        transaction = _nftables(state, node.name, settings, node_ips)
        print(transaction if args.form == "restore" else nftlist.list_table(transaction), end="")
        return 0
    rules = iptables.render_ports(iptables._ports(state, opts), opts)
    if args.form == "restore":
        print(rules, end="")
    else:
        print(saveform.save([iptables.render_bootstrap(opts.profile, opts.localhost_node_ports), rules]), end="")
    return 0


def _node(state, name):
    if name is None:
        return state.nodes[0]
    for n in state.nodes:
        if name in (n.name, n.hostname):
            return n
    raise LabError(f"no node {name!r} in the topology (nodes: {', '.join(n.name for n in state.nodes)})")


def _nftables(state, node_name, settings, node_ips):
    from lab.proxy import nftables
    addresses = settings.node_port_addresses
    if not addresses:
        chosen = nftables.PRIMARY  # the nftables mode's default: --nodeport-addresses primary
    elif "0.0.0.0/0" in addresses:
        chosen = nftables.ALL
    else:
        chosen = iptables.node_port_ips(addresses, node_ips)
    return nftables.render(state, node_name, chosen)
