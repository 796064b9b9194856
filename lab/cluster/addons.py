"""What every cluster has before the user's manifests: the apiserver's service and cluster DNS.

Written as the Kubernetes objects kubeadm creates, and parsed by the same code as the user's
manifests.
"""

from lab.spec.fields import Field
from lab.spec.manifests import ServicePortSpec, ServiceSpec, parse_object

API_SERVER_PORT = 6443
DNS_LABELS = {"k8s-app": "kube-dns"}
COREDNS_IMAGES = {"1.18": "k8s.gcr.io/coredns:1.6.7", "current": "registry.k8s.io/coredns/coredns:v1.11.3"}


def kubernetes_service(service_cidr):
    """The apiserver's own service, at the service CIDR's first address, as in every cluster."""
    https = ServicePortSpec("https", "TCP", 443, API_SERVER_PORT)
    return ServiceSpec("default", "kubernetes", "ClusterIP", (https,), None,
                       str(service_cidr.network_address + 1), source="(built in)")


def dns_ip(service_cidr):
    """kubeadm's ``GetDNSIP``: the tenth address of the service CIDR (10.96.0.10)."""
    return service_cidr.network_address + 10


def corefile(domain, profile):
    """kubeadm's Corefile for the cluster domain."""
    forward = "forward . /etc/resolv.conf" if profile == "1.18" else \
        "forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }"
    return (".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n"
            f"    kubernetes {domain} in-addr.arpa ip6.arpa {{\n       pods insecure\n"
            "       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }\n    prometheus :9153\n"
            f"    {forward}\n    cache 30\n    loop\n    reload\n    loadbalance\n}}\n")


def logs_queries(corefile_text):
    """Whether a server block of the Corefile has the ``log`` plugin (CoreDNS then logs every query)."""
    depth = 0
    for line in (corefile_text or "").splitlines():
        tokens = line.split("#", 1)[0].split()
        if depth == 1 and tokens and tokens[0] == "log":
            return True
        depth += sum(t.count("{") - t.count("}") for t in tokens)
    return False


def query_log(objects):
    """Whether the cluster's CoreDNS logs queries: the ``log`` plugin in the Corefile of the
    ``kube-system/coredns`` ConfigMap among ``objects``."""
    config = next((o for o in objects if (o.kind, o.namespace, o.name) == ("ConfigMap", "kube-system", "coredns")),
                  None)
    return bool(config) and logs_queries(config.value("Corefile"))


def coredns_objects(service_cidr, profile, domain="cluster.local"):
    """kubeadm's CoreDNS Deployment (two replicas), its Corefile's ConfigMap and the ``kube-dns``
    Service in front of it."""
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
              "data": {"Corefile": corefile(domain, profile)}}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": dict(DNS_LABELS)},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": dict(DNS_LABELS)},
            "template": {
                "metadata": {"labels": dict(DNS_LABELS)},
                "spec": {
                    "priorityClassName": "system-cluster-critical",
                    "dnsPolicy": "Default",
                    "containers": [{
                        "name": "coredns", "image": COREDNS_IMAGES[profile],
                        "args": ["-conf", "/etc/coredns/Corefile"],
                        "ports": [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                                  {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                                  {"containerPort": 9153, "name": "metrics", "protocol": "TCP"}],
                    }],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
                     "labels": {**DNS_LABELS, "kubernetes.io/cluster-service": "true",
                                "kubernetes.io/name": "CoreDNS" if profile != "1.18" else "KubeDNS"}},
        "spec": {
            "selector": dict(DNS_LABELS),
            "clusterIP": str(dns_ip(service_cidr)),
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                      {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                      {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}],
        },
    }
    return [parse_object(Field(obj, "(built-in CoreDNS addon)")) for obj in (deployment, config, service)]
