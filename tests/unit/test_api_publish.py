"""lab.live.publish.update: the object store's resourceVersions (one counter, the next for each
new or changed object, none for an unchanged one), uids, DELETED entries, an object made again
under its name, terminating objects, references resolved to uids, and the history's cap."""

import copy

from lab.live import publish

T = 1_600_000_000.0


def pod(name, ip="10.0.0.1", **extra):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": "n1"}, "status": {"podIP": ip}, **extra}


def deployment(replicas=1):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"},
            "spec": {"replicas": replicas}, "status": {"observedGeneration": 1}}


def keyed(*objs):
    return {f"{o['apiVersion']}/{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}": o
            for o in objs}


def test_first_publication_adds_everything_in_key_order():
    store, changes = publish.update(publish.Store(), keyed(pod("b"), pod("a")), T)
    assert [(rv, kind, o["metadata"]["name"]) for rv, kind, o in changes] == [(1, "ADDED", "a"), (2, "ADDED", "b")]
    assert store.resource_version == 2
    a = store.objects["v1/Pod/default/a"]
    assert a["metadata"]["resourceVersion"] == "1" and a["metadata"]["creationTimestamp"] == "2020-09-13T12:26:40Z"
    assert len(a["metadata"]["uid"]) == 36


def test_unchanged_objects_keep_their_resource_version():
    store, _ = publish.update(publish.Store(), keyed(pod("a"), pod("b")), T)
    again, changes = publish.update(store, keyed(pod("a"), pod("b")), T + 60)
    assert changes == [] and again.resource_version == 2
    assert again.objects == store.objects


def test_a_change_is_modified_with_the_next_resource_version():
    store, _ = publish.update(publish.Store(), keyed(pod("a"), pod("b")), T)
    uid = store.objects["v1/Pod/default/b"]["metadata"]["uid"]
    store, changes = publish.update(store, keyed(pod("a"), pod("b", ip="10.0.0.2")), T + 60)
    assert [(rv, kind, o["metadata"]["name"]) for rv, kind, o in changes] == [(3, "MODIFIED", "b")]
    b = store.objects["v1/Pod/default/b"]["metadata"]
    assert (b["resourceVersion"], b["uid"], b["creationTimestamp"]) == ("3", uid, "2020-09-13T12:26:40Z")


def test_generation_counts_spec_changes_of_workloads():
    store, _ = publish.update(publish.Store(), keyed(deployment(1)), T)
    assert store.objects["apps/v1/Deployment/default/d"]["metadata"]["generation"] == 1
    changed = deployment(1)
    changed["status"]["replicas"] = 1
    store, _ = publish.update(store, keyed(changed), T)  # a status change: same generation
    assert store.objects["apps/v1/Deployment/default/d"]["metadata"]["generation"] == 1
    store, _ = publish.update(store, keyed(deployment(3)), T)
    d = store.objects["apps/v1/Deployment/default/d"]
    assert d["metadata"]["generation"] == 2 and d["status"]["observedGeneration"] == 2
    assert "generation" not in publish.update(publish.Store(), keyed(pod("a")), T)[0].objects[
        "v1/Pod/default/a"]["metadata"]


def test_a_vanished_object_is_deleted_with_its_last_state():
    store, _ = publish.update(publish.Store(), keyed(pod("a"), pod("b")), T)
    store, changes = publish.update(store, keyed(pod("a")), T)
    assert [(rv, kind) for rv, kind, _ in changes] == [(3, "DELETED")]
    gone = changes[0][2]
    assert gone["metadata"]["name"] == "b" and gone["metadata"]["resourceVersion"] == "3"
    assert "v1/Pod/default/b" not in store.objects and "v1/Pod/default/b" not in store.meta


def test_an_object_made_again_under_its_name_is_a_new_object():
    first = pod("a")
    first["_incarnation"] = 0
    store, _ = publish.update(publish.Store(), keyed(first), T)
    uid = store.objects["v1/Pod/default/a"]["metadata"]["uid"]
    again = pod("a")
    again["_incarnation"] = 1
    store, changes = publish.update(store, keyed(again), T + 5)
    assert [(rv, kind) for rv, kind, _ in changes] == [(2, "DELETED"), (3, "ADDED")]
    assert changes[0][2]["metadata"]["uid"] == uid
    new = store.objects["v1/Pod/default/a"]["metadata"]
    assert new["uid"] != uid and new["creationTimestamp"] == "2020-09-13T12:26:45Z"


def test_terminating_objects_get_a_deletion_timestamp_once():
    store, _ = publish.update(publish.Store(), keyed(pod("a")), T)
    leaving = pod("a")
    leaving["_terminating"] = True
    again = copy.deepcopy(leaving)  # update finishes what it is given in place
    store, changes = publish.update(store, keyed(leaving), T + 10)
    assert [kind for _, kind, _ in changes] == ["MODIFIED"]
    assert store.objects["v1/Pod/default/a"]["metadata"]["deletionTimestamp"] == "2020-09-13T12:26:50Z"
    store, changes = publish.update(store, keyed(again), T + 20)
    assert changes == [] and store.objects["v1/Pod/default/a"]["metadata"]["deletionTimestamp"] == \
        "2020-09-13T12:26:50Z"


def test_references_resolve_to_uids_and_follow_an_owner_made_again():
    def rs(incarnation):
        owner = deployment()
        owner["_incarnation"] = incarnation
        child = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
            "name": "d-1", "namespace": "default", "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d",
                 "_key": "apps/v1/Deployment/default/d"}]}, "spec": {}}
        return keyed(owner, child)
    store, _ = publish.update(publish.Store(), rs(0), T)
    owner_uid = store.objects["apps/v1/Deployment/default/d"]["metadata"]["uid"]
    ref = store.objects["apps/v1/ReplicaSet/default/d-1"]["metadata"]["ownerReferences"][0]
    assert ref == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": owner_uid}
    store, changes = publish.update(store, rs(1), T)
    new_uid = store.objects["apps/v1/Deployment/default/d"]["metadata"]["uid"]
    assert store.objects["apps/v1/ReplicaSet/default/d-1"]["metadata"]["ownerReferences"][0]["uid"] == new_uid
    # the dependent changed (its reference points at the new uid): a watcher hears of it
    assert ("MODIFIED", "d-1") in [(kind, o["metadata"]["name"]) for _, kind, o in changes]


def test_written_manifests_are_kept_beside_the_objects():
    a = pod("a")
    a["_written"] = {"kind": "Pod", "metadata": {"name": "a"}}
    store, _ = publish.update(publish.Store(), keyed(a), T)
    assert store.meta["v1/Pod/default/a"]["written"] == {"kind": "Pod", "metadata": {"name": "a"}}
    assert "_written" not in store.objects["v1/Pod/default/a"]


def test_open_times_and_events_take_the_creation_time():
    p = pod("a")
    p["status"]["startTime"] = None
    ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"}, "_time": T - 30}
    store, _ = publish.update(publish.Store(), keyed(p, ev), T)
    assert store.objects["v1/Pod/default/a"]["status"]["startTime"] == "2020-09-13T12:26:40Z"
    e = store.objects["v1/Event/default/e"]
    assert e["firstTimestamp"] == e["lastTimestamp"] == "2020-09-13T12:26:10Z" and e["eventTime"] is None


def test_history_keeps_the_last_changes(monkeypatch):
    monkeypatch.setattr(publish, "HISTORY", 5)
    store = publish.Store()
    for i in range(4):
        store, _ = publish.update(store, keyed(pod("a", ip=f"10.0.0.{i}"), pod("b", ip=f"10.0.1.{i}")), T)
    assert [rv for rv, _, _ in store.history] == [4, 5, 6, 7, 8]
    restored = publish.Store(store.as_json())
    assert restored.history == store.history and restored.resource_version == 8
