"""lab.api.validation: fieldValidation as kube-apiserver has it (Strict refuses unknown and repeated
fields by name, Warn drops them with a warning each, Ignore drops them silently, Warn by default),
and the dryRun option."""

import pytest

from lab.api import kinds, status, validation

SERVICES = kinds.find("", "v1", "services")


def service(**spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "default"},
            "spec": {"ports": [{"port": 80}], **spec}}


def test_directive_defaults_to_warn_and_refuses_what_kube_does_not_know():
    assert validation.directive({}, "CreateOptions") == "Warn"
    assert validation.directive({"fieldValidation": ""}, "CreateOptions") == "Warn"
    assert validation.directive({"fieldValidation": "Strict"}, "PatchOptions") == "Strict"
    with pytest.raises(status.ApiError) as err:
        validation.directive({"fieldValidation": "strict"}, "PatchOptions")  # case matters
    assert err.value.code == 422
    assert err.value.message == ('PatchOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: '
                                 '"strict": supported values: "", "Ignore", "Strict", "Warn"')


def test_dry_run():
    assert validation.dry_run({}, "CreateOptions") is False
    assert validation.dry_run({"dryRun": "All"}, "CreateOptions") is True
    with pytest.raises(status.ApiError) as err:
        validation.dry_run({"dryRun": "true"}, "UpdateOptions")
    assert err.value.message == ('UpdateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: "true": '
                                 'supported values: "All"')


def test_unknown_fields_found_by_path_and_dropped():
    obj = service(foo=1, ports=[{"port": 80, "bar": 2}])
    obj["extra"] = True
    obj["metadata"]["odd key"] = "v"
    cleaned, found = validation.unknown_fields(obj)
    assert sorted(found) == ["extra", "metadata.odd key", "spec.foo", "spec.ports[0].bar"]
    assert cleaned == service()
    assert "foo" in obj["spec"]  # the request's object is left as it was


def test_unknown_fields_deep_in_a_template():
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "c", "image": "i", "imagee": "typo",
                                                          "ports": [{"containerPort": 80, "prot": "TCP"}]}]}}}}
    assert sorted(validation.unknown_fields(dep)[1]) == ["spec.template.spec.containers[0].imagee",
                                                         "spec.template.spec.containers[0].ports[0].prot"]


def test_strict_refuses_naming_every_field():
    with pytest.raises(status.ApiError) as err:
        validation.check(service(foo=1), ["metadata.name"], "Strict", validation.decoding_prefix(SERVICES))
    assert (err.value.code, err.value.reason) == (400, "BadRequest")
    assert err.value.message == ('Service in version "v1" cannot be handled as a Service: strict decoding error: '
                                 'duplicate field "metadata.name", unknown field "spec.foo"')
    with pytest.raises(status.ApiError) as err:  # a patch's: no prefix
        validation.check(service(foo=1), [], "Strict")
    assert err.value.message == 'strict decoding error: unknown field "spec.foo"'


def test_warn_and_ignore_accept_without_the_fields():
    cleaned, warnings = validation.check(service(foo=1), ["spec.type"], "Warn")
    assert cleaned == service() and warnings == ['duplicate field "spec.type"', 'unknown field "spec.foo"']
    assert validation.check(service(foo=1), ["spec.type"], "Ignore") == (service(), [])
    assert validation.check(service(), [], "Strict") == (service(), [])


def test_warning_header_as_kube_writes_it():
    assert validation.warning_header('unknown field "spec.foo"') == '299 - "unknown field \\"spec.foo\\""'
    assert validation.warning_header("a\\b") == '299 - "a\\\\b"'
