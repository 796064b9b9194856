"""hostNetwork pods in a seed lab, made with the real kubectl: the pod is its node (address,
interfaces, hostname, resolver), reaches a NodePort on localhost and on the node's address, its
command and ``kubectl exec``/``lab exec`` run in the node's namespaces, a Service selecting it gets
the node's address, and deleting it takes its own processes only: every node agent, the node's
namespace, files and rules stay. Then DELETE on a collection (deletecollection) with the official
Python client. The model's side: tests/unit/test_host_network.py."""

import json
import os
import shutil
import subprocess
import time

import pytest

from factories import SEED_NODE_IPS, lab_fixture, node_rules, run_lab

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on PATH (./setup installs one)")

host_network_lab = lab_fixture("seed.yml", "hn")
NODE1_IP = SEED_NODE_IPS["node1"]


def kubectl(lab, *args, check=True, timeout=60):
    r = subprocess.run(["kubectl", "--kubeconfig", lab.kubeconfig, *args], capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {r.stderr}")
    return r


def pids_in(netns):
    return set(subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split())


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def status(lab):
    rows = json.loads(run_lab("status", "-o", "json").stdout)
    return next(r for r in rows if r["lab"] == lab.name)


@pytest.fixture(scope="module")
def probe(host_network_lab):
    lab = host_network_lab
    overrides = json.dumps({"spec": {"hostNetwork": True, "nodeName": f"{lab.name}-node1"}})
    kubectl(lab, "run", "probe", "--image=busybox", f"--overrides={overrides}", "--",
            "sh", "-c", "echo started on $(hostname); exec sleep 3600")
    yield lab
    kubectl(lab, "delete", "pod", "probe", "--ignore-not-found", check=False)


def test_it_has_the_nodes_address_hostname_and_interfaces(probe):
    lab = probe
    pod = json.loads(kubectl(lab, "get", "pod", "probe", "-o", "json").stdout)
    assert pod["spec"]["hostNetwork"] is True and pod["spec"]["nodeName"] == f"{lab.name}-node1"
    assert pod["status"]["podIP"] == pod["status"]["hostIP"] == NODE1_IP
    wide = kubectl(lab, "get", "pod", "probe", "-o", "wide").stdout
    assert NODE1_IP in wide and f"{lab.name}-node1" in wide
    assert kubectl(lab, "exec", "probe", "--", "hostname").stdout.strip() == f"{lab.name}-node1"
    assert lab.exec("probe", "hostname").stdout.strip() == f"{lab.name}-node1"
    assert f"inet {NODE1_IP}/24" in kubectl(lab, "exec", "probe", "--", "ip", "-4", "addr", "show", "eth0").stdout
    assert "cni0" in kubectl(lab, "exec", "probe", "--", "ip", "link").stdout  # the node's own links
    node_resolv = open(f"/etc/netns/{lab.name}-node1/resolv.conf").read()
    assert kubectl(lab, "exec", "probe", "--", "cat", "/etc/resolv.conf").stdout == node_resolv  # ClusterFirst: Default
    # no namespace, veth, /etc/netns directory or pod address of its own
    assert not os.path.exists(f"/run/netns/{lab.name}-probe") and not os.path.exists(f"/etc/netns/{lab.name}-probe")
    on_node1 = json.loads(kubectl(lab, "get", "pods", "-A", f"--field-selector=spec.nodeName={lab.name}-node1",
                                  "-o", "json").stdout)["items"]
    ports = lab.ip_netns_exec("node1", "ip", "-o", "link", "show", "master", "cni0").stdout.splitlines()
    assert len(ports) == len([p for p in on_node1 if not p["spec"].get("hostNetwork")]) == len(on_node1) - 1
    # its command ran in the node's namespaces (what it printed, in the lab's container log)
    with open(f"/run/svclab/{lab.name}/containers/{lab.name}-probe.probe.log") as f:
        assert f.read().strip() == f"started on {lab.name}-node1"


def test_it_reaches_a_nodeport_on_localhost_and_the_nodes_address(probe):
    lab = probe
    for url in ("http://localhost:30090/", f"http://{NODE1_IP}:30090/"):
        r = kubectl(lab, "exec", "probe", "--", "curl", "-s", "-m", "3", url)
        assert r.stdout.startswith("You've hit pod-nodeport-"), (url, r.stdout, r.stderr)


def test_a_service_selecting_it_gets_the_node_address(probe):
    lab = probe
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hn-probe"},
               "spec": {"selector": {"run": "probe"}, "ports": [{"port": 80, "targetPort": 9999}]}}
    subprocess.run(["kubectl", "--kubeconfig", lab.kubeconfig, "apply", "-f", "-"], input=json.dumps(service),
                   capture_output=True, text=True, timeout=60, check=True)
    try:
        slices = json.loads(kubectl(lab, "get", "endpointslices", "-l", "kubernetes.io/service-name=hn-probe",
                                    "-o", "json").stdout)["items"]
        endpoints = [(a, p["port"]) for s in slices for e in s["endpoints"] for a in e["addresses"]
                     for p in s["ports"]]
        assert endpoints == [(NODE1_IP, 9999)]
        rules = "\n".join(node_rules(lab.name, ("node2",))["node2"])
        assert f"--to-destination {NODE1_IP}:9999" in rules
    finally:
        kubectl(lab, "delete", "service", "hn-probe")


def test_deleting_it_leaves_the_node_and_its_agents(probe):
    lab = probe
    node_ns = f"{lab.name}-node1"
    before = pids_in(node_ns)
    sleeper = [p for p in before if command_line(p) == "sleep 3600"]
    agents = before - set(sleeper)
    assert len(sleeper) == 1 and any("kube-proxy" in command_line(p) for p in agents)
    rules = node_rules(lab.name)
    etc = {f: open(f"/etc/netns/{node_ns}/{f}").read() for f in os.listdir(f"/etc/netns/{node_ns}")}
    started = time.monotonic()
    kubectl(lab, "delete", "pod", "probe")
    seconds = time.monotonic() - started
    assert seconds < 5, seconds
    after = pids_in(node_ns)
    assert agents <= after and sleeper[0] not in after
    assert status(lab)["daemons_running"] == status(lab)["daemons"]
    assert status(lab)["namespaces_present"] == status(lab)["namespaces"]
    assert node_rules(lab.name) == rules
    assert {f: open(f"/etc/netns/{node_ns}/{f}").read() for f in os.listdir(f"/etc/netns/{node_ns}")} == etc
    assert lab.exec("node1", "hostname").stdout.strip() == node_ns
    assert lab.curl("client", f"http://{NODE1_IP}:30090/").startswith("You've hit pod-nodeport-")


def test_two_on_one_node_with_the_same_port_are_refused(host_network_lab):
    lab = host_network_lab
    overrides = {"spec": {"hostNetwork": True, "nodeName": f"{lab.name}-node2",
                          "containers": [{"name": "p", "image": "busybox", "command": ["sleep", "3600"],
                                          "ports": [{"containerPort": 7777}]}]}}
    kubectl(lab, "run", "hp1", "--image=busybox", f"--overrides={json.dumps(overrides)}")
    try:
        r = kubectl(lab, "run", "hp2", "--image=busybox", f"--overrides={json.dumps(overrides)}", check=False)
        assert r.returncode != 0 and "port 7777/TCP, already in use on node node2 (pod hp1 holds it)" in r.stderr
        assert "hp2" not in kubectl(lab, "get", "pods", "-o", "name").stdout
    finally:
        kubectl(lab, "delete", "pod", "hp1")


def test_delete_collection_with_the_python_client(host_network_lab):
    kubernetes = pytest.importorskip("kubernetes", reason="the official Python client: sudo ./setup installs it")
    lab = host_network_lab
    for name in ("dc-a", "dc-b"):
        kubectl(lab, "run", name, "--image=busybox", "--labels=batch=dc", "--", "sleep", "3600")
    kubectl(lab, "run", "dc-keep", "--image=busybox", "--labels=batch=other", "--", "sleep", "3600")
    client = lab.api_client()
    try:
        core = kubernetes.client.CoreV1Api(client)
        # the client types the answer as a Status; kube-apiserver sends the list of what it deleted
        answer = core.delete_collection_namespaced_pod("default", label_selector="batch=dc", grace_period_seconds=0)
        assert answer.kind == "PodList" and answer.api_version == "v1"
        names = kubectl(lab, "get", "pods", "-o", "name").stdout.split()
        assert "pod/dc-keep" in names and not {"pod/dc-a", "pod/dc-b"} & set(names)

        def raw(selector, **kw):
            r = core.delete_collection_namespaced_pod("default", label_selector=selector, _preload_content=False, **kw)
            return json.loads(r.data)
        assert raw("batch=none")["items"] == []
        dry = raw("batch=other", dry_run="All")  # dry run: listed, nothing deleted
        assert dry["kind"] == "PodList" and [p["metadata"]["name"] for p in dry["items"]] == ["dc-keep"]
        assert dry["items"][0]["status"]["podIP"] and int(dry["metadata"]["resourceVersion"]) > 0
        assert "pod/dc-keep" in kubectl(lab, "get", "pods", "-o", "name").stdout.split()
        # every namespace's collection serves list and watch alone, as kube-apiserver's
        with pytest.raises(kubernetes.client.exceptions.ApiException) as failure:
            client.call_api("/api/v1/pods", "DELETE", _return_http_data_only=True, auth_settings=["BearerToken"])
        assert failure.value.status == 405
        # a Deployment's pods: deleted and replaced by its ReplicaSet
        old = sorted(p.metadata.name for p in core.list_namespaced_pod("default", label_selector="app=myapp").items)
        core.delete_collection_namespaced_pod("default", label_selector="app=myapp")
        new = sorted(p.metadata.name for p in core.list_namespaced_pod("default", label_selector="app=myapp").items)
        assert len(new) == len(old) == 2 and not set(old) & set(new)
        assert lab.curl("client", f"http://{NODE1_IP}:30090/").startswith("You've hit pod-nodeport-")
    finally:
        client.close()
        kubectl(lab, "delete", "pod", "dc-keep", "--ignore-not-found", check=False)
