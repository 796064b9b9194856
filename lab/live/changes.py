"""Changing a running lab, as a library: apply manifests, delete objects, kill a pod's server, take
a node down or up, pull a machine's LAN link. Each change takes the lab's lock, moves the lab to
the new cluster state (lab.live.reconcile) and returns a ``ChangeResult``; what it has to say as
it goes (a grace period starting, a node going down) it also hands to ``say``, if given.

The objects a lab holds are the scenario's manifests (as read at ``up``, kept in the record),
plus what was applied since, minus what was deleted. The record learns of a change only once
the lab has converged to it.
"""

import time
from dataclasses import dataclass

from lab.cluster import controllers, lookup, objects
from lab.cluster.model import ClusterState
from lab.errors import LabError
from lab.kernel import commands, record
from lab.live import events, publish, reconcile
from lab.spec import lastapplied, scenario, sources, yamlfiles


@dataclass(frozen=True)
class ChangeResult:
    cluster: ClusterState  # the lab's state once converged
    lines: tuple  # what the change says, in order (as ``lab apply`` prints them)
    seconds: float  # until every agent had applied it


def converged_line(seconds):
    return f"converged in {seconds:.2f} s (pods, endpoints, kube-proxy rules on every node, DNS, load balancer)"


class _Change:
    """One change under the lab's lock: the record, the state before, the lines said so far."""

    def __init__(self, lab, say):
        self.lab, self.say_to = lab, say
        self.lines, self.seconds = [], 0.0
        self._scenario = None

    def __enter__(self):
        self._lock = record.locked()
        self._lock.__enter__()
        try:
            self.record, self.cluster = record.find_running(self.lab)
            reconcile.repair(self.record, self.cluster)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)

    def say(self, line):
        self.lines.append(line)
        if self.say_to:
            self.say_to(line)

    def converge(self, new, lines, objects=None):
        """Move the lab to ``new`` (holding ``objects``, when they changed) and publish it."""
        self.seconds += reconcile.converge(self.record, self.cluster, new)
        self.cluster = new
        publish.publish(self.record, new, objects if objects is not None else self.objects())
        for line in lines:
            self.say(line)
        self.say(converged_line(self.seconds))

    def objects(self):
        """Every object the lab holds now, as written (the cluster's own included)."""
        spec = self.scenario()
        return objects.with_addons(spec, objects.current(spec, objects.parse_all(self.record.applied),
                                                         self.record.deleted))

    def result(self):
        return ChangeResult(self.cluster, tuple(self.lines), self.seconds)

    def scenario(self):
        """The scenario the lab came up from, read from the record's copy of its files."""
        if self._scenario is None:
            self._scenario = scenario.load(self.record.scenario_path, self.record.lab,
                                           sources.Sources(self.record.sources()))
        return self._scenario


def apply_file(lab, path, say=None):
    """``lab apply -f FILE``: new objects are created, changed ones configured."""
    return apply_documents(lab, [(label, lastapplied.annotate_all(doc))
                                 for label, doc in yamlfiles.labelled_documents(path)], say)


def apply_documents(lab, labelled, say=None):
    """Apply ``[(label, manifest)]``: the label names the document in errors."""
    new_objects = objects.parse_all(labelled)
    with _Change(lab, say) as change:
        spec = change.scenario()
        applied = list(change.record.applied)
        deleted = change.record.deleted - {objects.key(o) for o in new_objects}
        before = {objects.key(o): o for o in objects.current(spec, objects.parse_all(applied), change.record.deleted)}
        wanted = dict(before)
        for obj in new_objects:
            wanted[objects.key(obj)] = obj
        new = objects.next_state(change.cluster, spec, list(wanted.values()))
        holding = objects.with_addons(spec, list(wanted.values()))
        lines = []
        for obj in new_objects:
            k = objects.key(obj)
            gone = obj.kind == "Pod" and not any((p.namespace, p.name) == (obj.namespace, obj.name)
                                                for p in change.cluster.pods)  # deleted, now made again
            word = "created" if k not in before or gone else ("unchanged" if before[k] == obj else "configured")
            lines.append(f"{objects.RESOURCES[k[0]]}/{obj.name} {word}")
        change.converge(new, lines, holding)
        change.record.commit_objects(_latest(applied + list(labelled)), deleted)
        return change.result()


def delete(lab, kind, namespace, name, grace_period=0.0, say=None):
    """``lab delete KIND NAME``: a pod (its ReplicaSet replaces it; with a grace period it serves
    as a terminating endpoint first), a service or a deployment."""
    with _Change(lab, say) as change:
        if kind == "Pod":
            pod = lookup.pod(change.cluster, namespace, name)
            if grace_period > 0:
                terminating = controllers.delete_pod(change.cluster, namespace, name, terminating=True)
                change.converge(terminating, [f'pod "{name}" terminating (grace period {grace_period:g} s)']
                                + _replacements(change.cluster, terminating))
                time.sleep(grace_period)
                change.converge(controllers.delete_pod(terminating, namespace, name), [f'pod "{name}" deleted'])
            else:
                new = controllers.delete_pod(change.cluster, namespace, name)
                change.converge(new, [f'pod "{name}" deleted'] + _replacements(change.cluster, new))
            if pod.owner is None:  # a bare pod's object is gone with it (a ReplicaSet's pod is replaced)
                change.record.commit_objects(change.record.applied, change.record.deleted | {("Pod", namespace, name)})
            return change.result()
        spec = change.scenario()
        applied = change.record.applied
        current = objects.current(spec, objects.parse_all(applied), change.record.deleted)
        if kind == "Namespace":  # the namespace and everything in it
            match = [o for o in current if (o.kind == "Namespace" and o.name == name) or o.namespace == name]
        else:
            match = [o for o in current if objects.key(o) == (kind, namespace, name)]
        if not match:
            where = "" if kind == "Namespace" else f" in namespace {namespace}"
            raise LabError(f'{objects.PLURALS[kind]} "{name}" not found{where}')
        remaining = [o for o in current if o not in match]
        new = objects.next_state(change.cluster, spec, remaining)
        change.converge(new, [f'{objects.RESOURCES[kind]} "{name}" deleted'], objects.with_addons(spec, remaining))
        change.record.commit_objects(applied, change.record.deleted | {objects.key(o) for o in match})
        return change.result()


def kill_pod(lab, namespace, name, after=1.0, say=None):
    """``lab kill pod``: the server dies first (connections are refused); the control plane
    notices ``after`` seconds later and the ReplicaSet replaces the pod."""
    with _Change(lab, say) as change:
        pod = lookup.pod(change.cluster, namespace, name)
        died = time.monotonic()
        reconcile.stop_serving(change.record, change.cluster, pod)
        events.record(change.record, "Killing", f"pod/{pod.name}", "Container died (lab kill)", kind="Warning",
                      namespace=pod.namespace, source="kubelet")
        change.say(f"pod {pod.name}: server killed")
        time.sleep(max(0.0, after - (time.monotonic() - died)))
        new = controllers.delete_pod(change.cluster, namespace, name)
        change.converge(new, _replacements(change.cluster, new))
        return change.result()


def set_node(lab, node_name, up, grace=5.0, say=None):
    """``lab node down|up``: the node's LAN link, then (after the node controller's grace period,
    going down) the node NotReady and its pods out of the endpoints, or Ready again."""
    with _Change(lab, say) as change:
        node = lookup.node(change.cluster, node_name)
        _set_link(change.cluster, node.name, up)
        events.record(change.record, "NodeLinkUp" if up else "NodeLinkDown", f"node/{node.hostname}",
                      f"LAN link {'up' if up else 'down'}", kind="Normal" if up else "Warning")
        change.say(f"node {node.hostname}: LAN link {'up' if up else 'down'}")
        if not up:
            change.say(f"waiting {grace:g} s (the node controller's grace period) ...")
            time.sleep(grace)
        new = controllers.set_node_ready(change.cluster, node.name, up)
        events.record(change.record, "NodeReady" if up else "NodeNotReady", f"node/{node.hostname}",
                      f"Node {node.hostname} status is now: {'NodeReady' if up else 'NodeNotReady'}",
                      kind="Normal" if up else "Warning", source="kubelet" if up else "node-controller")
        change.converge(new, [f"node {node.hostname} is {'Ready' if up else 'NotReady'}; its pods are "
                              f"{'ready' if up else 'not ready'}"])
        return change.result()


def set_link(lab, machine, up, say=None):
    """``lab link MACHINE down|up``: the cable only; the control plane does not react."""
    with _Change(lab, say) as change:
        cluster = change.cluster
        machines = [m.name for m in cluster.nodes + cluster.hosts] + (["lb"] if cluster.lb else [])
        name = next((n.name for n in cluster.nodes if machine == n.hostname), machine)
        if name not in machines:
            raise LabError(f"no machine named {machine!r} (machines: {', '.join(machines)})")
        _set_link(cluster, name, up)
        action = "up" if up else "down"
        events.record(change.record, "LinkUp" if up else "LinkDown", f"machine/{name}", f"LAN link {action}",
                      kind="Normal" if up else "Warning")
        change.say(f"{name}: LAN link {action}")
        publish.publish(change.record, cluster, change.objects())  # its event
        return change.result()


def _latest(applied):
    """The applied manifests, the last of each object only (the record stays as small as the lab)."""
    last = {}
    for label, doc in applied:
        obj = objects.parse_all([(label, doc)])[0]
        last[objects.key(obj)] = (label, doc)
    return list(last.values())


def _replacements(old, new):
    names = {p.name for p in old.pods}
    return [f"replaced by {p.name} on {new.node(p.node).hostname} ({p.ip})" for p in new.pods if p.name not in names]


def _set_link(cluster, machine, up):
    """The machine's port on the LAN switch, like a cable pulled or plugged."""
    commands.run(["ip", "link", "set", "dev", machine, "up" if up else "down"], cluster.switch_netns)
