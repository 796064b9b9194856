"""lab.api.bodies: request bodies as kube-apiserver reads them: media types (415), Go's
encoding/json words for JSON that does not parse, YAML as JSON's superset, the bounds on depth and
size, repeated keys, and the words of each verb's decoding errors."""

import pytest

from lab.api import bodies, kinds, status

SERVICES = kinds.find("", "v1", "services")
DEPLOYMENTS = kinds.find("apps", "v1", "deployments")


@pytest.mark.parametrize("body,message", [
    (b"{not json", "invalid character 'n' looking for beginning of object key string"),
    (b"", "unexpected end of JSON input"),
    (b'{"a":', "unexpected end of JSON input"),
    (b'{"a": "b', "unexpected end of JSON input"),
    (b'{"a":1,}', "invalid character '}' looking for beginning of object key string"),
    (b'{"a" 1}', "invalid character '1' after object key"),
    (b'{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
    (b"[1 2]", "invalid character '2' after array element"),
    (b'{"a":1}x', "invalid character 'x' after top-level value"),
    (b"'a'", "invalid character '\\'' looking for beginning of value"),
    (b'{"a":"x\ny"}', "invalid character '\\n' in string literal"),
    (b'"\\q"', "invalid character 'q' in string escape code"),
    (b"NaN", "invalid character 'N' looking for beginning of value"),
    (b"-Infinity", "invalid character 'I' in numeric literal"),
    (b"1e400", "json: cannot unmarshal number 1e400 into Go value of type float64"),
    (b"[" * 5000 + b"]" * 5000, "exceeded max depth"),
    (b"[" * (bodies.MAX_DEPTH + 2) + b"]" * (bodies.MAX_DEPTH + 2), "exceeded max depth"),
    (b"\xff\xfe{}", "invalid UTF-8 in JSON input at offset 0"),
])
def test_json_errors_in_gos_words(body, message):
    with pytest.raises(bodies.BodyError) as err:
        bodies.decode_json(body)
    assert str(err.value) == message


def test_repeated_keys_are_found_by_path():
    value, repeated = bodies.decode_json(b'{"metadata":{"name":"a","name":"b"},"spec":{"ports":[{"port":1,"port":2}]}}')
    assert value == {"metadata": {"name": "b"}, "spec": {"ports": [{"port": 2}]}}  # the last one, as Go keeps
    assert repeated == ["metadata.name", "spec.ports[0].port"]


def test_yaml_is_read_as_json_data():
    assert bodies.decode_yaml(b"a: 2024-01-01\nb: [1, yes]\n3: x\n") == {"a": "2024-01-01", "b": [1, True], "3": "x"}
    for body, words in ((b"a: [1, 2", "error converting YAML to JSON: yaml: line 1: expected ',' or ']'"),
                        (b"a: !!binary aGk=", "json: unsupported type: bytes"),
                        (b"a: .inf", "json: unsupported value: inf"),
                        (b"a: !!python/object:os.system x", "error converting YAML to JSON: yaml: line 1: could not "
                                                            "determine a constructor")):
        with pytest.raises(bodies.BodyError, match=words.replace("[", "\\[").replace("(", "\\(")):
            bodies.decode_yaml(body)


def test_yaml_aliases_cannot_blow_up():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    with pytest.raises(bodies.BodyError, match="more than 200000 values"):
        bodies.decode_yaml("\n".join(lines).encode())


def test_object_bodies_as_the_create_handler_words_them():
    def refused(body, ctype="application/json", resource=SERVICES):
        with pytest.raises(status.ApiError) as err:
            bodies.object_body(body, ctype, resource)
        return err.value.code, err.value.message
    assert refused(b"{}", None) == (415, "the body of the request was in an unknown format - accepted media types "
                                         "include: application/json, application/yaml, application/vnd.kubernetes.protobuf")
    assert refused(b"{}", "text/plain")[0] == 415
    assert refused(b"{not json") == (400, "the object provided is unrecognized (must be of type Service): couldn't get "
                                          "version/kind; json parse error: invalid character 'n' looking for beginning "
                                          "of object key string ({not json)")
    assert refused(b"[1]")[1].startswith("the object provided is unrecognized (must be of type Service): couldn't get "
                                         "version/kind; json parse error: json: cannot unmarshal array into Go value of "
                                         "type struct { APIVersion string")
    assert refused(b"\x00" * 40)[1].endswith("(" + "00" * 30 + " ...)")
    assert refused(b'{"apiVersion":"v1","kind":"Pod"}') == (
        400, 'Pod in version "v1" cannot be handled as a Service: converting (v1.Pod) to (core.Service): unknown '
             "conversion")
    assert refused(b'{"apiVersion":"apps/v1","kind":"Service"}') == (
        400, 'Service in version "v1" cannot be handled as a Service: no kind "Service" is registered for version '
             '"apps/v1" in scheme "pkg/api/legacyscheme/scheme.go:30"')
    assert refused(b'{"apiVersion":"v1","kind":"Deployment"}', resource=DEPLOYMENTS) == (
        400, 'Deployment in version "v1" cannot be handled as a Deployment: no kind "Deployment" is registered for '
             'version "v1" in scheme "pkg/api/legacyscheme/scheme.go:30"')
    assert refused(b"a: [", "application/yaml")[1].startswith(
        "the object provided is unrecognized (must be of type Service): error converting YAML to JSON: yaml: line 1:")


def test_kind_and_version_default_to_the_urls():
    obj, repeated = bodies.object_body(b'{"metadata":{"name":"x"}}', "application/json; charset=utf-8", SERVICES)
    assert obj == {"metadata": {"name": "x"}, "apiVersion": "v1", "kind": "Service"} and repeated == []
    obj, _ = bodies.object_body(b"kind: Deployment\nmetadata: {name: d}\n", "application/yaml", DEPLOYMENTS)
    assert obj["apiVersion"] == "apps/v1"


def test_patch_bodies():
    assert bodies.patch_kind("application/merge-patch+json; charset=utf-8") == "merge"
    with pytest.raises(status.ApiError) as err:
        bodies.patch_kind("application/json")
    assert err.value.code == 415
    with pytest.raises(status.ApiError) as err:
        bodies.patch_body(b"[1]", "strategic")
    assert err.value.message == "json: cannot unmarshal array into Go value of type map[string]interface {}"
    with pytest.raises(status.ApiError) as err:
        bodies.patch_body(b"{}", "json")
    assert err.value.message == "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
    with pytest.raises(status.ApiError) as err:
        bodies.patch_body(b"{x", "merge")
    assert (err.value.code, err.value.message) == (400, "invalid character 'x' looking for beginning of object key string")
    assert bodies.patch_body(b"spec: {replicas: 2}", "apply") == ({"spec": {"replicas": 2}}, [])


def test_delete_options_bodies():
    assert bodies.options_body(b"", None) == {}
    assert bodies.options_body(b'{"gracePeriodSeconds": 5}', "application/json") == {"gracePeriodSeconds": 5}
    with pytest.raises(status.ApiError) as err:
        bodies.options_body(b"{x", "application/json")
    assert (err.value.code, err.value.reason) == (500, "")  # kube's delete handler passes the decoder's error on
    with pytest.raises(status.ApiError) as err:
        bodies.options_body(b"{}", "text/plain")
    assert err.value.code == 415


def test_summary_like_summarize_data():
    assert bodies.summary(b"") == "<empty>"
    assert bodies.summary(b'{"a": 1}') == '{"a": 1}'
    assert bodies.summary(b"{" + b"a" * 40) == "{" + "a" * 29 + " ..."
    assert bodies.summary(b"ab") == "6162"
