"""kubectl's formatting: ages, table layout, the PORT(S) and EXTERNAL-IP columns."""

import os

from factories import SCENARIOS
from lab.cluster.build import build_cluster
from lab.spec import scenario
from lab.cli import views


def test_human_age_like_kubectl():
    cases = {0: "0s", 59: "59s", 119: "119s", 120: "2m", 125: "2m5s", 600: "10m", 13 * 60: "13m",
             179 * 60: "179m", 3 * 3600: "3h", 3 * 3600 + 60: "3h1m", 8 * 3600: "8h", 47 * 3600: "47h",
             48 * 3600: "2d", 50 * 3600: "2d2h", 40 * 86400: "40d", 3 * 365 * 86400: "3y0d"}
    for seconds, text in cases.items():
        assert views.human_age(seconds) == text, seconds


def test_table_pads_columns_by_three():
    out = views.table(["NAME", "TYPE"], [["kubernetes", "ClusterIP"], ["a", "NodePort"]])
    assert out.splitlines() == ["NAME         TYPE", "kubernetes   ClusterIP", "a            NodePort"]


def test_service_columns():
    state = build_cluster(scenario.load(os.path.join(SCENARIOS, "seed.yml")))
    kube, svc = state.service("default", "kubernetes"), state.service("default", "nodeport-svc")
    assert views.ports_column(kube) == "443/TCP" and views.ports_column(svc) == "3000:30090/TCP"
    assert views.external_ip_column(svc) == "<none>"
    headers, rows = views.service_rows([kube, svc], 27 * 60)
    assert rows[1] == ["nodeport-svc", "NodePort", "10.105.182.209", "<none>", "3000:30090/TCP", "27m"]


def test_endpoints_object_groups_addresses_by_ports():
    state = build_cluster(scenario.load(os.path.join(SCENARIOS, "seed.yml")))
    obj = views.endpoints_object(state, state.service("default", "nodeport-svc"), 0)
    assert obj["subsets"] == [{
        "addresses": [
            {"ip": "10.244.0.23", "nodeName": "k8s-master",
             "targetRef": {"kind": "Pod", "name": "pod-nodeport-6cc49c7999-gdqbg", "namespace": "default"}},
            {"ip": "10.244.2.14", "nodeName": "k8s-node2",
             "targetRef": {"kind": "Pod", "name": "pod-nodeport-6cc49c7999-5fjdh", "namespace": "default"}}],
        "ports": [{"port": 8080, "protocol": "TCP"}]}]
