"""lab.api.status: the Status objects kube-apiserver answers with, field for field (and key order,
as kubectl and client-go read them): NotFound, AlreadyExists, Conflict, Invalid with causes,
BadRequest, UnsupportedMediaType, MethodNotAllowed, Unauthorized, TooManyRequests, and kube's
reason-less answers."""

import json

from lab.api import kinds, status

PODS = kinds.find("", "v1", "pods")
DEPLOYMENTS = kinds.find("apps", "v1", "deployments")


def test_not_found_as_kubectl_quotes_it():
    body = status.not_found(PODS, "x").status()
    assert json.dumps(body, separators=(",", ":")) == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"x\\" not found",'
        '"reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}')
    assert status.not_found(DEPLOYMENTS, "web").status()["details"] == \
        {"name": "web", "group": "apps", "kind": "deployments"}
    assert status.not_found(DEPLOYMENTS, "web").message == 'deployments.apps "web" not found'


def test_generic_answers_have_empty_details():
    assert status.no_such_path().status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the server could not find the requested resource", "reason": "NotFound", "details": {},
        "code": 404}
    assert status.method_not_allowed().status()["details"] == {}
    assert status.method_not_allowed().message == "the server does not allow this method on the requested resource"
    assert status.unprocessable().status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the server rejected our request due to an error in our request", "reason": "Invalid",
        "details": {}, "code": 422}


def test_conflicts():
    exists = status.already_exists(PODS, "p").status()
    assert (exists["code"], exists["reason"], exists["message"]) == (409, "AlreadyExists", 'pods "p" already exists')
    stale = status.conflict(DEPLOYMENTS, "web")
    assert (stale.code, stale.reason) == (409, "Conflict")
    assert stale.message == ('Operation cannot be fulfilled on deployments.apps "web": the object has been modified; '
                             "please apply your changes to the latest version and try again")


def test_invalid_one_cause():
    err = status.invalid("Service", "x", [("spec.ports[0].nodePort", "Invalid value: 1: provided port is not in the "
                                           "valid range. The range of valid ports is 30000-32767")])
    assert err.status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'Service "x" is invalid: spec.ports[0].nodePort: Invalid value: 1: provided port is not in the valid '
                   "range. The range of valid ports is 30000-32767",
        "reason": "Invalid",
        "details": {"name": "x", "kind": "Service", "causes": [
            {"reason": "FieldValueInvalid", "message": "Invalid value: 1: provided port is not in the valid range. The "
                                                       "range of valid ports is 30000-32767",
             "field": "spec.ports[0].nodePort"}]},
        "code": 422}


def test_invalid_several_causes_is_an_aggregate_with_the_groups_kind():
    err = status.invalid("Deployment", "web", [("spec.replicas", "Invalid value: -1: must be greater than or equal to 0"),
                                               ("spec.selector", "Required value"),
                                               ("spec.template.spec.restartPolicy", 'Unsupported value: "x": supported '
                                                'values: "Always"')], "apps")
    assert err.message == ('Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater than or '
                           'equal to 0, spec.selector: Required value, spec.template.spec.restartPolicy: Unsupported '
                           'value: "x": supported values: "Always"]')
    assert err.details["group"] == "apps"
    assert [c["reason"] for c in err.details["causes"]] == ["FieldValueInvalid", "FieldValueRequired",
                                                            "FieldValueNotSupported"]


def test_invalid_options_of_a_write():
    err = status.invalid_options("CreateOptions", "fieldValidation", "Bogus", ("", "Ignore", "Strict", "Warn"))
    assert err.message == ('CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Bogus": '
                           'supported values: "", "Ignore", "Strict", "Warn"')
    assert err.details == {"group": "meta.k8s.io", "kind": "CreateOptions", "causes": [
        {"reason": "FieldValueNotSupported", "message": 'Unsupported value: "Bogus": supported values: "", "Ignore", '
                                                        '"Strict", "Warn"', "field": "fieldValidation"}]}


def test_media_types_and_the_rest():
    assert status.unsupported_patch().status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the body of the request was in an unknown format - accepted media types include: "
                   "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, "
                   "application/apply-patch+yaml",
        "reason": "UnsupportedMediaType", "code": 415}
    assert status.unauthorized().status() == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                              "status": "Failure", "message": "Unauthorized",
                                              "reason": "Unauthorized", "code": 401}
    assert status.too_large(3145728).message == "Request entity too large: limit is 3145728"
    assert status.too_many_requests().status()["details"] == {"retryAfterSeconds": 1}
    assert status.gone(5, 9).status()["reason"] == "Expired"
    assert status.internal("boom").status()["details"] == {"causes": [{"message": "boom"}]}


def test_a_plain_error_has_no_reason():
    body = status.unknown(500, "map: map[] does not contain declared merge key: name").status()
    assert "reason" not in body and body["code"] == 500  # kubectl: "Error from server: map: ..."


def test_success_status_of_a_delete():
    assert status.success({"name": "x", "kind": "services", "uid": "u"}) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": "x", "kind": "services", "uid": "u"}}
