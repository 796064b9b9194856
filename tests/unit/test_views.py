"""kubectl's formatting: ages, table layout; the API's Table columns for the seed's services, and
the Endpoints object the control plane shows."""

import os

from factories import SCENARIOS
from lab.api import tables
from lab.cluster import objects, resources
from lab.cluster.build import build_cluster
from lab.spec import scenario
from lab.tables import human_age, table


def test_human_age_like_kubectl():
    cases = {0: "0s", 59: "59s", 119: "119s", 120: "2m", 125: "2m5s", 600: "10m", 13 * 60: "13m",
             179 * 60: "179m", 3 * 3600: "3h", 3 * 3600 + 60: "3h1m", 8 * 3600: "8h", 47 * 3600: "47h",
             48 * 3600: "2d", 50 * 3600: "2d2h", 40 * 86400: "40d", 3 * 365 * 86400: "3y",
             3 * 365 * 86400 + 2 * 86400: "3y2d", 9 * 365 * 86400: "9y", -1: "0s", -2: "<invalid>"}
    for seconds, text in cases.items():
        assert human_age(seconds) == text, seconds


def test_table_pads_columns_by_three():
    out = table(["NAME", "TYPE"], [["kubernetes", "ClusterIP"], ["a", "NodePort"]])
    assert out.splitlines() == ["NAME         TYPE", "kubernetes   ClusterIP", "a            NodePort"]


def _seed_objects():
    spec = scenario.load(os.path.join(SCENARIOS, "seed.yml"))
    rendered = resources.render(build_cluster(spec), objects.with_addons(spec, spec.objects))
    for obj in rendered.values():
        obj.pop("_written", None)
        obj["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    return rendered


def test_service_columns():
    rendered = _seed_objects()
    svcs = [rendered["v1/Service/default/kubernetes"], rendered["v1/Service/default/nodeport-svc"]]
    now = tables.parse_time("2020-01-01T00:27:00Z")
    headers, rows = tables.text("services", svcs, now)
    assert headers == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert rows[0] == ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP", "27m"]
    assert rows[1] == ["nodeport-svc", "NodePort", "10.105.182.209", "<none>", "3000:30090/TCP", "27m"]


def test_endpoints_object_groups_addresses_by_ports():
    ep = _seed_objects()["v1/Endpoints/default/nodeport-svc"]
    for address in ep["subsets"][0]["addresses"]:
        address["targetRef"].pop("_key", None)
        address["targetRef"].pop("uid", None)
    assert ep["subsets"] == [{
        "addresses": [
            {"ip": "10.244.0.23", "nodeName": "k8s-master",
             "targetRef": {"kind": "Pod", "name": "pod-nodeport-6cc49c7999-gdqbg", "namespace": "default"}},
            {"ip": "10.244.2.14", "nodeName": "k8s-node2",
             "targetRef": {"kind": "Pod", "name": "pod-nodeport-6cc49c7999-5fjdh", "namespace": "default"}}],
        "ports": [{"port": 8080, "protocol": "TCP"}]}]
