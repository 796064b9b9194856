"""The lab's API server answers bad input as kube-apiserver does (issue 17, item 6): each Status
over real HTTPS with the lab's admin certificate (code, reason, message, details and causes, keys
in kube's order), and a rejected write changes nothing (the store's resourceVersion, every node's
iptables-save). fieldValidation as kube-apiserver has it: Strict refuses unknown fields by name,
Warn (the default) accepts with a Warning header, Ignore accepts silently. Then what real kubectl
prints for some of them."""

import contextlib
import json
import os
import shutil
import subprocess

import pytest

from factories import ApiClient, lab_fixture, node_rules

api_lab = lab_fixture("seed.yml", "ans")

NS = "/api/v1/namespaces/default"
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
STATUS_KEYS = ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]


def new_service(**spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "newsvc"},
            "spec": {"selector": {"app": "myapp"}, "ports": [{"port": 80, "targetPort": 8080}], **spec}}


@pytest.fixture(scope="module")
def api(api_lab):
    return ApiClient(api_lab.name)


@contextlib.contextmanager
def nothing_changes(lab, api):
    """The store's resourceVersion and every node's rules are the same after the block."""
    rv, rules = api.resource_version(), node_rules(lab.name)
    yield
    assert api.resource_version() == rv, "a rejected request changed the store"
    assert node_rules(lab.name) == rules, "a rejected request changed a node's rules"


def check_status(body, code, reason, message, details=None):
    assert isinstance(body, dict), body
    assert [k for k in STATUS_KEYS if k in body] == list(body), f"keys out of kube's order: {list(body)}"
    assert (body["kind"], body["apiVersion"], body["metadata"], body["status"]) == ("Status", "v1", {}, "Failure")
    assert body["code"] == code
    assert body.get("reason", "") == reason
    assert body["message"] == message
    if details is not None:
        assert body.get("details") == details


def refused(api, lab, method, path, body=None, content_type="application/json", headers=None):
    """A request that must change nothing: its (status code, Status body)."""
    with nothing_changes(lab, api):
        code, _, answer = api.request(method, path, body, content_type, headers)
    return code, answer


# the Status of each refusal -----------------------------------------------------------------------

def test_undecodable_body_is_400(api, api_lab):
    code, body = refused(api, api_lab, "POST", f"{NS}/services", b"{not json")
    assert code == 400
    check_status(body, 400, "BadRequest", "the object provided is unrecognized (must be of type Service): couldn't "
                 "get version/kind; json parse error: invalid character 'n' looking for beginning of object key "
                 "string ({not json)")
    assert "details" not in body


def test_a_body_of_another_kind_is_400(api, api_lab):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    check_status(refused(api, api_lab, "POST", f"{NS}/services", pod)[1], 400, "BadRequest",
                 'Pod in version "v1" cannot be handled as a Service: converting (v1.Pod) to (core.Service): unknown '
                 "conversion")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_in_a_media_type_it_does_not_read_is_415(api, api_lab, content_type):
    check_status(refused(api, api_lab, "POST", f"{NS}/services", new_service(), content_type)[1], 415,
                 "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types "
                 "include: application/json, application/yaml, application/vnd.kubernetes.protobuf")


def test_not_found(api, api_lab):
    code, _, body = api.request("GET", f"{NS}/pods/x")
    check_status(body, 404, "NotFound", 'pods "x" not found', {"name": "x", "kind": "pods"})
    check_status(refused(api, api_lab, "DELETE", f"{NS}/services/nosuch")[1], 404, "NotFound",
                 'services "nosuch" not found', {"name": "nosuch", "kind": "services"})
    check_status(refused(api, api_lab, "PATCH", f"{DEPLOY}/nosuch", {"spec": {"replicas": 3}},
                         "application/merge-patch+json")[1], 404, "NotFound", 'deployments.apps "nosuch" not found',
                 {"name": "nosuch", "group": "apps", "kind": "deployments"})
    check_status(refused(api, api_lab, "PUT", f"{NS}/services/nosuch", new_service())[1], 404, "NotFound",
                 'services "nosuch" not found')
    check_status(api.request("GET", "/api/v1/nosuchthings")[2], 404, "NotFound",
                 "the server could not find the requested resource", {})


def test_already_exists(api, api_lab):
    body = new_service()
    body["metadata"]["name"] = "nodeport-svc"
    check_status(refused(api, api_lab, "POST", f"{NS}/services", body)[1], 409, "AlreadyExists",
                 'services "nodeport-svc" already exists', {"name": "nodeport-svc", "kind": "services"})


def test_conflict_on_a_stale_resource_version(api, api_lab):
    _, _, live = api.request("GET", f"{NS}/services/nodeport-svc")
    stale = dict(live, metadata=dict(live["metadata"], resourceVersion="1"))
    message = ('Operation cannot be fulfilled on services "nodeport-svc": the object has been modified; please apply '
               "your changes to the latest version and try again")
    details = {"name": "nodeport-svc", "kind": "services"}
    check_status(refused(api, api_lab, "PUT", f"{NS}/services/nodeport-svc", stale)[1], 409, "Conflict", message,
                 details)
    check_status(refused(api, api_lab, "PATCH", f"{NS}/services/nodeport-svc",
                         {"metadata": {"resourceVersion": "1"}, "spec": {"type": "ClusterIP"}},
                         "application/merge-patch+json")[1], 409, "Conflict", message, details)
    uid = live["metadata"]["uid"]
    check_status(refused(api, api_lab, "DELETE", f"{NS}/services/nodeport-svc", {"preconditions": {"uid": "x"}})[1],
                 409, "Conflict", f'Operation cannot be fulfilled on services "nodeport-svc": Precondition failed: '
                 f"UID in precondition: x, UID in object meta: {uid}")


@pytest.mark.parametrize("spec,field,message", [
    ({"type": "NodePort", "ports": [{"port": 80, "nodePort": 1}]}, "spec.ports[0].nodePort",
     "Invalid value: 1: provided port is not in the valid range. The range of valid ports is 30000-32767"),
    ({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30090}]}, "spec.ports[0].nodePort",
     "Invalid value: 30090: provided port is already allocated"),
    ({"clusterIP": "10.0.0.1"}, "spec.clusterIP",
     'Invalid value: "10.0.0.1": provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12'),
    ({"clusterIP": "10.105.182.209"}, "spec.clusterIP", 'Invalid value: "10.105.182.209": provided IP is already '
                                                         "allocated"),
    ({"type": "Bogus"}, "spec.type", 'Unsupported value: "Bogus": supported values: "ClusterIP", "ExternalName", '
                                     '"LoadBalancer", "NodePort"'),
    ({"ports": [{"port": 0}]}, "spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
])
def test_invalid_with_field_causes(api, api_lab, spec, field, message):
    code, body = refused(api, api_lab, "POST", f"{NS}/services", new_service(**spec))
    reason = {"Invalid": "FieldValueInvalid", "Unsupported": "FieldValueNotSupported"}[message.split()[0]]
    check_status(body, 422, "Invalid", f'Service "newsvc" is invalid: {field}: {message}',
                 {"name": "newsvc", "kind": "Service", "causes": [{"reason": reason, "message": message,
                                                                    "field": field}]})


def test_invalid_deployment_and_scale_are_qualified_by_group(api, api_lab):
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"replicas": -1, "selector": {"matchLabels": {"a": "b"}},
                       "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                           {"name": "c", "image": "i"}]}}}}
    _, body = refused(api, api_lab, "POST", DEPLOY, deploy)
    check_status(body, 422, "Invalid", 'Deployment.apps "d" is invalid: spec.replicas: Invalid value: -1: must be '
                 "greater than or equal to 0")
    assert body["details"]["group"] == "apps"
    _, body = refused(api, api_lab, "PATCH", f"{DEPLOY}/pod-nodeport/scale", {"spec": {"replicas": -1}},
                      "application/merge-patch+json")
    check_status(body, 422, "Invalid", 'Scale.autoscaling "pod-nodeport" is invalid: spec.replicas: Invalid value: '
                 "-1: must be greater than or equal to 0")


def test_patch_types_and_their_failures(api, api_lab):
    path = f"{NS}/services/nodeport-svc"
    check_status(refused(api, api_lab, "PATCH", path, {"spec": {}}, "application/xml")[1], 415,
                 "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types "
                 "include: application/json-patch+json, application/merge-patch+json, "
                 "application/strategic-merge-patch+json, application/apply-patch+yaml")
    check_status(refused(api, api_lab, "PATCH", path, [{"op": "test", "path": "/spec/type", "value": "ClusterIP"}],
                         "application/json-patch+json")[1], 422, "Invalid",
                 "the server rejected our request due to an error in our request", {})
    check_status(refused(api, api_lab, "PATCH", path, {"spec": {"ports": [{"nodePort": 30091}]}},
                         "application/strategic-merge-patch+json")[1], 500, "",
                 "map: map[nodePort:30091] does not contain declared merge key: port")
    check_status(refused(api, api_lab, "PATCH", path, b"[1]", "application/strategic-merge-patch+json")[1], 400,
                 "BadRequest", "json: cannot unmarshal array into Go value of type map[string]interface {}")


@pytest.mark.parametrize("method,path,body", [
    ("DELETE", "/api/v1/nodes/{lab}-node1", None),
    ("POST", f"{NS}/events", {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}}),
    ("FROB", f"{NS}/pods", None),
    ("POST", "/version", {}),
    ("PUT", "/apis", {}),
])
def test_a_verb_it_does_not_serve_is_405(api, api_lab, method, path, body):
    _, answer = refused(api, api_lab, method, path.format(lab=api_lab.name), body)
    check_status(answer, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                 {})


def test_a_body_over_3_mib_is_413(api, api_lab):
    body = b'{"a":"' + b"x" * (3 * 1024 * 1024) + b'"}'
    check_status(refused(api, api_lab, "POST", f"{NS}/configmaps", body)[1], 413, "RequestEntityTooLarge",
                 "Request entity too large: limit is 3145728")


def test_no_client_certificate_is_401(api_lab):
    anonymous = ApiClient(api_lab.name, cert=False)
    code, _, body = anonymous.request("GET", f"{NS}/pods")
    check_status(body, 401, "Unauthorized", "Unauthorized")
    assert anonymous.request("GET", "/version")[0] == 200  # public, as kube-apiserver's is to anonymous


def test_bad_write_options_are_422(api, api_lab):
    check_status(refused(api, api_lab, "POST", f"{NS}/services?fieldValidation=Bogus", new_service())[1], 422,
                 "Invalid", 'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Bogus": '
                 'supported values: "", "Ignore", "Strict", "Warn"')
    check_status(refused(api, api_lab, "PATCH", f"{NS}/services/nodeport-svc?dryRun=yes", {},
                         "application/merge-patch+json")[1], 422, "Invalid",
                 'PatchOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: "yes": supported values: "All"')


def test_selectors_that_do_not_parse_are_400(api):
    code, _, body = api.request("GET", f"{NS}/pods?labelSelector=a%20b")
    check_status(body, 400, "BadRequest", 'Unable to find "/v1, Resource=pods" that match label selector "a b", field '
                 "selector \"\": unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt")
    code, _, body = api.request("GET", f"{NS}/services?fieldSelector=spec.type%3DNodePort")
    check_status(body, 400, "BadRequest", 'Unable to find "/v1, Resource=services" that match label selector "", '
                 'field selector "spec.type=NodePort": field label not supported: spec.type')


def test_dry_run_changes_nothing(api, api_lab):
    with nothing_changes(api_lab, api):
        code, _, body = api.request("POST", f"{NS}/services?dryRun=All", new_service())
        assert (code, body["metadata"]["name"]) == (201, "newsvc")
        code, _, body = api.request("PATCH", f"{DEPLOY}/pod-nodeport?dryRun=All", {"spec": {"replicas": 5}},
                                    "application/merge-patch+json")
        assert (code, body["spec"]["replicas"]) == (200, 5)


# fieldValidation ------------------------------------------------------------------------------------

def test_strict_refuses_unknown_and_repeated_fields_by_name(api, api_lab):
    body = new_service(foo=1, ports=[{"port": 80, "bar": 2}])
    check_status(refused(api, api_lab, "POST", f"{NS}/services?fieldValidation=Strict", body)[1], 400, "BadRequest",
                 'Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field '
                 '"spec.foo", unknown field "spec.ports[0].bar"')
    twice = b'{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","name":"b"},"spec":{"ports":[{"port":80}]}}'
    check_status(refused(api, api_lab, "POST", f"{NS}/services?fieldValidation=Strict", twice)[1], 400, "BadRequest",
                 'Service in version "v1" cannot be handled as a Service: strict decoding error: duplicate field '
                 '"metadata.name"')
    check_status(refused(api, api_lab, "PATCH", f"{NS}/services/nodeport-svc?fieldValidation=Strict",
                         {"spec": {"foo": "x"}}, "application/merge-patch+json")[1], 400, "BadRequest",
                 'strict decoding error: unknown field "spec.foo"')


def test_warn_is_the_default_and_accepts_without_the_field(api, api_lab):
    code, headers, body = api.request("POST", f"{NS}/services", new_service(foo=1))
    try:
        assert code == 201
        assert headers.get_all("Warning") == ['299 - "unknown field \\"spec.foo\\""']
        assert "foo" not in body["spec"]
        code, headers, body = api.request("PATCH", f"{NS}/services/newsvc?fieldValidation=Warn",
                                          {"metadata": {"labels": {"tier": "web"}}, "spec": {"bar": 1}},
                                          "application/merge-patch+json")
        assert code == 200 and headers.get_all("Warning") == ['299 - "unknown field \\"spec.bar\\""']
        assert body["metadata"]["labels"] == {"tier": "web"} and "bar" not in body["spec"]
    finally:
        assert api.request("DELETE", f"{NS}/services/newsvc")[0] == 200


def test_ignore_accepts_silently(api, api_lab):
    code, headers, body = api.request("POST", f"{NS}/services?fieldValidation=Ignore", new_service(foo=1))
    try:
        assert code == 201 and headers.get_all("Warning") is None and "foo" not in body["spec"]
    finally:
        assert api.request("DELETE", f"{NS}/services/newsvc")[0] == 200


# what kubectl prints ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kubectl(api_lab, tmp_path_factory):
    if shutil.which("kubectl") is None:
        pytest.skip("needs kubectl (not found)")
    env = dict(os.environ, KUBECONFIG=f"/run/svclab/{api_lab.name}/admin.conf",
               HOME=str(tmp_path_factory.mktemp("kubectl-home")))

    def run(*args, stdin=None):
        return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60, input=stdin)
    return run


def manifest(doc):
    return json.dumps(doc)


def test_kubectl_quotes_the_status(kubectl, api, api_lab):
    with nothing_changes(api_lab, api):
        out = kubectl("get", "pod", "nosuch")
        assert out.returncode == 1 and out.stderr.strip() == 'Error from server (NotFound): pods "nosuch" not found'
        out = kubectl("apply", "-f", "-", stdin=manifest(new_service(foo=1)))
        assert 'Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field ' \
               '"spec.foo"' in out.stderr and out.returncode == 1
        out = kubectl("apply", "-f", "-", stdin=manifest(new_service(type="NodePort", ports=[{"port": 80,
                                                                                               "nodePort": 1}])))
        assert 'The Service "newsvc" is invalid: spec.ports[0].nodePort: Invalid value: 1: provided port is not in ' \
               "the valid range. The range of valid ports is 30000-32767" in out.stderr
        out = kubectl("delete", "node", f"{api_lab.name}-node1")
        assert out.stderr.strip() == "Error from server (MethodNotAllowed): the server does not allow this method on " \
                                     "the requested resource"
        out = kubectl("patch", "svc", "nodeport-svc", "--type=json",
                      "-p", '[{"op":"test","path":"/spec/type","value":"ClusterIP"}]')
        assert "The request is invalid: the server rejected our request due to an error in our request" in out.stderr
        body = new_service()
        body["metadata"]["name"] = "nodeport-svc"
        out = kubectl("create", "-f", "-", stdin=manifest(body))
        assert 'Error from server (AlreadyExists): error when creating "STDIN": services "nodeport-svc" already ' \
               "exists" in out.stderr


def test_kubectl_warns_under_validate_warn(kubectl, api):
    out = kubectl("apply", "--validate=warn", "-f", "-", stdin=manifest(new_service(foo=1)))
    try:
        assert out.returncode == 0, out.stderr
        assert 'Warning: unknown field "spec.foo"' in out.stderr and "service/newsvc created" in out.stdout
    finally:
        api.request("DELETE", f"{NS}/services/newsvc")
