"""The files ``ip netns exec`` lays over /etc inside a namespace (/etc/netns/<netns>/...), as text. Pure.

Pods get the resolver configuration and hosts file the kubelet writes; nodes resolve cluster
names through kube-dns too; hosts outside the cluster get a resolver that answers nothing
(the lab has no upstream DNS, and no lookup may leave the lab). A hostNetwork pod has no files
of its own: it sees its node's, as the kubelet gives it the node's resolver for ClusterFirst
(and Default). For ClusterFirstWithHostNet the kubelet would write the cluster's resolv.conf for
the pod's namespace; svclab cannot lay a file over the node's /etc for one pod alone, so such a pod
sees the node's, which already names the cluster DNS with the search list of namespace default.
"""

from lab.cluster import addons

HOSTS_HEADER = """# Kubernetes-managed hosts file.
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
fe00::0\tip6-mcastprefix
fe00::1\tip6-allnodes
fe00::2\tip6-allrouters
"""


def cluster_resolv_conf(cluster, namespace):
    """What the kubelet writes for a ClusterFirst pod in ``namespace`` (the runtime's format)."""
    d = cluster.domain
    return (f"search {namespace}.svc.{d} svc.{d} {d}\n"
            f"nameserver {addons.dns_ip(cluster.service_cidr)}\n"
            "options ndots:5\n")


NO_DNS = ("# Outside the cluster: no DNS server here (svclab labs have no upstream resolver).\n"
          "nameserver 127.0.0.1\n")


def files(cluster):
    """{netns: {file name: text}} for every namespace of the lab that gets files."""
    out = {}
    has_dns = cluster.service("kube-system", "kube-dns") is not None
    for node in cluster.nodes:
        out[node.netns] = {"resolv.conf": cluster_resolv_conf(cluster, "default") if has_dns else NO_DNS}
    for host in cluster.hosts:
        out[host.netns] = {"resolv.conf": NO_DNS}
    for pod in cluster.pods:
        if pod.host_network:  # the node's own files: it runs where the node's programs run
            continue
        if pod.app == "coredns" or not has_dns:  # dnsPolicy: Default, the node's resolver
            resolv = out[cluster.node(pod.node).netns]["resolv.conf"]
        else:
            resolv = cluster_resolv_conf(cluster, pod.namespace)
        out[pod.netns] = {"resolv.conf": resolv, "hosts": HOSTS_HEADER + hosts_line(pod, cluster.domain)}
    return out


def hosts_line(pod, domain):
    """The kubelet's line for the pod itself: its address, its FQDN when it has a subdomain, its hostname."""
    fqdn = pod.fqdn(domain)
    return f"{pod.ip}\t{fqdn}\t{pod.host_name}\n" if fqdn else f"{pod.ip}\t{pod.host_name}\n"
