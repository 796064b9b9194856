"""``lab render``'s work: kube-proxy's rules on one node for some manifests, with no lab and no
root. The manifests go through the same cluster build as a lab's; a default topology (the
seed's three nodes) when none is given. Pure."""

import dataclasses
import os

from lab.cluster.build import build_cluster
from lab.errors import LabError
from lab.proxy import iptables, nftables, nftlist, options, saveform, serviceports
from lab.spec import kubeproxy_config, manifests, scenario, topology, yamlfiles
from lab.spec.fields import Field

DEFAULT_TOPOLOGY = {
    "lan": {"cidr": "192.168.179.0/24", "gateway": "192.168.179.1"},
    "nodes": [{"name": "master", "ip": "192.168.179.99", "podCIDR": "10.244.0.0/24"},
              {"name": "node1", "ip": "192.168.179.100", "podCIDR": "10.244.1.0/24"},
              {"name": "node2", "ip": "192.168.179.101", "podCIDR": "10.244.2.0/24"}],
}


def _objects(files):
    return [manifests.parse_object(Field(doc, label)) for path in files
            for label, doc in yamlfiles.labelled_documents(path)]


def render_manifests(files, mode, node=None, profile="current", form="save", config=None, node_ips=(),
                     topology_file=None, cluster_cidr="10.244.0.0/16", service_cidr="10.96.0.0/12",
                     node_port_range="30000-32767", random_fully=True, nfacct=False, all_services=False):
    """What kube-proxy on ``node`` writes for the manifests in ``files``: ``save`` form (as
    iptables-save or nft list table prints it) or ``restore`` form (what kube-proxy loads)."""
    settings = kubeproxy_config.load(config) if config else kubeproxy_config.ProxySettings()
    mode = settings.mode or mode
    topo = topology.load(topology_file) if topology_file else topology.parse(Field(DEFAULT_TOPOLOGY, "(default)"))
    cluster_cidr = settings.cluster_cidr or cluster_cidr
    spec = scenario.Scenario(
        source=os.path.abspath(files[0]), name="k8s", topology=topo,  # node names k8s-<node>
        cluster=scenario.ClusterConfig(service_cidr=Field(service_cidr, "--service-cidr").cidr(),
                                       node_port_range=scenario.port_range(Field(node_port_range,
                                                                                 "--service-node-port-range")),
                                       cluster_cidr=Field(cluster_cidr, "--cluster-cidr").cidr(), dns=all_services),
        kube_proxy=kubeproxy_config.KubeProxyConfig(profile=profile, masquerade_bit=settings.masquerade_bit,
                                            masquerade_all=settings.masquerade_all,
                                            detect_local_mode=settings.detect_local_mode,
                                            detect_local_value=settings.detect_local_value,
                                            cluster_cidr=settings.cluster_cidr),
        objects=tuple(_objects(files)))
    cluster = build_cluster(spec)
    if not all_services:
        wanted = {(o.namespace, o.name) for o in spec.objects if o.kind == "Service"}
        cluster = dataclasses.replace(cluster, services=tuple(s for s in cluster.services if s.key in wanted))
    node = _node(cluster, node or settings.hostname_override)
    node_ips = tuple(node_ips) or (str(node.ip),)
    opts = dataclasses.replace(options.options_for(cluster, node.name), random_fully=random_fully,
                               localhost_node_ports=settings.localhost_node_ports, nfacct=nfacct,
                               node_port_addresses=options.node_port_ips(settings.node_port_addresses, node_ips))
    if mode == "nftables":
        transaction = _nftables(cluster, node.name, settings, node_ips)
        return transaction if form == "restore" else nftlist.list_table(transaction)
    rules = iptables.render_ports(serviceports.service_ports(cluster, opts), opts)
    if form == "restore":
        return rules
    return saveform.save([iptables.render_bootstrap(opts.profile, opts.localhost_node_ports), rules])


def _node(cluster, name):
    if name is None:
        return cluster.nodes[0]
    for n in cluster.nodes:
        if name in (n.name, n.hostname):
            return n
    raise LabError(f"no node {name!r} in the topology (nodes: {', '.join(n.name for n in cluster.nodes)})")


def _nftables(cluster, node_name, settings, node_ips):
    addresses = settings.node_port_addresses
    if not addresses:
        chosen = nftables.PRIMARY  # the nftables mode's default: --nodeport-addresses primary
    elif "0.0.0.0/0" in addresses:
        chosen = nftables.ALL
    else:
        chosen = options.node_port_ips(addresses, node_ips)
    return nftables.render(cluster, node_name, chosen)
