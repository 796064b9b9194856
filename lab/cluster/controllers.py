"""Changes to a running cluster, as its controllers make them: a deleted pod replaced, a
ReplicaSet scaled, a node NotReady, changed manifests carried over onto the running state."""

import dataclasses
import itertools

from lab.cluster import endpoints, ipam, naming
from lab.cluster.scheduler import pick_node


def delete_pod(cluster, namespace, name, terminating=False):
    """The state after a pod is deleted: its controller replaces it (a ReplicaSet's with a new pod:
    new name, scheduled again, the next address of its node as host-local IPAM hands it out; a
    StatefulSet's under the same name, on the same node with the same address; a DaemonSet's with
    a new name on the same node); a bare pod is simply gone. With ``terminating``, the pod stays
    during its grace period, serving but not ready (its endpoint says terminating)."""
    pod = next((p for p in cluster.pods if p.namespace == namespace and p.name == name), None)
    if pod is None:
        raise KeyError(f"{namespace}/{name}")
    pods = [p for p in cluster.pods if p is not pod]
    if pod.owner_kind == "StatefulSet" and not terminating:
        pods.insert(cluster.pods.index(pod), dataclasses.replace(pod, incarnation=pod.incarnation + 1, ready=True,
                                                                 terminating=False))
        return with_pods(cluster, pods)
    if pod.owner and not pod.terminating and pod.owner_kind != "StatefulSet":
        pods.append(new_replica(cluster, pod, pods, seed=pod.name))
    if terminating:
        pods.insert(cluster.pods.index(pod), dataclasses.replace(pod, terminating=True))
    return with_pods(cluster, pods)


def with_pods(cluster, pods, services=None):
    """The state with these pods (and services); endpoints recomputed."""
    services = cluster.services if services is None else services
    eps, warnings = endpoints.compute(services, pods, cluster.nodes, cluster.endpoint_slices)
    return dataclasses.replace(cluster, pods=tuple(pods), services=tuple(services), endpoints=eps,
                               warnings=tuple(warnings))


def new_replica(cluster, template, others, seed):
    """A new pod like ``template`` (same ReplicaSet or DaemonSet): a fresh name; a ReplicaSet's is
    scheduled with spreading among ``others``, a DaemonSet's stays on its node; the next address
    its node's IPAM hands out."""
    taken = {p.name for p in cluster.pods} | {p.name for p in others}
    for attempt in itertools.count():
        name = f"{template.owner}-{naming.random_suffix(f'{template.owner}/{seed}/{attempt}')}"
        if name not in taken:
            break
    if template.owner_kind == "DaemonSet":
        node = cluster.node(template.node)
    else:
        ready_nodes = [n for n in cluster.nodes if n.ready] or list(cluster.nodes)
        if template.host_network:  # kube-scheduler's NodePorts filter, where some node has the ports free
            ready_nodes = [n for n in ready_nodes if not _holds_ports(others, n.name, template)] or ready_nodes
        load = {n.name: 0 for n in ready_nodes}
        owner_load = {}
        for p in others:
            if p.node in load:
                load[p.node] += 1
                owner_load[(p.owner, p.node)] = owner_load.get((p.owner, p.node), 0) + 1
        node = cluster.node(pick_node(name, template.owner, load, owner_load))
    netns = template.netns[: len(template.netns) - len(template.name)] + name
    if template.host_network:
        return dataclasses.replace(template, name=name, node=node.name, ip=node.ip, netns=netns,
                                   node_netns=node.netns, ready=True, terminating=False, incarnation=0)
    used = {p.ip for p in list(cluster.pods) + list(others) if p.node == node.name}
    ip = ipam.next_after(node.pod_cidr, used)
    return dataclasses.replace(template, name=name, node=node.name, ip=ip, netns=netns,
                               host_veth=naming.host_veth_name(netns), ready=True, terminating=False, incarnation=0)


def _holds_ports(pods, node_name, template):
    wanted = {(p.container_port, p.protocol) for p in template.ports}
    return any(p.host_network and p.node == node_name and wanted & {(q.container_port, q.protocol) for q in p.ports}
               for p in pods)


def set_node_ready(cluster, node_name, ready):
    """The node controller's verdict: a NotReady node's pods stop being ready endpoints."""
    nodes = tuple(dataclasses.replace(n, ready=ready) if n.name == node_name else n for n in cluster.nodes)
    pods = [dataclasses.replace(p, ready=ready) if p.node == node_name else p for p in cluster.pods]
    return with_pods(dataclasses.replace(cluster, nodes=nodes), pods)


def carry_over(old, fresh):
    """The running cluster moved towards ``fresh`` (the same scenario built again with changed
    manifests) the way controllers move it: pods that still fit their controller stay (names and
    addresses kept): ReplicaSets scale up or down, a StatefulSet keeps its ordinals and adds or
    drops the highest, a DaemonSet keeps its pod on each node, a bare pod takes its new labels; a
    changed template replaces its pods; services keep their ClusterIP, node ports and load-balancer
    address."""
    old_by_owner, fresh_by_owner = {}, {}
    for p in old.pods:
        old_by_owner.setdefault(_owner_key(p), []).append(p)
    for p in fresh.pods:
        fresh_by_owner.setdefault(_owner_key(p), []).append(p)
    pods = []
    for owner, wanted in fresh_by_owner.items():
        before = old_by_owner.get(owner, [])
        kind = wanted[0].owner_kind
        if kind in ("StatefulSet", "DaemonSet"):  # the same identity: ordinal name, or node
            identity = (lambda p: p.name) if kind == "StatefulSet" else (lambda p: p.node)
            kept = {identity(p): p for p in before}
            for w in wanted:
                pods.append(kept[identity(w)] if identity(w) in kept else _readdress(old, w, pods))
            continue
        kept = sorted(before, key=lambda p: p.name)[:len(wanted)]
        if owner[0] == "pod":  # a bare pod's labels change in place (its endpoints follow), as in Kubernetes
            kept = [dataclasses.replace(p, labels=wanted[0].labels) for p in kept]
        pods += kept
        for i in range(len(wanted) - len(kept)):
            if owner[0] == "pod":
                pods.append(_readdress(old, wanted[0], pods))
            else:
                pods.append(new_replica(old, wanted[0], pods, seed=f"scale/{len(old.pods)}/{i}"))
    services = tuple(_keep_service(old.service(s.namespace, s.name), s) for s in fresh.services)
    cluster = dataclasses.replace(fresh, nodes=old.nodes)
    return with_pods(cluster, [dataclasses.replace(p, ready=cluster.node(p.node).ready) for p in pods], services)


def _owner_key(pod):
    if pod.owner:
        return (pod.owner_kind or "ReplicaSet", pod.namespace, pod.owner)
    return ("pod", pod.namespace, pod.name)


def _readdress(old, pod, others):
    if pod.host_network:  # the node's address, shared with the node
        return pod
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
        keep = before is not None and before.node_port and p.node_port and not p.node_port_asked
        ports.append(dataclasses.replace(p, node_port=before.node_port) if keep else p)
    lb_ips = old.lb_ips if old.lb_ips and new.type == "LoadBalancer" and not new.load_balancer_ip else new.lb_ips
    return dataclasses.replace(new, cluster_ip=old.cluster_ip if old.cluster_ip else new.cluster_ip,
                               ports=tuple(ports), lb_ips=lb_ips,
                               lb_message=None if lb_ips else new.lb_message)
