"""Pods: named, scheduled and addressed as the ReplicaSet controller, kube-scheduler and the
CNI's host-local IPAM would, with hashes standing in for their random choices."""

import re
from dataclasses import dataclass

from lab.cluster import ipam, naming, workloads
from lab.cluster.model import Container, Pod, PodPort
from lab.errors import InputError
from lab.spec.manifests import BarePod, DaemonSet, Deployment, ReplicaSetSpec, StatefulSet


def place_pods(scenario, objects, nodes):
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

    planned = []  # Planned pods, in the objects' order
    taken_names = set()
    for obj in objects:
        for entry in _planned(obj, pins, taken_names, node_names):
            planned.append(entry)
            taken_names.add(entry.name)
    _check_pod_names(planned, scenario)

    load = {n: 0 for n in node_names}
    owner_load = {}
    for entry in planned:
        node = entry.fixed_node(nodes)
        if node:
            load[node] += 1
            owner_load[(entry.owner, node)] = owner_load.get((entry.owner, node), 0) + 1
    by_name = {n.name: n for n in nodes}
    host_ports = {}  # node -> {(port, protocol): pod}: what hostNetwork pods hold there
    for entry in planned:
        node = entry.fixed_node(nodes) or (_node_by_hostname(entry.template.node_name, nodes, entry.source)
                                           if entry.template.node_name else None)
        if node and entry.template.host_network:
            _hold_host_ports(host_ports, node, entry)
    pods = []
    for entry in planned:
        tmpl, pin = entry.template, entry.pin
        node = entry.fixed_node(nodes)
        if node is None:
            if tmpl.node_name:
                node = _node_by_hostname(tmpl.node_name, nodes, entry.source)
            else:
                fits = load
                if tmpl.host_network:  # kube-scheduler's NodePorts filter: a node whose ports are free
                    fits = {n: c for n, c in load.items() if not _port_clash(host_ports, n, entry)}
                    if not fits:
                        raise _ports_taken_error(entry, host_ports, None)
                node = pick_node(entry.name, entry.owner, fits, owner_load)
                if tmpl.host_network:
                    _hold_host_ports(host_ports, node, entry)
            load[node] += 1
            owner_load[(entry.owner, node)] = owner_load.get((entry.owner, node), 0) + 1
        if tmpl.host_network:
            ip = by_name[node].ip  # the node's own address: no pod address is used
        else:
            ip = pin.ip if pin and pin.ip else _allocate_pod_ip(pools[node], node, scenario)
        pods.append(make_pod(scenario.name, entry, by_name[node], ip))
    return tuple(pods)


def host_ports_of(template):
    """The (port, protocol) pairs a hostNetwork pod holds on its node (hostPort is containerPort)."""
    return {(p.container_port, p.protocol) for c in template.containers for p in c.ports}


def _port_clash(held, node, entry):
    taken = held.get(node, {})
    return next(((port, taken[port]) for port in sorted(host_ports_of(entry.template))
                 if port in taken and taken[port] != entry.name), None)


def _hold_host_ports(held, node, entry):
    clash = _port_clash(held, node, entry)
    if clash:
        raise _ports_taken_error(entry, held, node)
    for port in host_ports_of(entry.template):
        held.setdefault(node, {})[port] = entry.name


def _ports_taken_error(entry, held, node):
    """As kube-scheduler leaves such a pod Pending ("didn't have free ports for the requested pod
    ports"), svclab refuses it."""
    if node is None:
        (port, protocol), where = sorted(host_ports_of(entry.template))[0], "every node"
    else:
        (port, protocol), other = _port_clash(held, node, entry)
        where = f"node {node} (pod {other} holds it)"
    return InputError(entry.source, "spec.containers[].ports", f"pod {entry.namespace}/{entry.name} has "
                      f"hostNetwork: true and port {port}/{protocol}, already in use on {where}: kube-scheduler "
                      "would leave it Pending (no node has free ports for the requested pod ports)",
                      "give the pods different containerPorts, pin them to different nodes, or run fewer replicas")


@dataclass(frozen=True)
class Planned:
    """A pod a workload (or a bare Pod manifest) asks for, before it has a node and an address."""

    namespace: str
    name: str
    template: object  # spec.manifests.PodTemplate
    owner: str = None  # the controller's name: the ReplicaSet, StatefulSet or DaemonSet
    owner_kind: str = None
    template_hash: str = None
    pin: object = None  # a scenario's PodPin
    source: str = ""
    node: str = None  # a DaemonSet's pod: its node
    hostname: str = None  # a StatefulSet's pod: its name
    subdomain: str = None  # ... and the governing Service

    def fixed_node(self, nodes):
        if self.node:
            return self.node
        if self.pin and (self.pin.node or self.pin.ip):
            return self.pin.node or _node_of_ip(self.pin, nodes)
        return None


def _planned(obj, pins, taken_names, node_names):
    """The pods ``obj`` asks for: a Deployment's (through its ReplicaSet), a ReplicaSet's, a
    StatefulSet's (ordinal names), a DaemonSet's (one per node), or a bare Pod."""
    taken = taken_names  # the caller's set: names are unique across every object

    def fresh(owner, seed):
        name = _unique_pod_name(owner, seed, taken)
        taken.add(name)
        return name

    if isinstance(obj, Deployment):
        tmpl_hash = _pinned_hash(obj, pins) or naming.pod_template_hash(obj.template.raw)
        owner = f"{obj.name}-{tmpl_hash}"
        out = []
        for i in range(obj.replicas):
            pin = pins.get((obj.namespace, obj.name, i))
            name = pin.name if pin and pin.name else fresh(owner, i)
            taken.add(name)
            out.append(Planned(obj.namespace, name, obj.template, owner, "ReplicaSet", tmpl_hash, pin, obj.source))
        return out
    if isinstance(obj, ReplicaSetSpec):
        return [Planned(obj.namespace, fresh(obj.name, i), obj.template, obj.name, "ReplicaSet", source=obj.source)
                for i in range(obj.replicas)]
    if isinstance(obj, StatefulSet):
        return [Planned(obj.namespace, f"{obj.name}-{i}", obj.template, obj.name, "StatefulSet", source=obj.source,
                        hostname=f"{obj.name}-{i}", subdomain=obj.service_name) for i in range(obj.replicas)]
    if isinstance(obj, DaemonSet):
        return [Planned(obj.namespace, fresh(obj.name, node), obj.template, obj.name, "DaemonSet", source=obj.source,
                        node=node) for node in node_names]
    if isinstance(obj, BarePod):
        return [Planned(obj.namespace, obj.name, obj.template, source=obj.source)]
    return []


def make_pod(lab, entry, node, ip):
    """The Pod a planned entry becomes on ``node`` (a Node) with address ``ip``."""
    tmpl = entry.template
    labels = tmpl.labels + ((("pod-template-hash", entry.template_hash),) if entry.template_hash else ())
    if entry.owner_kind == "StatefulSet":
        labels += (("statefulset.kubernetes.io/pod-name", entry.name),)
    containers = tuple(Container(c.name, c.image, tuple(PodPort(p.container_port, p.protocol, p.name)
                                                         for p in c.ports), c.command, c.args)
                       for c in tmpl.containers)
    netns = pod_netns(lab, entry.namespace, entry.name)
    host = tmpl.host_network
    return Pod(entry.namespace, entry.name, node.name, ip, tuple(sorted(labels)), containers,
               workloads.app_for(tmpl), netns, None if host else naming.host_veth_name(netns), entry.owner,
               entry.template_hash, hostname=entry.hostname or tmpl.hostname,
               subdomain=entry.subdomain or tmpl.subdomain, owner_kind=entry.owner_kind, host_network=host,
               node_netns=node.netns if host else None, dns_policy=tmpl.dns_policy)


def pod_netns(lab, namespace, name):
    return f"{lab}-{name}" if namespace == "default" else f"{lab}-{namespace}.{name}"


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


def pick_node(pod_name, owner, load, owner_load):
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


def _node_by_hostname(hostname, nodes, source):
    for n in nodes:
        if hostname in (n.hostname, n.name):
            return n.name
    raise InputError(source, "spec.nodeName", f"no node named {hostname!r}",
                     "use one of: " + ", ".join(n.hostname for n in nodes))


def _check_pins(scenario, objects, node_names):
    deployments = {(o.namespace, o.name): o for o in objects if isinstance(o, Deployment)}
    for pin in scenario.pod_pins:
        dep = deployments.get((pin.namespace, pin.deployment))
        if dep is None:
            raise pin.where.child("deployment").error(f"no Deployment {pin.namespace}/{pin.deployment} in the manifests")
        if pin.index >= dep.replicas:
            raise pin.where.error(f"Deployment {pin.namespace}/{pin.deployment} has {dep.replicas} replicas, and this "
                                  f"is pin {pin.index + 1} for it", "pin at most spec.replicas of its pods")
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
    for ns, name in ((p.namespace, p.name) for p in planned):
        if (ns, name) in seen:
            raise InputError(scenario.source, "pins.pods", f"pod name {ns}/{name} would be used twice",
                             "give each pinned pod its own name")
        seen.add((ns, name))


