"""What an update through the API may not change, refused in kube-apiserver's words: a Service's
ClusterIP (a ClusterIP Service never becomes headless by an edit, nor the reverse), a StatefulSet's
spec beyond replicas, template and the other fields its controller rolls out. What the rules leave
alone passes: ports, selectors, a type change to or from ExternalName, a PUT that leaves the
server's defaults out. kubectl against a real lab: tests/labs/test_exercises_lab.py."""

import copy

import pytest

from lab.api import immutable, kinds, status

SERVICES = kinds.by_kind("v1", "Service")
STATEFULSETS = kinds.by_kind("apps/v1", "StatefulSet")
LIVE_SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "default"},
                "spec": {"type": "ClusterIP", "clusterIP": "10.97.217.42", "clusterIPs": ["10.97.217.42"],
                         "selector": {"app": "db"}, "ports": [{"port": 8080, "targetPort": 8080}]}}
LIVE_STATEFULSET = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
                    "spec": {"replicas": 3, "serviceName": "db", "podManagementPolicy": "OrderedReady",
                             "selector": {"matchLabels": {"app": "db"}}, "revisionHistoryLimit": 10,
                             "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": []}}}}
MAY_NOT_CHANGE = 'spec.clusterIPs[0]: Invalid value: []string{"None"}: may not change once set'
FORBIDDEN = ("spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
             "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")


def changed(live, **spec):
    new = copy.deepcopy(live)
    for key, value in spec.items():
        if value is None:
            new["spec"].pop(key, None)
        else:
            new["spec"][key] = value
    return new


def refusal(resource, live, new):
    with pytest.raises(status.ApiError) as err:
        immutable.check(resource, live, new)
    assert (err.value.code, err.value.reason) == (422, "Invalid")
    return err.value


@pytest.mark.parametrize("spec", [
    {"clusterIP": "None"},  # kubectl patch of clusterIP alone: clusterIPs follows it, then differs
    {"clusterIP": "None", "clusterIPs": ["None"]},  # kubectl edit of both
    {"clusterIP": "None", "clusterIPs": None},  # kubectl replace -f of a headless manifest
])
def test_a_clusterip_service_does_not_become_headless(spec):
    err = refusal(SERVICES, LIVE_SERVICE, changed(LIVE_SERVICE, **spec))
    assert err.message == f'Service "db" is invalid: {MAY_NOT_CHANGE}'
    assert err.details["causes"] == [{"reason": "FieldValueInvalid", "field": "spec.clusterIPs[0]",
                                      "message": 'Invalid value: []string{"None"}: may not change once set'}]


def test_nor_a_headless_one_a_clusterip_service():
    headless = changed(LIVE_SERVICE, clusterIP="None", clusterIPs=["None"])
    err = refusal(SERVICES, headless, changed(headless, clusterIP="10.96.5.5", clusterIPs=None))
    assert err.message.endswith('spec.clusterIPs[0]: Invalid value: []string{"10.96.5.5"}: may not change once set')


@pytest.mark.parametrize("spec", [
    {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "db", "tier": "x"}},
    {"clusterIP": None, "clusterIPs": None},  # a PUT that leaves them out: the server keeps them
    {"clusterIPs": None},  # an old client: clusterIP alone, unchanged
    {"type": "ExternalName", "externalName": "db.example.com", "clusterIP": "", "clusterIPs": None},
])
def test_what_a_service_update_may_change(spec):
    immutable.check(SERVICES, LIVE_SERVICE, changed(LIVE_SERVICE, **spec))


def test_a_statefulsets_service_name_selector_and_policy_stay():
    for spec in ({"serviceName": "db-svc"}, {"selector": {"matchLabels": {"app": "other"}}},
                 {"podManagementPolicy": "Parallel"}):
        err = refusal(STATEFULSETS, LIVE_STATEFULSET, changed(LIVE_STATEFULSET, **spec))
        assert err.message == f'StatefulSet.apps "db" is invalid: {FORBIDDEN}'
        assert err.details["group"] == "apps" and err.details["kind"] == "StatefulSet"
        assert err.details["causes"][0]["reason"] == "FieldValueForbidden"


def test_what_a_statefulset_update_may_change():
    template = copy.deepcopy(LIVE_STATEFULSET["spec"]["template"])
    template["metadata"]["labels"]["v"] = "2"
    for spec in ({"replicas": 0}, {"template": template}, {"updateStrategy": {"type": "OnDelete"}},
                 {"minReadySeconds": 5}, {"revisionHistoryLimit": None, "podManagementPolicy": None}):
        immutable.check(STATEFULSETS, LIVE_STATEFULSET, changed(LIVE_STATEFULSET, **spec))


def test_other_kinds_are_not_this_rules_business():
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}}}
    immutable.check(kinds.by_kind("apps/v1", "Deployment"), deployment, changed(deployment, replicas=2))
