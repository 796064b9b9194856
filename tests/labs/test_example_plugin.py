"""How an engineer writes reachability tests with svclab's pytest plugin (the ``svclab`` fixture).

Installing svclab (``pip install .``) registers the plugin; in this repository, tests/conftest.py
names it. ``svclab(path)`` brings a scenario up once for the module, under a unique lab name, and
takes it down afterwards. ``lab.api_client()`` is the official Kubernetes Python client on the
lab's own API server.
"""

import pytest


def test_nodeport_from_outside(svclab):
    assert svclab("scenarios/seed.yml").curl("client", "http://192.168.179.101:30090").startswith("You've hit")


def test_cluster_ip_only_inside(svclab):
    lab = svclab("scenarios/seed.yml")  # the same lab: brought up once per module
    assert lab.probe("client", "http://10.105.182.209:3000", timeout=1).kind == "timeout"
    assert lab.curl("node2", "http://10.105.182.209:3000").startswith("You've hit pod-nodeport-")


def test_names_resolve_in_pods(svclab):
    lab = svclab("scenarios/seed.yml")
    assert lab.resolve("pod-nodeport-6cc49c7999-gdqbg", "nodeport-svc") == ["10.105.182.209"]
    assert lab.resolve("client", "nodeport-svc") == []


def test_requests_spread_over_both_pods(svclab):
    counts = svclab("scenarios/seed.yml").distribution("client", "http://192.168.179.100:30090", n=400)
    assert set(counts) == {"pod-nodeport-6cc49c7999-gdqbg", "pod-nodeport-6cc49c7999-5fjdh"}
    assert sum(counts.values()) == 400 and min(counts.values()) > 120


def test_exec_runs_real_tools(svclab):
    out = svclab("scenarios/seed.yml").exec("node1", "iptables-save", "-t", "nat").stdout
    assert "KUBE-SVC-GFPAJ7EGCNM4QF4H" in out


def test_the_lab_kubernetes_api(svclab):
    kubernetes = pytest.importorskip("kubernetes", reason="the official Python client: sudo ./setup installs it")
    lab = svclab("scenarios/seed.yml")
    core = kubernetes.client.CoreV1Api(lab.api_client())  # closed when the lab goes down
    pods = core.list_namespaced_pod("default", label_selector="app=myapp").items
    assert sorted(p.status.pod_ip for p in pods) == ["10.244.0.23", "10.244.2.14"]
    assert lab.kubeconfig == f"/run/svclab/{lab.name}/admin.conf"  # for kubectl: KUBECONFIG=...


def test_a_lab_without_its_api_server_says_so(svclab):
    lab = svclab("scenarios/seed.yml", api_server=False)
    with pytest.raises(pytest.fail.Exception, match=r"runs no API server \(it came up with --no-api-server"):
        lab.api_client()
