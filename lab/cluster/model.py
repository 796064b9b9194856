"""The desired state of a lab's cluster: plain data, computed from a scenario by lab.cluster."""

import ipaddress
from dataclasses import dataclass, field

from lab.spec.kubeproxy_config import KubeProxyConfig  # noqa: F401 (part of the cluster state)


@dataclass(frozen=True)
class Node:
    name: str  # the topology's name: master, node1
    hostname: str  # the Kubernetes node name: k8s-master (the lab prefix plus the name)
    ip: ipaddress.IPv4Address
    pod_cidr: ipaddress.IPv4Network
    netns: str
    ready: bool = True

    @property
    def pod_gateway(self):
        return self.pod_cidr.network_address + 1


@dataclass(frozen=True)
class Host:
    """A machine outside the cluster on the LAN (the client)."""

    name: str
    ip: ipaddress.IPv4Address
    netns: str


@dataclass(frozen=True)
class LoadBalancerHost:
    """The front load balancer: nginx in its own namespace, holding the external IPs."""

    ip: ipaddress.IPv4Address
    netns: str
    pool: tuple


@dataclass(frozen=True)
class Frontend:
    """A virtual host on the load balancer: HTTP for ``host`` goes to every node's NodePort."""

    host: str
    namespace: str
    service: str
    port: int  # the service port whose NodePort the upstream lists


@dataclass(frozen=True)
class PodPort:
    container_port: int
    protocol: str
    name: str = None


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    ports: tuple = ()  # PodPort
    command: tuple = ()  # spec.containers[].command and args, as written
    args: tuple = ()

    @property
    def argv(self):
        """What the container runs when svclab does not serve its image: command, then args
        (an image's own entrypoint is not known: args alone run as a command)."""
        return tuple(self.command) + tuple(self.args)


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    node: str  # topology node name
    ip: ipaddress.IPv4Address
    labels: tuple  # sorted (key, value) pairs
    containers: tuple  # Container
    app: str  # what the pod's server does (kubia)
    netns: str
    host_veth: str  # the node end of the pod's veth, a port of cni0
    owner: str = None  # the ReplicaSet name, for pods of a Deployment
    template_hash: str = None
    ready: bool = True
    terminating: bool = False  # deleted, still serving during its grace period
    hostname: str = None  # spec.hostname as written (the pod's hostname is its name when None)
    subdomain: str = None  # spec.subdomain
    owner_kind: str = None  # ReplicaSet (a Deployment's or one's own), StatefulSet or DaemonSet
    incarnation: int = 0  # how many times its controller made it again under the same name

    @property
    def label_dict(self):
        return dict(self.labels)

    @property
    def host_name(self):
        """The pod's hostname: spec.hostname, else its name (as the kubelet sets it, at most 63 characters)."""
        return self.hostname or self.name[:63].rstrip("-.")

    def fqdn(self, domain):
        """``hostname.subdomain.ns.svc.<domain>`` for a pod with a subdomain, else None."""
        if not self.subdomain:
            return None
        return f"{self.host_name}.{self.subdomain}.{self.namespace}.svc.{domain}"

    @property
    def ports(self):
        return tuple(p for c in self.containers for p in c.ports)

    def port_named(self, name, protocol):
        for p in self.ports:
            if p.name == name and p.protocol == protocol:
                return p.container_port
        return None

    @property
    def serving_ports(self):
        """TCP ports the pod's server listens on (kubia listens on 8080 when none are declared)."""
        tcp = sorted({p.container_port for p in self.ports if p.protocol == "TCP"})
        return tuple(tcp) if tcp else (8080,)


@dataclass(frozen=True)
class ServicePort:
    name: str  # "" when unnamed
    protocol: str
    port: int
    target_port: object  # int or a named container port
    node_port: int = None
    node_port_asked: bool = field(default=False, compare=False)  # the manifest named it (a change keeps it)


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    type: str
    ports: tuple
    cluster_ip: str  # an address, "None" (headless) or None (ExternalName)
    selector: tuple = None
    external_ips: tuple = ()
    session_affinity: str = "None"
    affinity_timeout: int = 10800
    external_traffic_policy: str = "Cluster"
    internal_traffic_policy: str = "Cluster"
    external_name: str = None
    load_balancer_ip: str = None  # spec.loadBalancerIP, the address asked for
    lb_ips: tuple = ()  # status.loadBalancer.ingress[].ip, filled by the load-balancer controller
    lb_message: str = None  # why no address was given (EXTERNAL-IP <pending>)
    health_check_node_port: int = None  # LoadBalancer with externalTrafficPolicy: Local
    lb_source_ranges: tuple = ()  # spec.loadBalancerSourceRanges

    @property
    def key(self):
        return (self.namespace, self.name)


@dataclass(frozen=True)
class Endpoint:
    """One backend of one service port, as an EndpointSlice endpoint would describe it."""

    ip: ipaddress.IPv4Address
    port: int
    node: str  # topology node name
    pod: str
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    hostname: str = None  # the endpoint's DNS name under a headless service (pod hostname and subdomain)

    @property
    def address(self):
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class ClusterState:
    lab: str
    lan_cidr: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    nodes: tuple
    hosts: tuple
    service_cidr: ipaddress.IPv4Network
    cluster_cidr: ipaddress.IPv4Network
    domain: str
    kube_proxy: KubeProxyConfig
    pods: tuple
    services: tuple
    endpoints: dict = field(default_factory=dict)  # (ns, svc, port name) -> tuple of Endpoint
    warnings: tuple = ()
    switch_netns: str = ""
    lb: LoadBalancerHost = None
    frontends: tuple = ()
    endpoint_slices: tuple = ()  # hand-written EndpointSlices (and Endpoints) of selector-less services
    dns_query_log: bool = False  # the ``log`` plugin in CoreDNS's Corefile

    def node(self, name):
        return next((n for n in self.nodes if n.name == name), None)

    def service(self, namespace, name):
        return next((s for s in self.services if s.namespace == namespace and s.name == name), None)

    def pods_on(self, node_name):
        return tuple(p for p in self.pods if p.node == node_name)

    def endpoints_for(self, service, port):
        return self.endpoints.get((service.namespace, service.name, port.name), ())

    @property
    def external_ips(self):
        """The LoadBalancer services' addresses, which the load balancer machine holds, in address order."""
        return sorted({ip for s in self.services for ip in s.lb_ips}, key=lambda ip: tuple(map(int, ip.split("."))))
