"""lab.api.invalid: what svclab's manifest checks find, as kube-apiserver's 422 words it (field
error types and apimachinery's validation messages), for manifests a user might POST."""

import pytest

from lab.api import invalid, kinds
from lab.errors import InputError
from lab.spec import manifests
from lab.spec.fields import Field

SERVICES = kinds.find("", "v1", "services")
DEPLOYMENTS = kinds.find("apps", "v1", "deployments")


def service(name="x", **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"port": 80}], **spec}}


def deployment(replicas=1, template_labels=None, containers=None):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": template_labels or {"a": "b"}},
                                  "spec": {"containers": containers if containers is not None else
                                           [{"name": "c", "image": "i"}]}}}}


def answer(doc, resource):
    with pytest.raises(InputError) as err:
        manifests.parse_object(Field(doc, "request"))
    return invalid.from_input_error(err.value, resource, doc["metadata"]["name"], doc)


@pytest.mark.parametrize("doc,resource,message", [
    (service(ports=[{"port": 0}]), SERVICES,
     'Service "x" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive'),
    (service(type="Bogus"), SERVICES,
     'Service "x" is invalid: spec.type: Unsupported value: "Bogus": supported values: "ClusterIP", "ExternalName", '
     '"LoadBalancer", "NodePort"'),
    (service(name="Bad_Name"), SERVICES,
     f'Service "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": {invalid.DNS1035}'),
    (service(ports=[]), SERVICES, 'Service "x" is invalid: spec.ports: Required value'),
    (service(ports=[{"port": 80}, {"port": 81}]), SERVICES,
     'Service "x" is invalid: spec.ports[0].name: Required value'),
    (service(ports=[{"port": 80, "nodePort": 30080}]), SERVICES,
     "Service \"x\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
    (service(type="ExternalName"), SERVICES, 'Service "x" is invalid: spec.externalName: Required value'),
    (deployment(replicas=-1), DEPLOYMENTS,
     'Deployment.apps "d" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'),
    (deployment(template_labels={"a": "c"}), DEPLOYMENTS,
     'Deployment.apps "d" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"a":"c"}: '
     '`selector` does not match template `labels`'),
    (deployment(containers=[]), DEPLOYMENTS,
     'Deployment.apps "d" is invalid: spec.template.spec.containers: Required value'),
    (deployment(containers=[{"name": "c", "image": "i"}, {"name": "c", "image": "j"}]), DEPLOYMENTS,
     'Deployment.apps "d" is invalid: spec.template.spec.containers[1].name: Duplicate value: "c"'),
])
def test_svclab_checks_in_kube_apiservers_words(doc, resource, message):
    err = answer(doc, resource)
    assert err.code == 422 and err.reason == "Invalid"
    assert err.message == message, err.message
    (cause,) = err.details["causes"]
    assert message.endswith(f"{cause['field']}: {cause['message']}")


def test_cause_reasons_follow_the_error_type():
    reasons = [answer(doc, SERVICES).details["causes"][0]["reason"] for doc in (
        service(type="Bogus"), service(ports=[]), service(ports=[{"port": 80, "nodePort": 30080}]),
        service(ports=[{"port": 0}]))]
    assert reasons == ["FieldValueNotSupported", "FieldValueRequired", "FieldValueForbidden", "FieldValueInvalid"]


def test_kube_worded_problems_pass_through():
    exc = InputError("request", "spec.ports[0].nodePort", "Invalid value: 1: provided port is not in the valid range. "
                     "The range of valid ports is 30000-32767")
    assert invalid.cause(exc, "Service", {}) == ("spec.ports[0].nodePort", exc.problem)
    other = InputError("request", "spec.x", "something svclab says")
    assert invalid.cause(other, "Service", {}) == ("spec.x", "Invalid value: something svclab says")
