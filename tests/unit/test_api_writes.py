"""lab.api.writes without a lab: the object checks of a write, what a patched object keeps as the
user's manifest (keep_written), the fields a Service loses with its type (drop_type_dependent),
and the Status each failed patch becomes."""

import copy

import pytest

from lab.api import kinds, status, writes

SERVICES = kinds.find("", "v1", "services")
NAMESPACES = kinds.find("", "v1", "namespaces")


def test_check_kind_fills_the_urls_namespace_and_name():
    obj = writes.check_kind({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}, SERVICES, "default")
    assert obj["metadata"] == {"name": "a", "namespace": "default"}
    obj = writes.check_kind({"apiVersion": "v1", "kind": "Service", "metadata": None}, SERVICES, "default", "b")
    assert obj["metadata"] == {"namespace": "default", "name": "b"}
    assert "namespace" not in writes.check_kind({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}},
                                                NAMESPACES, None)["metadata"]


@pytest.mark.parametrize("obj,message", [
    ({"metadata": {"name": "a", "namespace": "other"}},
     "the namespace of the provided object does not match the namespace sent on the request"),
    ({"metadata": {"name": "other"}}, "the name of the object (other) does not match the name on the URL (a)"),
    ({"metadata": "x"}, 'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal string into '
                        "Go struct field Service.metadata of type v1.ObjectMeta"),
    ({"metadata": {"name": 5}}, 'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal '
                                "number into Go struct field ObjectMeta.metadata.name of type string"),
    ({"kind": "Pod", "metadata": {}}, 'Pod in version "v1" cannot be handled as a Service: the kind does not match'),
])
def test_check_kind_refusals(obj, message):
    obj = {"apiVersion": "v1", "kind": "Service", **obj}
    with pytest.raises(status.ApiError) as err:
        writes.check_kind(obj, SERVICES, "default", "a")
    assert (err.value.code, err.value.message) == (400, message)


def test_as_manifest_drops_status_and_system_metadata():
    live = {"apiVersion": "v1", "kind": "Service", "status": {"loadBalancer": {}},
            "metadata": {"name": "a", "uid": "u", "resourceVersion": "3", "creationTimestamp": "t", "annotations": {},
                         "labels": {"x": "y"}}}
    assert writes.as_manifest(live) == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a",
                                                                                           "labels": {"x": "y"}}}
    assert live["metadata"]["uid"] == "u"


LIVE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"a": "1"}},
        "spec": {"type": "NodePort", "selector": {"app": "x"}, "clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"],
                 "sessionAffinity": "None", "externalTrafficPolicy": "Cluster",
                 "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": 30080}]}}
WRITTEN = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"a": "1"}},
           "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80}]}}


def patched(**spec):
    out = copy.deepcopy(LIVE)
    out["spec"].update(spec)
    return out


def test_keep_written_leaves_out_what_the_control_plane_filled_in():
    out = writes.keep_written(patched(selector={"app": "y"}), LIVE, WRITTEN)
    assert out == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"a": "1"}},
                   "spec": {"type": "NodePort", "selector": {"app": "y"}, "ports": [{"port": 80}]}}


def test_keep_written_keeps_what_the_change_set_even_where_the_server_had_set_it():
    out = writes.keep_written(patched(sessionAffinity="ClientIP"), LIVE, WRITTEN)
    assert out["spec"]["sessionAffinity"] == "ClientIP"
    ports = [{"port": 81, "protocol": "TCP", "targetPort": 80, "nodePort": 30080}]
    assert writes.keep_written(patched(ports=ports), LIVE, WRITTEN)["spec"]["ports"] == ports


def test_drop_type_dependent_fields_when_the_type_changes():
    new = writes.drop_type_dependent(LIVE, patched(type="ClusterIP"))
    assert "externalTrafficPolicy" not in new["spec"] and "nodePort" not in new["spec"]["ports"][0]
    kept = writes.drop_type_dependent(LIVE, patched(type="ClusterIP", externalTrafficPolicy="Local",
                                                    ports=[{"port": 80, "nodePort": 30081}]))
    assert kept["spec"]["externalTrafficPolicy"] == "Local"  # set by the change: left for validation to judge
    assert kept["spec"]["ports"] == [{"port": 80, "nodePort": 30081}]
    external = writes.drop_type_dependent(LIVE, patched(type="ExternalName", externalName="example.com"))
    assert "clusterIP" not in external["spec"] and "clusterIPs" not in external["spec"]
    assert writes.drop_type_dependent(LIVE, patched()) == patched()
    assert writes.drop_type_dependent({"kind": "Pod"}, {"kind": "Pod", "spec": 1}) == {"kind": "Pod", "spec": 1}


@pytest.mark.parametrize("patch,kind,code,reason,message", [
    ([{"op": "test", "path": "/spec/type", "value": "ClusterIP"}], "json", 422, "Invalid",
     "the server rejected our request due to an error in our request"),
    ([1], "json", 400, "BadRequest", "json: cannot unmarshal number into Go value of type jsonpatch.Operation"),
    ({"spec": {"ports": [{"nodePort": 1}]}}, "strategic", 500, "",
     "map: map[nodePort:1] does not contain declared merge key: port"),
    ({"spec": {"$retainKeys": 1}}, "strategic", 400, "BadRequest", "invalid patch format of retainKeys"),
])
def test_failed_patches_answer_as_kube(patch, kind, code, reason, message):
    with pytest.raises(status.ApiError) as err:
        writes.apply_patch(LIVE, patch, kind)
    assert (err.value.code, err.value.reason, err.value.message) == (code, reason, message)


def test_a_merge_patch_that_is_not_an_object():
    with pytest.raises(status.ApiError) as err:
        writes.apply_patch(LIVE, [1], "merge")
    assert err.value.code == 422
    assert err.value.message.startswith(' "" is invalid: patch: Invalid value: "[1]": couldn\'t get version/kind')


def test_patches_apply():
    assert writes.apply_patch(LIVE, {"spec": {"type": "ClusterIP"}}, "merge")["spec"]["type"] == "ClusterIP"
    out = writes.apply_patch(LIVE, {"spec": {"ports": [{"port": 80, "name": "http"}]}}, "strategic")
    assert out["spec"]["ports"][0]["name"] == "http" and out["spec"]["ports"][0]["nodePort"] == 30080
    assert writes.apply_patch(LIVE, [{"op": "replace", "path": "/spec/type", "value": "X"}], "json")["spec"]["type"] == "X"


def test_generate_name():
    obj = {"kind": "Pod", "metadata": {"generateName": "web-"}}
    writes.generate_name(obj, set())
    assert obj["metadata"]["name"].startswith("web-") and len(obj["metadata"]["name"]) == 9
    with pytest.raises(status.ApiError) as err:
        writes.generate_name({"kind": "Pod", "metadata": {}}, set())
    assert err.value.message == 'Pod "" is invalid: metadata.name: Required value: name or generateName is required'
