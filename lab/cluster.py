"""From a scenario to the desired cluster state: pure and deterministic.

Scheduling, pod names and IPs, ClusterIPs, NodePorts and endpoints, decided the way
Kubernetes decides them (with hashes standing in for its random choices).
"""

import dataclasses
import ipaddress
import itertools
import re

from lab import addons, ipam, naming, workloads
from lab.errors import InputError
from lab.manifests import BarePod, Deployment, EndpointSliceSpec, ServiceSpec
from lab.model import (ClusterState, Container, Endpoint, Frontend, Host, LoadBalancerHost, Node, Pod, PodPort,
                       Service, ServicePort)


MAX_NETNS_NAME = 255  # a namespace is a file in /run/netns (and a directory in /etc/netns)


def build(scenario):
    lab = scenario.name
    topo = scenario.topology
    nodes = tuple(Node(m.name, f"{lab}-{m.name}", m.ip, m.pod_cidr, f"{lab}-{m.name}") for m in topo.nodes)
    hosts = tuple(Host(m.name, m.ip, f"{lab}-{m.name}") for m in topo.hosts)
    lb = topo.load_balancer
    lb_host = LoadBalancerHost(lb.ip, f"{lab}-{lb.name}", lb.pool) if lb else None
    objects = _addons(scenario) + list(scenario.objects)
    pods = _pods(scenario, objects, nodes)
    services = _services(scenario, objects)
    services = _load_balancers(services, lb_host, scenario, objects)
    slices = tuple(o for o in objects if isinstance(o, EndpointSliceSpec))
    endpoints, warnings = _endpoints(services, pods, nodes, slices)
    state = ClusterState(
        lab=lab, lan_cidr=topo.lan_cidr, gateway=topo.gateway, nodes=nodes, hosts=hosts,
        service_cidr=scenario.cluster.service_cidr, cluster_cidr=scenario.cluster.cluster_cidr,
        domain=scenario.cluster.domain, kube_proxy=scenario.kube_proxy, pods=pods,
        services=services, endpoints=endpoints, warnings=tuple(warnings), switch_netns=f"{lab}-lan",
        lb=lb_host, frontends=_frontends(scenario, services))
    _check_netns_names(state, scenario)
    return state


# the load-balancer controller -----------------------------------------------------------------

def _load_balancers(services, lb, scenario, objects=()):
    """What a cloud controller does for ``type: LoadBalancer``: an external IP from the pool
    (``spec.loadBalancerIP`` if it asks for a free one), or ``<pending>`` and the reason. With no
    load balancer (no controller), a manifest's own ``status.loadBalancer.ingress`` stands."""
    pool = list(lb.pool) if lb else []
    taken = set()
    out = {}
    written = {(o.namespace, o.name): o.status_lb_ips for o in objects if isinstance(o, ServiceSpec)}
    wanted = [s for s in services if s.type == "LoadBalancer"]
    for svc in sorted(wanted, key=lambda s: (s.load_balancer_ip is None, s.namespace, s.name)):
        if lb is None:
            if written.get(svc.key):
                out[svc.key] = dataclasses.replace(svc, lb_ips=written[svc.key])
            else:
                out[svc.key] = dataclasses.replace(svc, lb_message="no load balancer in the topology "
                                                   "(add loadBalancer: {ip: ..., pool: ...} to it)")
            continue
        if svc.load_balancer_ip is not None:
            ip = ipaddress.ip_address(svc.load_balancer_ip)
            if ip not in pool:
                message = f"loadBalancerIP {ip} is not in the pool {_pool_text(pool)}"
            elif ip in taken:
                message = f"loadBalancerIP {ip} is already in use"
            else:
                message = None
        else:
            free = [a for a in pool if a not in taken]
            ip = free[0] if free else None
            message = None if free else f"no addresses left in the pool {_pool_text(pool)}"
        if message:
            out[svc.key] = dataclasses.replace(svc, lb_message=message)
        else:
            taken.add(ip)
            out[svc.key] = dataclasses.replace(svc, lb_ips=(str(ip),))
    return tuple(out.get(s.key, s) for s in services)


def _pool_text(pool):
    return f"{pool[0]}-{pool[-1]}" if pool else "(empty)"


def _frontends(scenario, services):
    out = []
    for fe in scenario.frontends:
        svc = next((s for s in services if (s.namespace, s.name) == (fe.namespace, fe.service)), None)
        if svc is None:
            raise fe.where.child("service").error(f"no Service {fe.namespace}/{fe.service} in the manifests")
        ports = [p for p in svc.ports if p.node_port and (fe.port is None or p.port == fe.port)]
        if not ports:
            raise fe.where.error(f"Service {fe.namespace}/{fe.service} has no node port"
                                 + (f" for port {fe.port}" if fe.port else ""),
                                 "a front-end virtual host needs a NodePort or LoadBalancer service")
        out.append(Frontend(fe.host, fe.namespace, fe.service, ports[0].port))
    if out and scenario.topology.load_balancer is None:
        raise InputError(scenario.source, "frontend", "the topology has no load balancer",
                         "add loadBalancer: {ip: ...} to the topology")
    return tuple(out)


def _addons(scenario):
    if not scenario.cluster.dns:
        return []
    objects = addons.coredns_objects(scenario.cluster.service_cidr, scenario.kube_proxy.profile)
    taken = {(o.kind, o.namespace, o.name) for o in objects}
    for obj in scenario.objects:
        if (obj.kind, obj.namespace, obj.name) in taken:
            raise InputError(obj.source, "metadata.name", f"{obj.kind} {obj.namespace}/{obj.name} is the lab's "
                             "built-in cluster DNS", "rename it, or set cluster.dns: false to bring your own")
    return objects


# pods -----------------------------------------------------------------------------------------

def _pods(scenario, objects, nodes):
    """Name, schedule and address every pod: Deployment replicas and bare Pods."""
    node_names = [n.name for n in nodes]
    pins = {(p.namespace, p.deployment, p.index): p for p in scenario.pod_pins}
    _check_pins(scenario, objects, node_names)
    pools = {n.name: ipam.PodAddressPool(n.pod_cidr) for n in nodes}
    for pin in scenario.pod_pins:
        if pin.ip is not None:
            node = pin.node or _node_of_ip(pin, nodes)
            try:
                pools[node].reserve(pin.ip)
            except ipam.AllocationError as exc:
                raise pin.where.child("ip").error(f"{exc} (on node {node})",
                                                  "pick a free address in that node's podCIDR") from None

    planned = []  # (namespace, name, template, owner, hash, pin)
    taken_names = set()
    for obj in objects:
        if isinstance(obj, Deployment):
            tmpl_hash = _pinned_hash(obj, pins) or naming.pod_template_hash(obj.template.raw)
            owner = f"{obj.name}-{tmpl_hash}"
            for i in range(obj.replicas):
                pin = pins.get((obj.namespace, obj.name, i))
                name = pin.name if pin and pin.name else _unique_pod_name(owner, i, taken_names)
                planned.append((obj.namespace, name, obj.template, owner, tmpl_hash, pin))
                taken_names.add(name)
        elif isinstance(obj, BarePod):
            planned.append((obj.namespace, obj.name, obj.template, None, None, None))
            taken_names.add(obj.name)
    _check_pod_names(planned, scenario)

    load = {n: 0 for n in node_names}
    owner_load = {}
    for _, _, _, owner, _, pin in planned:
        if pin and (pin.node or pin.ip):
            node = pin.node or _node_of_ip(pin, nodes)
            load[node] += 1
            owner_load[(owner, node)] = owner_load.get((owner, node), 0) + 1
    pods = []
    for ns, name, tmpl, owner, tmpl_hash, pin in planned:
        if pin and (pin.node or pin.ip):
            node = pin.node or _node_of_ip(pin, nodes)
        else:
            if tmpl.node_name:
                node = _node_by_hostname(tmpl.node_name, nodes, scenario, ns, name)
            else:
                node = _schedule(name, owner, load, owner_load)
            load[node] += 1
            owner_load[(owner, node)] = owner_load.get((owner, node), 0) + 1
        ip = pin.ip if pin and pin.ip else _allocate_pod_ip(pools[node], node, scenario)
        labels = tmpl.labels + ((("pod-template-hash", tmpl_hash),) if tmpl_hash else ())
        containers = tuple(Container(c.name, c.image, tuple(PodPort(p.container_port, p.protocol, p.name)
                                                             for p in c.ports)) for c in tmpl.containers)
        netns = f"{scenario.name}-{name}" if ns == "default" else f"{scenario.name}-{ns}.{name}"
        pods.append(Pod(ns, name, node, ip, tuple(sorted(labels)), containers, workloads.app_for(tmpl), netns,
                        naming.host_veth_name(netns), owner, tmpl_hash))
    return tuple(pods)


def _pinned_hash(deployment, pins):
    """The pod-template-hash in pinned pod names (a recorded cluster's ReplicaSet), if any."""
    hashes = {pin.name[len(deployment.name) + 1:].rsplit("-", 1)[0]
              for (ns, dep, _), pin in pins.items()
              if (ns, dep) == (deployment.namespace, deployment.name) and pin.name}
    if len(hashes) > 1:
        raise InputError(deployment.source, "pins.pods", f"pinned pods of {deployment.name} name different "
                         f"pod-template-hashes ({', '.join(sorted(hashes))})", "pods of one ReplicaSet share one")
    return hashes.pop() if hashes else None


def _unique_pod_name(owner, index, taken):
    for attempt in range(100):
        name = f"{owner}-{naming.random_suffix(f'{owner}/{index}/{attempt}')}"
        if name not in taken:
            return name
    raise AssertionError("unreachable: 27^5 suffixes")


def _schedule(pod_name, owner, load, owner_load):
    """Spread first (fewest pods of the same owner, as kube-scheduler's default topology spread
    does), then the least-loaded node; ties broken by a hash of the pod name (kube-scheduler
    picks at random)."""
    def score(node):
        return (owner_load.get((owner, node), 0) if owner else 0, load[node])
    best = min(score(n) for n in load)
    candidates = sorted(n for n in load if score(n) == best)
    return candidates[naming.stable_index(pod_name, len(candidates))]


def _allocate_pod_ip(pool, node, scenario):
    try:
        return pool.allocate()
    except ipam.AllocationError as exc:
        raise InputError(scenario.topology.source, "nodes", f"node {node}: {exc}",
                         "give the node a larger podCIDR or run fewer pods") from None


def _node_of_ip(pin, nodes):
    for n in nodes:
        if pin.ip in n.pod_cidr:
            return n.name
    raise pin.where.child("ip").error(f"{pin.ip} is in no node's podCIDR", "pick an address from a node's podCIDR")


def _node_by_hostname(hostname, nodes, scenario, ns, name):
    for n in nodes:
        if hostname in (n.hostname, n.name):
            return n.name
    raise InputError(scenario.source, f"Pod {ns}/{name}: spec.nodeName",
                     f"no node named {hostname!r}", "use one of: " + ", ".join(n.hostname for n in nodes))


def _check_pins(scenario, objects, node_names):
    deployments = {(o.namespace, o.name): o for o in objects if isinstance(o, Deployment)}
    for pin in scenario.pod_pins:
        dep = deployments.get((pin.namespace, pin.deployment))
        if dep is None:
            raise pin.where.child("deployment").error(f"no Deployment {pin.namespace}/{pin.deployment} in the manifests")
        if pin.node is not None and pin.node not in node_names:
            raise pin.where.child("node").error(f"no node named {pin.node!r}", "use one of: " + ", ".join(node_names))
        if pin.node is not None and pin.ip is not None:
            node = next(n for n in scenario.topology.nodes if n.name == pin.node)
            if pin.ip not in node.pod_cidr:
                raise pin.where.child("ip").error(f"{pin.ip} is not in {pin.node}'s podCIDR {node.pod_cidr}")
        if pin.name is not None and not re.fullmatch(rf"{re.escape(pin.deployment)}-[a-z0-9]+-[a-z0-9]{{5}}",
                                                     pin.name):
            raise pin.where.child("name").error(f"a pod of {pin.deployment} is named {pin.deployment}-<hash>-<suffix>",
                                                "the suffix has 5 characters")


def _check_pod_names(planned, scenario):
    seen = set()
    for ns, name, *_ in planned:
        if (ns, name) in seen:
            raise InputError(scenario.source, "pins.pods", f"pod name {ns}/{name} would be used twice",
                             "give each pinned pod its own name")
        seen.add((ns, name))


# services -------------------------------------------------------------------------------------

def _services(scenario, objects):
    cfg = scenario.cluster
    specs = [o for o in objects if isinstance(o, ServiceSpec)]
    builtin = {("default", "kubernetes")} | {(s.namespace, s.name) for s in specs if s.source.startswith("(built")}
    for s in specs:
        if (s.namespace, s.name) in builtin and not s.source.startswith("(built"):
            raise InputError(s.source, "metadata.name", f"{s.namespace}/{s.name} is built into every lab",
                             "rename this object")
    specs = [addons.kubernetes_service(cfg.service_cidr)] + specs
    pins = {(p.namespace, p.name): p for p in scenario.service_pins}
    by_key = {(s.namespace, s.name): s for s in specs}
    for key, pin in pins.items():
        if key not in by_key:
            raise pin.where.child("name").error(f"no Service {key[0]}/{key[1]} in the manifests")
        if by_key[key].cluster_ip not in (None, str(pin.cluster_ip)):
            raise pin.where.child("clusterIP").error("the manifest sets its own spec.clusterIP")

    ips = ipam.ClusterIPAllocator(cfg.service_cidr)
    cluster_ips = {}
    for s in specs:  # user-chosen addresses first, as the apiserver keeps them in its static band
        chosen = s.cluster_ip if s.cluster_ip not in (None, "None") else None
        pin = pins.get((s.namespace, s.name))
        if pin:
            chosen, where = str(pin.cluster_ip), (pin.where.file, pin.where.child("clusterIP").path)
        else:
            where = (s.source, "spec.clusterIP")
        if chosen and s.type != "ExternalName":
            try:
                ips.reserve(chosen)
            except ipam.AllocationError as exc:
                raise InputError(*where, str(exc), f"pick an unused address in {cfg.service_cidr}") from None
            cluster_ips[(s.namespace, s.name)] = chosen
    ports = ipam.NodePortAllocator(*cfg.node_port_range)
    for s in specs:
        if s.health_check_node_port is not None:
            try:
                ports.reserve(s.health_check_node_port)
            except ipam.AllocationError as exc:
                raise InputError(s.source, "spec.healthCheckNodePort", str(exc)) from None
        for i, p in enumerate(s.ports):
            if p.node_port is not None:
                try:
                    ports.reserve(p.node_port)
                except ipam.AllocationError as exc:
                    lo, hi = cfg.node_port_range
                    raise InputError(s.source, f"spec.ports[{i}].nodePort", str(exc),
                                     f"pick a free port in {lo}-{hi}, or leave nodePort out") from None

    services = []
    for s in sorted(specs, key=lambda s: (s.namespace, s.name)):
        key = (s.namespace, s.name)
        if s.type == "ExternalName":
            cip = None
        elif s.cluster_ip == "None":
            cip = "None"
        elif key in cluster_ips:
            cip = cluster_ips[key]
        else:
            cip = str(_allocate(ips.allocate, f"{s.namespace}/{s.name}", s, "spec.clusterIP"))
        svc_ports = []
        for i, p in enumerate(s.ports):
            node_port = p.node_port
            if node_port is None and s.type in ("NodePort", "LoadBalancer"):
                node_port = _allocate(ports.allocate, f"{s.namespace}/{s.name}:{p.name}/{p.protocol}", s,
                                      f"spec.ports[{i}].nodePort")
            svc_ports.append(ServicePort(p.name, p.protocol, p.port, p.target_port, node_port))
        hcnp = s.health_check_node_port
        if hcnp is None and s.type == "LoadBalancer" and s.external_traffic_policy == "Local":
            hcnp = _allocate(ports.allocate, f"{s.namespace}/{s.name}/healthcheck", s, "spec.healthCheckNodePort")
        services.append(Service(
            s.namespace, s.name, s.type, tuple(svc_ports), cip, s.selector, s.external_ips,
            s.session_affinity, s.affinity_timeout, s.external_traffic_policy, s.internal_traffic_policy,
            s.external_name, s.load_balancer_ip, health_check_node_port=hcnp, lb_source_ranges=s.lb_source_ranges))
    return tuple(services)


def _allocate(allocate, seed, spec, field):
    try:
        return allocate(seed)
    except ipam.AllocationError as exc:
        raise InputError(spec.source, field, str(exc), "widen the range or use fewer services") from None


# endpoints ------------------------------------------------------------------------------------

def _selector_index(pods):
    """``select(namespace, selector)``: the pods (in ``pods`` order) whose labels match, found
    through a (namespace, key, value) index so that S services over P pods cost S+P, not S*P."""
    by_label, by_namespace = {}, {}
    for i, pod in enumerate(pods):
        by_namespace.setdefault(pod.namespace, []).append(i)
        for key, value in pod.labels:
            by_label.setdefault((pod.namespace, key, value), []).append(i)

    def select(namespace, selector):
        if not selector:
            return [pods[i] for i in by_namespace.get(namespace, ())]
        matches = set.intersection(*(set(by_label.get((namespace, k, v), ())) for k, v in selector))
        return [pods[i] for i in sorted(matches)]
    return select


def _endpoints(services, pods, nodes, slices=()):
    """Endpoints of every service port: pods matching the selector (ready or not), target port
    resolved; for a selector-less service, the EndpointSlices (or Endpoints) written for it."""
    endpoints, warnings = {}, []
    api_node = nodes[0]
    select = _selector_index(pods)
    for svc in services:
        if svc.type == "ExternalName":
            continue
        if (svc.namespace, svc.name) == ("default", "kubernetes"):
            port = svc.ports[0]
            endpoints[(svc.namespace, svc.name, port.name)] = (
                Endpoint(api_node.ip, addons.API_SERVER_PORT, api_node.name, pod=None),)
            continue
        if svc.selector is None:
            _from_slices(endpoints, svc, [sl for sl in slices if (sl.namespace, sl.service) ==
                                          (svc.namespace, svc.name)], nodes)
            continue
        selected = select(svc.namespace, svc.selector)
        if not selected:
            sel = ",".join(f"{k}={v}" for k, v in svc.selector)
            warnings.append(f"service {svc.namespace}/{svc.name}: selector {sel} matches no pods, so it has no "
                            "endpoints and kube-proxy rejects its traffic")
        for port in svc.ports:
            eps = []
            for pod in selected:
                target = port.target_port if isinstance(port.target_port, int) \
                    else pod.port_named(port.target_port, port.protocol)
                if target is not None:
                    # the EndpointSlice controller: ready = Ready and not terminating, serving = Ready
                    eps.append(Endpoint(pod.ip, target, pod.node, pod.name, ready=pod.ready and not pod.terminating,
                                        serving=pod.ready, terminating=pod.terminating))
            eps.sort(key=lambda e: e.address)  # kube-proxy orders endpoints by the "IP:port" string
            endpoints[(svc.namespace, svc.name, port.name)] = tuple(eps)
    return endpoints, warnings


def _from_slices(endpoints, svc, slices, nodes):
    """kube-proxy's view of hand-written EndpointSlices: slice ports match service ports by name
    (and protocol); a non-terminating endpoint wins over a duplicate; sorted by "IP:port"."""
    by_hostname = {n.hostname: n.name for n in nodes} | {n.name: n.name for n in nodes}
    for port in svc.ports:
        found = {}
        for sl in slices:
            for name, number, protocol in sl.ports:
                if (name, protocol) != (port.name, port.protocol):
                    continue
                for e in sl.endpoints:
                    ep = Endpoint(ipaddress.ip_address(e.ip), number, by_hostname.get(e.node_name, e.node_name), e.pod,
                                  e.ready, e.serving, e.terminating)
                    if ep.address not in found or found[ep.address].terminating:
                        found[ep.address] = ep
        endpoints[(svc.namespace, svc.name, port.name)] = tuple(sorted(found.values(), key=lambda e: e.address))


def _check_netns_names(state, scenario):
    seen = {state.switch_netns: "the LAN switch"}
    machines = [(n.netns, f"node {n.name}") for n in state.nodes] + [(h.netns, f"host {h.name}") for h in state.hosts]
    for netns, what in machines + [(p.netns, f"pod {p.namespace}/{p.name}") for p in state.pods]:
        if len(netns.encode()) > MAX_NETNS_NAME:
            raise InputError(scenario.source, "manifests", f"{what}: its network namespace name would be "
                             f"{len(netns.encode())} bytes, over the kernel's {MAX_NETNS_NAME}",
                             "use shorter names")
        if netns in seen:
            raise InputError(scenario.source, "manifests",
                             f"{what} and {seen[netns]} would share the network namespace {netns}",
                             "rename one of them")
        seen[netns] = what


# changes to a running cluster -----------------------------------------------------------------

def delete_pod(state, namespace, name, terminating=False):
    """The state after a pod is deleted: a Deployment's ReplicaSet replaces it with a new pod
    (new name, scheduled again, the next address of its node as host-local IPAM hands it out);
    a bare pod is simply gone. With ``terminating``, the pod stays during its grace period,
    serving but not ready (its endpoint says terminating). Endpoints follow."""
    pod = next((p for p in state.pods if p.namespace == namespace and p.name == name), None)
    if pod is None:
        raise KeyError(f"{namespace}/{name}")
    pods = [p for p in state.pods if p is not pod]
    if pod.owner and not pod.terminating:
        pods.append(new_replica(state, pod, pods, seed=pod.name))
    if terminating:
        pods.insert(state.pods.index(pod), dataclasses.replace(pod, terminating=True))
    return with_pods(state, pods)


def with_pods(state, pods, services=None):
    """The state with these pods (and services); endpoints recomputed."""
    services = state.services if services is None else services
    endpoints, warnings = _endpoints(services, pods, state.nodes)
    return dataclasses.replace(state, pods=tuple(pods), services=tuple(services), endpoints=endpoints,
                               warnings=tuple(warnings))


def new_replica(state, template, others, seed):
    """A new pod like ``template`` (same ReplicaSet): a fresh name, scheduled with spreading among
    ``others``, and the next address its node's IPAM hands out."""
    taken = {p.name for p in state.pods} | {p.name for p in others}
    for attempt in itertools.count():
        name = f"{template.owner}-{naming.random_suffix(f'{template.owner}/{seed}/{attempt}')}"
        if name not in taken:
            break
    ready_nodes = [n for n in state.nodes if n.ready] or list(state.nodes)
    load = {n.name: 0 for n in ready_nodes}
    owner_load = {}
    for p in others:
        if p.node in load:
            load[p.node] += 1
            owner_load[(p.owner, p.node)] = owner_load.get((p.owner, p.node), 0) + 1
    node = state.node(_schedule(name, template.owner, load, owner_load))
    used = {p.ip for p in list(state.pods) + list(others) if p.node == node.name}
    ip = ipam.next_after(node.pod_cidr, used)
    netns = template.netns[: len(template.netns) - len(template.name)] + name
    return dataclasses.replace(template, name=name, node=node.name, ip=ip, netns=netns,
                               host_veth=naming.host_veth_name(netns), ready=True)


def set_node_ready(state, node_name, ready):
    """The node controller's verdict: a NotReady node's pods stop being ready endpoints."""
    nodes = tuple(dataclasses.replace(n, ready=ready) if n.name == node_name else n for n in state.nodes)
    pods = [dataclasses.replace(p, ready=ready) if p.node == node_name else p for p in state.pods]
    return with_pods(dataclasses.replace(state, nodes=nodes), pods)


def carry_over(old, fresh):
    """The running cluster moved towards ``fresh`` (the same scenario built again with changed
    manifests) the way controllers move it: pods that still fit their ReplicaSet stay (names and
    addresses kept), ReplicaSets scale up or down, a changed template replaces its pods; services
    keep their ClusterIP, node ports and load-balancer address."""
    old_by_owner, fresh_by_owner = {}, {}
    for p in old.pods:
        old_by_owner.setdefault(p.owner or f"pod:{p.namespace}/{p.name}", []).append(p)
    for p in fresh.pods:
        fresh_by_owner.setdefault(p.owner or f"pod:{p.namespace}/{p.name}", []).append(p)
    pods = []
    for owner, wanted in fresh_by_owner.items():
        kept = sorted(old_by_owner.get(owner, []), key=lambda p: p.name)[:len(wanted)]
        pods += kept
        for i in range(len(wanted) - len(kept)):
            if owner.startswith("pod:"):
                pods.append(_readdress(old, wanted[0], pods))
            else:
                pods.append(new_replica(old, wanted[0], pods, seed=f"scale/{len(old.pods)}/{i}"))
    services = tuple(_keep_service(old.service(s.namespace, s.name), s) for s in fresh.services)
    state = dataclasses.replace(fresh, nodes=old.nodes)
    return with_pods(state, [dataclasses.replace(p, ready=state.node(p.node).ready) for p in pods], services)


def _readdress(old, pod, others):
    used = {p.ip for p in list(old.pods) + list(others) if p.node == pod.node}
    if pod.ip not in used:
        return pod
    return dataclasses.replace(pod, ip=ipam.next_after(old.node(pod.node).pod_cidr, used))


def _keep_service(old, new):
    """A changed Service keeps what the apiserver and the controller gave it."""
    if old is None or old.type == "ExternalName" or new.type == "ExternalName":
        return new
    ports = []
    for p in new.ports:
        before = next((q for q in old.ports if (q.name, q.protocol) == (p.name, p.protocol)), None)
        keep = before is not None and before.node_port and p.node_port
        ports.append(dataclasses.replace(p, node_port=before.node_port) if keep else p)
    lb_ips = old.lb_ips if old.lb_ips and new.type == "LoadBalancer" and not new.load_balancer_ip else new.lb_ips
    return dataclasses.replace(new, cluster_ip=old.cluster_ip if old.cluster_ip else new.cluster_ip,
                               ports=tuple(ports), lb_ips=lb_ips,
                               lb_message=None if lb_ips else new.lb_message)
