"""lab.api.selectors: apimachinery's label selector grammar (equality- and set-based, existence,
gt/lt) and its error words, field selectors on the fields each kind can be selected by, and the
400 a list answers for either."""

import pytest

from lab.api import kinds, selectors, status

PODS = kinds.find("", "v1", "pods")
SERVICES = kinds.find("", "v1", "services")
EVENTS = kinds.find("", "v1", "events")
NODES = kinds.find("", "v1", "nodes")
DEPLOYMENTS = kinds.find("apps", "v1", "deployments")

LABELS = {"app": "web", "tier": "front", "env": "prod", "replicas": "3", "example.com/team": "a"}


@pytest.mark.parametrize("text,matches", [
    ("", True),
    ("app=web", True), ("app==web", True), ("app=db", False),
    ("app!=db", True), ("app!=web", False), ("missing!=x", True),
    ("app=web,tier=front", True), ("app=web,tier=back", False),
    ("env in (prod,staging)", True), ("env in (dev)", False), ("env notin (dev,test)", True),
    ("missing notin (a)", True), ("missing in (a)", False),
    ("app", True), ("missing", False), ("!missing", True), ("!app", False),
    ("example.com/team=a", True),
    ("replicas>2", True), ("replicas<2", False), ("app>1", False),
    ("  app = web ,  tier  in ( front , back )  ", True),
    ("app=", False), ("missing=", False),
    ("env in (prod,)", True),
])
def test_label_selector_matches_like_kubernetes(text, matches):
    assert selectors.labels(text)(LABELS) is matches


def test_empty_value_matches_an_empty_label():
    assert selectors.labels("a=")({"a": ""})
    assert selectors.labels("a in ()")({"a": ""})  # "()" is the set of the empty string


@pytest.mark.parametrize("text,message", [
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("app=web,", "found '', expected: identifier after ','"),
    ("app=web tier=x", "found 'tier', expected: ',' or 'end of string'"),
    ("=web", "found '=', expected: !, identifier, or 'end of string'"),
    ("env in prod", "unable to parse requirement: found 'prod' expected: '('"),
    ("env in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
    ("env in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("x>a", "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer"),
    ("!a=b", "unable to parse requirement: found '=', expected: ',' or 'end of string'"),
    ("a=b=c", "found '=', expected: ',' or 'end of string'"),
])
def test_label_selector_errors_in_apimachinerys_words(text, message):
    with pytest.raises(selectors.SelectorError) as err:
        selectors.parse_labels(text)
    assert str(err.value) == message


def test_label_keys_and_values_are_validated():
    with pytest.raises(selectors.SelectorError, match=r'^unable to parse requirement: key: Invalid value: "a@b": '
                                                      r"name part must consist of alphanumeric"):
        selectors.parse_labels("a@b=c")
    with pytest.raises(selectors.SelectorError, match=r'values\[0\]\[app\]: Invalid value: "-x-": a valid label must '
                                                      r"be an empty string or consist of"):
        selectors.parse_labels("app=-x-")
    with pytest.raises(selectors.SelectorError, match="prefix part a lowercase RFC 1123 subdomain"):
        selectors.parse_labels("Example.COM/x=1")
    with pytest.raises(selectors.SelectorError, match="name part must be no more than 63 characters"):
        selectors.parse_labels("a" * 64)


def test_set_values_are_sorted_and_unique():
    assert selectors.parse_labels("env in (b,a,b)") == [("env", "in", ("a", "b"))]
    assert selectors.parse_labels("!x,y") == [("x", "!", ()), ("y", "exists", ())]


POD = {"kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
       "spec": {"nodeName": "k8s-node1", "restartPolicy": "Always"},
       "status": {"phase": "Running", "podIP": "10.244.1.2", "podIPs": [{"ip": "10.244.1.2"}]}}
EVENT = {"kind": "Event", "metadata": {"name": "e", "namespace": "default"}, "reason": "Started", "type": "Normal",
         "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}, "source": {"component": "kubelet"}}


@pytest.mark.parametrize("resource,obj,text,matches", [
    (PODS, POD, "metadata.name=p", True),
    (PODS, POD, "metadata.name!=p", False),
    (PODS, POD, "metadata.namespace==default,spec.nodeName=k8s-node1", True),
    (PODS, POD, "status.phase!=Running", False),
    (PODS, POD, "spec.hostNetwork=false", True),
    (PODS, POD, "status.podIPs=10.244.1.2", True),
    (PODS, POD, "spec.nodeName=", False),
    (EVENTS, EVENT, "involvedObject.kind=Pod,involvedObject.name=p,reason=Started", True),
    (EVENTS, EVENT, "source=kubelet,type=Normal", True),
    (NODES, {"metadata": {"name": "n"}, "spec": {}}, "spec.unschedulable=false", True),
    (SERVICES, {"metadata": {"name": "a\\,b"}}, "metadata.name=a\\\\\\,b", True),
])
def test_field_selectors(resource, obj, text, matches):
    assert selectors.fields(text, resource)(obj) is matches


@pytest.mark.parametrize("resource,text,message", [
    (SERVICES, "spec.type=NodePort", "field label not supported: spec.type"),
    (NODES, "metadata.namespace=x", "field label not supported: metadata.namespace"),
    (PODS, "spec.nodeName", "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'"),
    (PODS, "a=b,,c=d", "invalid selector: 'a=b,,c=d'; can't understand ''"),
])
def test_field_selector_errors(resource, text, message):
    with pytest.raises(selectors.SelectorError) as err:
        selectors.fields(text, resource)
    assert str(err.value) == message


def test_a_list_with_a_bad_selector_is_kubes_400():
    with pytest.raises(status.ApiError) as err:
        selectors.select({}, PODS, "default", "component not in (x)", None)
    assert err.value.status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "BadRequest", "code": 400,
        "message": 'Unable to find "/v1, Resource=pods" that match label selector "component not in (x)", field '
                   "selector \"\": unable to parse requirement: found 'not', expected: in, notin, =, ==, !=, gt, lt"}
    with pytest.raises(status.ApiError) as err:
        selectors.select({}, DEPLOYMENTS, None, None, "spec.replicas=1")
    assert err.value.message == 'Unable to find "apps/v1, Resource=deployments" that match label selector "", ' \
                                'field selector "spec.replicas=1": field label not supported: spec.replicas'


def test_select_by_namespace_and_both_selectors_in_key_order():
    objects = {f"v1/Pod/{ns}/{name}": {"kind": "Pod", "metadata": {"name": name, "namespace": ns,
                                                                      "labels": {"app": app}}, "spec": {}}
               for ns, name, app in (("default", "b", "web"), ("default", "a", "web"), ("other", "c", "web"),
                                     ("default", "d", "db"))}
    objects["v1/Service/default/a"] = {"kind": "Service", "metadata": {"name": "a", "namespace": "default"}}
    names = [o["metadata"]["name"] for o in selectors.select(objects, PODS, "default", "app=web")]
    assert names == ["a", "b"]
    assert [o["metadata"]["name"] for o in selectors.select(objects, PODS, None, "app in (web)",
                                                            "metadata.name!=a")] == ["b", "c"]
