"""Finding the machines and pods a command names in a cluster state. Pure."""

from lab.errors import LabError

PROG = "python3 -m lab"


def labelled_pod(cluster, label):
    """The first pod, by name, with the label ``KEY=VALUE``."""
    key, _, value = label.partition("=")
    pods = sorted((p for p in cluster.pods if p.label_dict.get(key) == value), key=lambda p: p.name)
    if not pods:
        raise LabError(f"no pod has the label {key}={value}")
    return pods[0]


def netns_of(cluster, target, namespace=None):
    """The network namespace of a node, host or pod named ``target``, or of ``pod:KEY=VALUE``
    (the first pod with that label): where a command run "in" it runs (a hostNetwork pod's is its
    node's)."""
    if target.startswith("pod:") and "=" in target:
        return labelled_pod(cluster, target[4:]).exec_netns
    for n in cluster.nodes:
        if target in (n.name, n.hostname):
            return n.netns
    for h in cluster.hosts:
        if target == h.name:
            return h.netns
    if cluster.lb is not None and target in ("lb", cluster.lb.netns):
        return cluster.lb.netns
    pods = [p for p in cluster.pods if p.name == target and (namespace is None or p.namespace == namespace)]
    if len(pods) == 1:
        return pods[0].exec_netns
    if len(pods) > 1:
        raise LabError(f"several pods are named {target!r}; say which namespace with -n")
    names = [n.name for n in cluster.nodes] + [h.name for h in cluster.hosts]
    raise LabError(f"no node, host or pod named {target!r} (nodes and hosts: {', '.join(names)}; "
                   f"pods: see {PROG} get pods -A)")


def images_of(cluster, target, namespace=None):
    """The images of the pod ``target`` names, as ``netns_of`` finds it (none for a machine)."""
    if any(target in (m.name, getattr(m, "hostname", None)) for m in cluster.nodes + cluster.hosts):
        return []
    if target.startswith("pod:") and "=" in target:
        pods = [labelled_pod(cluster, target[4:])]
    else:
        pods = [p for p in cluster.pods if p.name == target and (namespace is None or p.namespace == namespace)]
    return [c.image for c in pods[0].containers] if len(pods) == 1 else []


def pod(cluster, namespace, name):
    """The pod ``namespace/name``, as kube-apiserver words its absence."""
    found = next((p for p in cluster.pods if p.namespace == namespace and p.name == name), None)
    if found is None:
        raise LabError(f'pods "{name}" not found in namespace {namespace}')
    return found


def pod_by_name(cluster, target):
    """A pod by name, or the first pod (by name) with a label: ``pod:app=web``."""
    if target.startswith("pod:"):
        return labelled_pod(cluster, target[4:])
    pods = [p for p in cluster.pods if p.name == target]
    if len(pods) != 1:
        raise LabError(f"no pod named {target!r}" if not pods else f"several pods are named {target!r}")
    return pods[0]


def node(cluster, name):
    """A node by its topology name or its hostname."""
    found = next((n for n in cluster.nodes if name in (n.name, n.hostname)), None)
    if found is None:
        raise LabError(f"no node named {name!r} (nodes: {', '.join(n.name for n in cluster.nodes)})")
    return found
