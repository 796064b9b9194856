"""A scenario as a kind cluster configuration (``kind.x-k8s.io/v1alpha4``), so that
``kind create cluster --config FILE`` makes the cluster ``lab verify SCENARIO --kubeconfig``
runs its checks on. Pure: spec and cluster state in, text out.

One kind node per topology node (the master, or the first node, is the control-plane; it keeps
no NoSchedule taint, since a lab's master runs pods too), each labelled with its topology name
(``svclab.io/node``, which ``lab verify`` maps nodes by); the cluster's pod and service CIDRs and
kube-proxy's mode; every NodePort of the scenario mapped from the host's loopback to the
control-plane container. The manifests go in a file of their own (kind reads one document).
"""

import yaml

API_VERSION = "kind.x-k8s.io/v1alpha4"
NODE_LABEL = "svclab.io/node"
CONTROL_PLANE_NAMES = ("master", "control-plane", "controlplane")
PROXY_MODES = ("iptables", "nftables")  # what a scenario's kube-proxy runs, and kind's names for them
UNTAINTED = "kind: InitConfiguration\nnodeRegistration:\n  taints: []\n"


def control_plane(spec):
    names = [n.name for n in spec.topology.nodes]
    return next((n for n in names if n in CONTROL_PLANE_NAMES), names[0])


def node_ports(cluster):
    """(port, protocol) of every NodePort of the scenario's services, in port order."""
    return sorted({(p.node_port, p.protocol) for s in cluster.services for p in s.ports if p.node_port})


def config(spec, cluster):
    """The kind Cluster object as a dict."""
    first = control_plane(spec)
    nodes = []
    for n in sorted(spec.topology.nodes, key=lambda n: n.name != first):
        node = {"role": "control-plane" if n.name == first else "worker", "labels": {NODE_LABEL: n.name}}
        if n.name == first:
            node["kubeadmConfigPatches"] = [UNTAINTED]
            ports = node_ports(cluster)
            if ports:
                node["extraPortMappings"] = [{"containerPort": port, "hostPort": port, "listenAddress": "127.0.0.1",
                                              "protocol": protocol} for port, protocol in ports]
        nodes.append(node)
    out = {"kind": "Cluster", "apiVersion": API_VERSION, "name": spec.name, "nodes": nodes,
           "networking": {"ipFamily": "ipv4", "podSubnet": str(cluster.cluster_cidr),
                          "serviceSubnet": str(cluster.service_cidr),
                          "kubeProxyMode": cluster.kube_proxy.mode if cluster.kube_proxy.mode in PROXY_MODES
                          else "iptables"}}
    if cluster.domain != "cluster.local":
        out["kubeadmConfigPatches"] = [f"kind: ClusterConfiguration\nnetworking:\n  dnsDomain: {cluster.domain}\n"]
    return out


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the kubeadm patches) as YAML block literals, as kind's docs write them."""


def _str(dumper, text):
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Dumper.add_representer(str, _str)


def render(spec, cluster, source, manifests_file=None):
    head = [f"# kind cluster for {source} (svclab's lab export --format kind)",
            "#   kind create cluster --config THIS-FILE",
            f"#   python3 -m lab verify {source} --kubeconfig ~/.kube/config --context kind-{spec.name}"]
    if manifests_file:
        head.append(f"# the scenario's manifests, for kubectl apply -f: {manifests_file}")
    return "\n".join(head) + "\n" + yaml.dump(config(spec, cluster), Dumper=_Dumper, sort_keys=False)


def render_manifests(spec, source):
    docs = [obj.manifest for obj in spec.objects]
    return f"# the manifests of {source}\n" + yaml.safe_dump_all(docs, sort_keys=False)
