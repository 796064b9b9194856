"""lab.api.patch: JSON merge patch (RFC 7386's own examples), JSON patch (RFC 6902's examples and
evanphx/json-patch's rules), and strategic merge patch as apimachinery's strategicpatch applies it
(merge keys of the served kinds, the order of merged lists, the directives, the errors kube-apiserver
passes on)."""

import copy

import pytest

from lab.api import patch

# merge patch: RFC 7386 appendix A, row for row ---------------------------------------------------

RFC7386 = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize("target,merge,result", RFC7386)
def test_merge_patch_rfc7386_examples(target, merge, result):
    before = copy.deepcopy(target)
    assert patch.merge_patch(target, merge) == result
    assert target == before  # the live object is not touched


# JSON patch: RFC 6902 appendix A ------------------------------------------------------------------

def test_json_patch_rfc6902_examples():
    jp = patch.json_patch
    assert jp({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}]) == {"baz": "qux", "foo": "bar"}
    assert jp({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}]) == \
        {"foo": ["bar", "qux", "baz"]}
    assert jp({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}]) == {"foo": "bar"}
    assert jp({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}]) == {"foo": ["bar", "baz"]}
    assert jp({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}]) == \
        {"baz": "boo", "foo": "bar"}
    assert jp({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
              [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]) == \
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}
    assert jp({"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}]) == \
        {"foo": ["all", "cows", "eat", "grass"]}
    assert jp({"baz": "qux", "foo": ["a", 2, "c"]}, [{"op": "test", "path": "/baz", "value": "qux"},
                                                  {"op": "test", "path": "/foo/1", "value": 2}]) == \
        {"baz": "qux", "foo": ["a", 2, "c"]}
    assert jp({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}]) == \
        {"foo": "bar", "child": {"grandchild": {}}}
    assert jp({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]) == \
        {"foo": "bar", "baz": "qux"}  # A.9: members it does not know are ignored
    assert jp({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}]) == {"/": 9, "~1": 10}
    assert jp({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]) == \
        {"foo": ["bar", ["abc", "def"]]}
    assert jp({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}]) == {"a": {"b": 1}, "c": {"b": 1}}


@pytest.mark.parametrize("doc,ops", [
    ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}]),  # A.10
    ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}]),  # A.12: no parent
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}]),  # A.15: "10" is not 10
    ({"a": True}, [{"op": "test", "path": "/a", "value": 1}]),  # true is not 1 either
    ({"a": 1}, [{"op": "remove", "path": "/b"}]),
    ({"a": 1}, [{"op": "replace", "path": "/b", "value": 2}]),
    ({"a": [1]}, [{"op": "add", "path": "/a/5", "value": 2}]),
    ({"a": [1]}, [{"op": "move", "from": "/x", "path": "/y"}]),
    ({"a": 1}, [{"op": "frobnicate", "path": "/a"}]),
    ({"a": 1}, [{"op": "add", "path": "a", "value": 2}]),
    ({"a": 1}, [{"op": "add", "path": "/b"}]),
])
def test_json_patch_that_cannot_apply_is_422(doc, ops):
    with pytest.raises(patch.PatchError) as err:
        patch.json_patch(doc, ops)
    assert err.value.code == 422


def test_json_patch_negative_index_counts_from_the_end():
    # evanphx/json-patch v4 (kube's) takes -1 as the last element
    assert patch.json_patch({"a": [1, 2, 3]}, [{"op": "remove", "path": "/a/-1"}]) == {"a": [1, 2]}


@pytest.mark.parametrize("ops,message", [
    ({"op": "add"}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
    ([1], "json: cannot unmarshal number into Go value of type jsonpatch.Operation"),
    (["x"], "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
])
def test_json_patch_that_does_not_decode_is_400(ops, message):
    with pytest.raises(patch.PatchError) as err:
        patch.json_patch({}, ops)
    assert (err.value.code, str(err.value)) == (400, message)


def test_json_patch_operation_limit_is_kubes():
    ops = [{"op": "test", "path": "", "value": {}}] * (patch.MAX_JSON_PATCH_OPERATIONS + 1)
    with pytest.raises(patch.PatchError) as err:
        patch.json_patch({}, ops)
    assert err.value.code == 413
    assert str(err.value) == "The allowed maximum operations in a JSON patch is 10000, got 10001"


# strategic merge patch ------------------------------------------------------------------------------

def deployment(*containers, **spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "template": {"spec": {"containers": list(containers)}}, **spec}}


def containers_of(obj):
    return obj["spec"]["template"]["spec"]["containers"]


def smp(target, p):
    before = copy.deepcopy(target)
    out = patch.strategic_merge_patch(target, p)
    assert target == before
    return out


def template_patch(**pod_spec):
    return {"spec": {"template": {"spec": pod_spec}}}


def test_containers_merge_by_name_in_the_patchs_order():
    live = deployment({"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}, {"name": "c", "image": "c:1"})
    out = smp(live, template_patch(containers=[{"name": "c", "image": "c:2"}, {"name": "a", "image": "a:2"}]))
    # strategicpatch's normalizeElementOrder: the patch's items in its order, the server's own where
    # they stood relative to them
    assert containers_of(out) == [{"name": "b", "image": "b:1"}, {"name": "c", "image": "c:2"},
                                  {"name": "a", "image": "a:2"}]


def test_new_container_is_appended_and_fields_merge():
    live = deployment({"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]})
    out = smp(live, template_patch(containers=[
        {"name": "a", "env": [{"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}]}, {"name": "b", "image": "b"}]))
    assert containers_of(out) == [
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"},
                                              {"name": "Z", "value": "4"}]},
        {"name": "b", "image": "b"}]


def test_container_ports_merge_by_container_port_and_service_ports_by_port():
    live = deployment({"name": "a", "ports": [{"containerPort": 80, "name": "http"}]})
    out = smp(live, template_patch(containers=[{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"},
                                                                       {"containerPort": 443}]}]))
    assert containers_of(out)[0]["ports"] == [{"containerPort": 80, "name": "http", "protocol": "TCP"},
                                              {"containerPort": 443}]
    svc = {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    out = smp(svc, {"spec": {"ports": [{"port": 80, "nodePort": 30080}]}})
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 8080, "nodePort": 30080}, {"port": 443}]


def test_lists_without_a_merge_strategy_are_replaced():
    live = deployment({"name": "a", "args": ["x", "y"]}, tolerations=[{"key": "a"}])
    out = smp(live, {"spec": {"tolerations": [{"key": "b"}], "template": {"spec": {
        "containers": [{"name": "a", "args": ["z"]}]}}}})
    assert out["spec"]["tolerations"] == [{"key": "b"}]
    assert containers_of(out)[0]["args"] == ["z"]
    # an EndpointSlice's ports are atomic (no patchMergeKey): replaced, not merged by port
    eps = {"kind": "EndpointSlice", "ports": [{"port": 80, "name": "a"}]}
    assert smp(eps, {"ports": [{"port": 81}]})["ports"] == [{"port": 81}]
    # a Namespace's spec.finalizers are not ObjectMeta's: replaced
    ns = {"kind": "Namespace", "spec": {"finalizers": ["kubernetes"]}}
    assert smp(ns, {"spec": {"finalizers": ["x"]}})["spec"]["finalizers"] == ["x"]


def test_metadata_finalizers_merge_as_a_set():
    live = {"kind": "Service", "metadata": {"finalizers": ["a", "b"]}}
    assert smp(live, {"metadata": {"finalizers": ["c", "a"]}})["metadata"]["finalizers"] == ["c", "a", "b"]
    assert smp(live, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})["metadata"]["finalizers"] == ["b"]


def test_null_deletes_and_new_values_lose_their_nulls():
    live = deployment({"name": "a", "image": "a:1", "resources": {}}, paused=True)
    out = smp(live, {"spec": {"paused": None, "strategy": {"type": "Recreate", "rollingUpdate": None},
                              "template": {"spec": {"containers": [{"name": "a", "resources": None}]}}}})
    assert "paused" not in out["spec"]
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert containers_of(out) == [{"name": "a", "image": "a:1"}]


def test_patch_replace_directive_on_a_list_and_on_a_map():
    live = deployment({"name": "a"}, {"name": "b"})
    out = smp(live, template_patch(containers=[{"name": "c"}, {"$patch": "replace"}]))
    assert containers_of(out) == [{"name": "c"}]
    live = {"kind": "Service", "metadata": {"labels": {"a": "1", "b": "2"}}}
    assert smp(live, {"metadata": {"labels": {"$patch": "replace", "c": "3"}}})["metadata"]["labels"] == {"c": "3"}


def test_patch_delete_directive():
    live = deployment({"name": "a"}, {"name": "b"})
    assert containers_of(smp(live, template_patch(containers=[{"name": "a", "$patch": "delete"}]))) == [{"name": "b"}]
    live = {"kind": "Service", "metadata": {"labels": {"a": "1"}}}
    # a map that exists becomes empty; a new one with a directive is not kept at all
    assert smp(live, {"metadata": {"labels": {"$patch": "delete"}}})["metadata"] == {"labels": {}}
    assert smp(live, {"metadata": {"annotations": {"$patch": "delete"}}})["metadata"] == {"labels": {"a": "1"}}


def test_kubectl_edit_renames_a_service_port():
    """The patch `kubectl edit` sends when a Service's port 3000 becomes 3001 (notes, section 9)."""
    live = {"kind": "Service", "spec": {"ports": [{"nodePort": 30090, "port": 3000, "protocol": "TCP",
                                                   "targetPort": 8080}]}}
    edit = {"spec": {"$setElementOrder/ports": [{"port": 3001}],
                     "ports": [{"nodePort": 30090, "port": 3001, "protocol": "TCP", "targetPort": 8080},
                               {"$patch": "delete", "port": 3000}]}}
    assert smp(live, edit)["spec"]["ports"] == [{"nodePort": 30090, "port": 3001, "protocol": "TCP",
                                                 "targetPort": 8080}]


def test_set_element_order_reorders_the_merged_list():
    live = deployment({"name": "a"}, {"name": "b"}, {"name": "c"})
    out = smp(live, template_patch(**{"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}))
    assert [c["name"] for c in containers_of(out)] == ["c", "a", "b"]
    out = smp(live, template_patch(**{"$setElementOrder/containers": [{"name": "b"}, {"name": "d"}],
                                      "containers": [{"name": "d", "image": "d"}]}))
    assert [c["name"] for c in containers_of(out)] == ["a", "b", "d", "c"]


def test_set_element_order_that_contradicts_the_patch_is_refused():
    live = deployment({"name": "a"}, {"name": "b"})
    with pytest.raises(patch.PatchError) as err:
        smp(live, template_patch(**{"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                                    "containers": [{"name": "b", "image": "x"}, {"name": "a", "image": "y"}]}))
    assert err.value.code == 500
    assert str(err.value).startswith("The order in patch list:\n[map[image:x name:b] map[image:y name:a]]\n")


def test_retain_keys_clears_what_the_list_leaves_out():
    live = deployment({"name": "a"}, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    out = smp(live, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    with pytest.raises(patch.PatchError) as err:  # a patch key the list does not name
        smp(live, {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}})
    assert (err.value.code, str(err.value)) == (400, "invalid patch format of retainKeys")
    with pytest.raises(patch.PatchError) as err:
        smp(live, {"spec": {"strategy": {"$retainKeys": "type"}}})
    assert err.value.code == 400


@pytest.mark.parametrize("p,code,message", [
    (template_patch(containers=[{"image": "x"}]), 500, "map: map[image:x] does not contain declared merge key: name"),
    (template_patch(containers=[{"$patch": "delete"}]), 500,
     "map: map[$patch:delete] does not contain declared merge key: name"),
    (template_patch(containers=[{"name": "a", "$patch": "frob"}]), 500,
     "unknown patch type: frob in map: map[$patch:frob name:a]"),
    (template_patch(containers=[{"name": "a", "$patch": "merge"}]), 500,
     "merging lists cannot yet be specified in the patch"),
    ({"metadata": {"labels": {"$patch": "frob"}}}, 500, "unknown patch type: frob in map: map[$patch:frob]"),
    ({"metadata": {"$deleteFromPrimitiveList": ["a"]}}, 400, "invalid patch format of primitive list"),
    ({"metadata": {"$setElementOrder": []}}, 400, "invalid patch format of setElementOrder list"),
    (template_patch(containers=[[1]]), 500, "list element types are not identical: [[map[name:a]] [[1]]]"),
    (template_patch(initContainers=[[1]]), 422, "lists of lists are not supported"),
])
def test_strategic_errors_as_kube_answers_them(p, code, message):
    live = deployment({"name": "a"})
    live["metadata"]["labels"] = {"x": "y"}
    live["spec"]["template"]["spec"]["initContainers"] = []
    with pytest.raises(patch.PatchError) as err:
        smp(live, p)
    assert (err.value.code, str(err.value)) == (code, message)


def test_go_value_formats_like_fmt():
    assert patch.go_value({"b": [1, 2.0, 2.5], "a": None, "c": True}) == "map[a:<nil> b:[1 2 2.5] c:true]"
