"""The events a change records, in the words of the components that report them in a cluster."""

import dataclasses
import os

from factories import SCENARIOS
from lab.cluster import controllers, diff
from lab.cluster.build import build_cluster
from lab.live.events import change_events
from lab.spec import scenario


def _seed():
    return build_cluster(scenario.load(os.path.join(SCENARIOS, "seed.yml")))


def _lines(changes, new, reason):
    return [(obj, message, extra["source"]) for r, obj, message, extra in change_events(changes, new) if r == reason]


def test_up_scales_each_replica_set_from_nothing_and_starts_every_container():
    cluster = _seed()
    changes = diff.from_nothing(cluster)
    assert _lines(changes, cluster, "ScalingReplicaSet") == [
        ("deployment/coredns", "Scaled up replica set coredns-6497467d64 to 2", "deployment-controller"),
        ("deployment/pod-nodeport", "Scaled up replica set pod-nodeport-6cc49c7999 to 2", "deployment-controller")]
    created = _lines(changes, cluster, "SuccessfulCreate")
    assert ("replicaset/pod-nodeport-6cc49c7999", "Created pod: pod-nodeport-6cc49c7999-gdqbg",
            "replicaset-controller") in created
    started = _lines(changes, cluster, "Started")
    assert ("pod/pod-nodeport-6cc49c7999-gdqbg", "Started container myapp", "kubelet") in started
    assert ("pod/pod-nodeport-6cc49c7999-gdqbg", 'Container image "luksa/kubia" already present on machine',
            "kubelet") in _lines(changes, cluster, "Pulled")
    scheduled = _lines(changes, cluster, "Scheduled")
    assert ("pod/pod-nodeport-6cc49c7999-gdqbg", "Successfully assigned default/pod-nodeport-6cc49c7999-gdqbg to "
            f"{cluster.node('master').hostname}", "default-scheduler") in scheduled


def test_a_pod_replaced_is_no_scaling_and_a_scale_down_deletes():
    old = _seed()
    new = controllers.delete_pod(old, "default", "pod-nodeport-6cc49c7999-gdqbg")
    changes = diff.between(old, new)
    assert not _lines(changes, new, "ScalingReplicaSet")
    assert not _lines(changes, new, "SuccessfulDelete")
    assert [line[1] for line in _lines(changes, new, "SuccessfulCreate")] == \
        [f"Created pod: {p.name}" for p in changes.added_pods]
    assert _lines(changes, new, "Killing") == [("pod/pod-nodeport-6cc49c7999-gdqbg", "Stopping container myapp",
                                                "kubelet")]
    fewer = dataclasses.replace(old, pods=tuple(p for p in old.pods if p.name != "pod-nodeport-6cc49c7999-gdqbg"))
    changes = diff.between(old, fewer)
    assert _lines(changes, fewer, "ScalingReplicaSet") == [
        ("deployment/pod-nodeport", "Scaled down replica set pod-nodeport-6cc49c7999 to 1 from 2",
         "deployment-controller")]
    assert _lines(changes, fewer, "SuccessfulDelete") == [
        ("replicaset/pod-nodeport-6cc49c7999", "Deleted pod: pod-nodeport-6cc49c7999-gdqbg", "replicaset-controller")]
