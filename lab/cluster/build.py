"""From a scenario to the cluster state: what the apiserver, the scheduler and the controllers
decide for the scenario's objects. Pure and deterministic: the same scenario gives the same lab,
names and addresses included (hashes stand in for Kubernetes' random choices)."""

from lab.cluster import addons, endpoints, loadbalancer, scheduler, services
from lab.cluster.model import ClusterState, Host, LoadBalancerHost, Node
from lab.errors import InputError
from lab.spec.manifests import EndpointSliceSpec

MAX_NETNS_NAME = 255  # a namespace is a file in /run/netns (and a directory in /etc/netns)


def build_cluster(scenario):
    lab = scenario.name
    topo = scenario.topology
    nodes = tuple(Node(m.name, f"{lab}-{m.name}", m.ip, m.pod_cidr, f"{lab}-{m.name}") for m in topo.nodes)
    hosts = tuple(Host(m.name, m.ip, f"{lab}-{m.name}") for m in topo.hosts)
    lb = topo.load_balancer
    lb_host = LoadBalancerHost(lb.ip, f"{lab}-{lb.name}", lb.pool) if lb else None
    objects = _addons(scenario) + list(scenario.objects)
    pods = scheduler.place_pods(scenario, objects, nodes)
    svcs = services.allocate(scenario, objects)
    svcs = loadbalancer.assign(svcs, lb_host, objects)
    slices = tuple(o for o in objects if isinstance(o, EndpointSliceSpec))
    eps, warnings = endpoints.compute(svcs, pods, nodes, slices)
    cluster = ClusterState(
        lab=lab, lan_cidr=topo.lan_cidr, gateway=topo.gateway, nodes=nodes, hosts=hosts,
        service_cidr=scenario.cluster.service_cidr, cluster_cidr=scenario.cluster.cluster_cidr,
        domain=scenario.cluster.domain, kube_proxy=scenario.kube_proxy, pods=pods,
        services=svcs, endpoints=eps, warnings=tuple(warnings), switch_netns=f"{lab}-lan",
        lb=lb_host, frontends=loadbalancer.frontends(scenario, svcs), endpoint_slices=slices,
        dns_query_log=addons.query_log(objects))
    _check_netns_names(cluster, scenario, objects)
    return cluster




def addon_objects(scenario):
    """The objects every cluster has before the user's: cluster DNS (unless turned off)."""
    return _addons(scenario)


def _addons(scenario):
    """The built-in objects; a ConfigMap of the user's (CoreDNS's Corefile) stands in for the built-in one."""
    if not scenario.cluster.dns:
        return []
    objects = addons.coredns_objects(scenario.cluster.service_cidr, scenario.kube_proxy.profile,
                                     scenario.cluster.domain)
    taken = {(o.kind, o.namespace, o.name) for o in objects}
    users = set()
    for obj in scenario.objects:
        users.add((obj.kind, obj.namespace, obj.name))
        if (obj.kind, obj.namespace, obj.name) in taken and obj.kind != "ConfigMap":
            raise InputError(obj.source, "metadata.name", f"{obj.kind} {obj.namespace}/{obj.name} is the lab's "
                             "built-in cluster DNS", "rename it, or set cluster.dns: false to bring your own")
    return [o for o in objects if (o.kind, o.namespace, o.name) not in users]



def _check_netns_names(cluster, scenario, objects):
    """Every namespace name fits the kernel and is the lab's alone; an error names the file of
    the pod's manifest (a scenario's, or one applied later)."""
    sources = {}
    for o in objects:
        if o.kind == "Pod":
            sources[(o.namespace, o.name)] = o.source
        elif o.kind == "Deployment":
            sources[(o.namespace, o.name, "deployment")] = o.source
    seen = {cluster.switch_netns: "the LAN switch"}
    machines = [(n.netns, f"node {n.name}", scenario.topology.source) for n in cluster.nodes]
    machines += [(h.netns, f"host {h.name}", scenario.topology.source) for h in cluster.hosts]
    pods = [(p.netns, f"pod {p.namespace}/{p.name}", _pod_source(p, sources, scenario)) for p in cluster.pods]
    for netns, what, source in machines + pods:
        if len(netns.encode()) > MAX_NETNS_NAME:
            raise InputError(source, "metadata.name", f"{what}: its network namespace name would be "
                             f"{len(netns.encode())} bytes, over the kernel's {MAX_NETNS_NAME}", "use shorter names")
        if netns in seen:
            raise InputError(source, "metadata.name",
                             f"{what} and {seen[netns]} would share the network namespace {netns}",
                             "rename one of them")
        seen[netns] = what


def _pod_source(pod, sources, scenario):
    if pod.owner is None:
        return sources.get((pod.namespace, pod.name), scenario.source)
    deployment = pod.owner.rsplit("-", 1)[0]
    return sources.get((pod.namespace, deployment, "deployment"), scenario.source)


