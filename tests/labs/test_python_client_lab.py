"""The official Kubernetes Python client (``kubernetes``) against a seed lab's own API server:
lists, reads, creates, patches, deletes and watches, each checked in the lab itself (``lab get``,
curl from the client host, every node's iptables-save).

One lab for the module; the tests run in file order and the later ones change it (a third pod,
pods replaced). Every wait is bounded: server-side watch timeouts, client read timeouts, joins.
"""

import base64
import hashlib
import json
import re
import threading
import time

import pytest

from factories import SEED_CLUSTER_IP, SEED_NODE_IPS, lab_fixture

kubernetes = pytest.importorskip("kubernetes", reason="the official Python client: sudo ./setup installs it")
from kubernetes.client import AppsV1Api, CoreV1Api  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402
from kubernetes.watch import Watch  # noqa: E402

python_client_lab = lab_fixture("seed.yml", "py")

NEW_SERVICE = "py-web"
WATCH_SECONDS = 20  # the server ends a watch after this; the tests stop theirs as soon as they saw enough
REQUEST_TIMEOUT = 30  # no request, a watch's included, waits longer than this for the server's next bytes


@pytest.fixture(scope="module")
def api(python_client_lab):
    client = python_client_lab.api_client()
    yield client
    client.close()


@pytest.fixture(scope="module")
def core(api):
    return CoreV1Api(api)


@pytest.fixture(scope="module")
def apps(api):
    return AppsV1Api(api)


def as_json(api, obj):
    """An object of the client's models as the API wrote it (camelCase keys, whatever the client's
    version calls its attributes)."""
    return api.sanitize_for_serialization(obj)


def lab_json(lab, *args):
    return json.loads(lab.get(*args, "-o", "json"))


def myapp_pods(core):
    return core.list_namespaced_pod("default", label_selector="app=myapp", _request_timeout=REQUEST_TIMEOUT)


def svc_chain(namespace, name, port_name="", protocol="tcp"):
    """kube-proxy's ``KUBE-SVC-`` chain of a service port: base32 of SHA-256 of the port's name
    (1.18's form, with the colon) and protocol, 16 characters."""
    digest = hashlib.sha256(f"{namespace}/{name}:{port_name}{protocol}".encode()).digest()
    return "KUBE-SVC-" + base64.b32encode(digest).decode()[:16]


def saves(lab):
    return {node: lab.exec(node, "iptables-save").stdout for node in SEED_NODE_IPS}


def status_of(exc):
    """(HTTP status, Status reason, Status message) of an ApiException."""
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == exc.status
    return exc.status, body["reason"], body["message"]


def watch_while(list_call, action, enough, **selection):
    """The events ``(type, object)`` a watch from a fresh list's resourceVersion sees while
    ``action()`` runs in a thread, up to when ``enough(events)`` holds (or the watch times out)."""
    rv = list_call(**selection, _request_timeout=REQUEST_TIMEOUT).metadata.resource_version
    outcome = {}

    def act():
        try:
            outcome["result"] = action()
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            outcome["error"] = exc

    worker = threading.Thread(target=act, daemon=True)
    worker.start()
    events, watch = [], Watch()
    try:
        for event in watch.stream(list_call, resource_version=rv, timeout_seconds=WATCH_SECONDS,
                                  _request_timeout=REQUEST_TIMEOUT, **selection):
            events.append((event["type"], event["object"]))
            if enough(events):
                break
    finally:
        watch.stop()
        worker.join(60)
    assert not worker.is_alive(), "the action did not finish within 60 s"
    if "error" in outcome:
        raise outcome["error"]
    return events


def names(events, kind):
    return [obj.metadata.name for k, obj in events if k == kind]


# reads ----------------------------------------------------------------------------------------

def test_list_pods_by_label(python_client_lab, core):
    listing = myapp_pods(core)
    assert int(listing.metadata.resource_version) > 0
    got = {p.metadata.name: p.status.pod_ip for p in listing.items}
    assert len(got) == 2
    shown = lab_json(python_client_lab, "pods", "-l", "app=myapp")["items"]
    assert got == {p["metadata"]["name"]: p["status"]["podIP"] for p in shown}
    assert all(p.status.phase == "Running" and p.metadata.labels["app"] == "myapp" for p in listing.items)


def test_read_the_seed_service(api, core):
    svc = as_json(api, core.read_namespaced_service("nodeport-svc", "default", _request_timeout=REQUEST_TIMEOUT))
    spec = svc["spec"]
    assert spec["type"] == "NodePort"
    assert spec["clusterIP"] == SEED_CLUSTER_IP and spec["clusterIPs"] == [SEED_CLUSTER_IP]
    assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
    assert [(p["port"], p["targetPort"], p["nodePort"], p["protocol"]) for p in spec["ports"]] == \
        [(3000, 8080, 30090, "TCP")]
    assert spec["selector"] == {"app": "myapp"}


def test_list_nodes(python_client_lab, core):
    nodes = core.list_node(_request_timeout=REQUEST_TIMEOUT).items
    internal = {n.metadata.name: next(a.address for a in n.status.addresses if a.type == "InternalIP") for n in nodes}
    assert internal == {f"{python_client_lab.name}-{node}": ip for node, ip in SEED_NODE_IPS.items()}


# writes ---------------------------------------------------------------------------------------

def test_create_a_node_port_service(python_client_lab, api, core):
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": NEW_SERVICE},
            "spec": {"type": "NodePort", "selector": {"app": "myapp"}, "ports": [{"port": 3100, "targetPort": 8080}]}}
    created = as_json(api, core.create_namespaced_service("default", body, _request_timeout=REQUEST_TIMEOUT))
    node_port = created["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767 and created["spec"]["clusterIP"] not in (None, "", "None")
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    # the write returns once the lab has converged: the rules are on every node, the port answers
    chain = svc_chain("default", NEW_SERVICE)
    for node, text in saves(python_client_lab).items():
        assert f":{chain} - [0:0]" in text, node
        assert re.search(rf'-A KUBE-NODEPORTS .*"default/{NEW_SERVICE}:" .*--dport {node_port} -j {chain}', text), node
    body = python_client_lab.curl("client", f"http://{SEED_NODE_IPS['node1']}:{node_port}")
    assert body is not None and body.startswith("You've hit pod-nodeport-"), body
    listed = lab_json(python_client_lab, "svc", NEW_SERVICE)
    assert listed["spec"]["ports"][0]["nodePort"] == node_port


def test_patch_the_deployment_to_three_replicas(python_client_lab, api, core, apps):
    # a dict body: the client sends a strategic merge patch
    patched = apps.patch_namespaced_deployment("pod-nodeport", "default", {"spec": {"replicas": 3}},
                                               _request_timeout=REQUEST_TIMEOUT)
    assert patched.spec.replicas == 3
    pods = myapp_pods(core).items
    assert len(pods) == 3 and all(p.status.pod_ip for p in pods)
    ips = sorted(p.status.pod_ip for p in pods)
    endpoints = core.read_namespaced_endpoints("nodeport-svc", "default", _request_timeout=REQUEST_TIMEOUT)
    assert sorted(a.ip for s in endpoints.subsets for a in s.addresses) == ips
    lab = lab_json(python_client_lab, "endpoints", "nodeport-svc")
    assert sorted(a["ip"] for s in lab["subsets"] for a in s["addresses"]) == ips
    assert apps.read_namespaced_deployment("pod-nodeport", "default",
                                           _request_timeout=REQUEST_TIMEOUT).status.ready_replicas == 3


def test_patch_a_service_with_a_merge_patch(python_client_lab, core, apps):
    merging = python_client_lab.api_client()
    # the client's own choice of Content-Type for a PATCH: JSON merge patch (kubectl patch --type merge)
    merging.select_header_content_type = lambda content_types, *rest, **kw: "application/merge-patch+json"
    try:
        patched = CoreV1Api(merging).patch_namespaced_service(
            NEW_SERVICE, "default", {"metadata": {"labels": {"team": "python"}}}, _request_timeout=REQUEST_TIMEOUT)
    finally:
        merging.close()
    assert patched.metadata.labels == {"team": "python"}
    assert [s.metadata.name for s in core.list_namespaced_service("default", label_selector="team=python").items] \
        == [NEW_SERVICE]
    assert lab_json(python_client_lab, "svc", NEW_SERVICE)["metadata"]["labels"] == {"team": "python"}


def test_delete_the_service(python_client_lab, core):
    node_port = core.read_namespaced_service(NEW_SERVICE, "default").spec.ports[0].node_port
    answer = core.delete_namespaced_service(NEW_SERVICE, "default", _preload_content=False,
                                            _request_timeout=REQUEST_TIMEOUT)
    deleted = json.loads(answer.data)  # kube-apiserver answers with the Service deleted, not a Status
    assert (deleted["kind"], deleted["metadata"]["name"]) == ("Service", NEW_SERVICE)
    chain = svc_chain("default", NEW_SERVICE)
    for node, text in saves(python_client_lab).items():
        assert chain not in text and f"default/{NEW_SERVICE}" not in text, node
    assert python_client_lab.curl("client", f"http://{SEED_NODE_IPS['node1']}:{node_port}", timeout=1) is None
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_service(NEW_SERVICE, "default", _request_timeout=REQUEST_TIMEOUT)
    assert status_of(caught.value) == (404, "NotFound", f'services "{NEW_SERVICE}" not found')


def test_create_of_an_existing_name_conflicts(core):
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nodeport-svc"},
            "spec": {"selector": {"app": "other"}, "ports": [{"port": 80}]}}
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_service("default", body, _request_timeout=REQUEST_TIMEOUT)
    assert status_of(caught.value) == (409, "AlreadyExists", 'services "nodeport-svc" already exists')
    assert core.read_namespaced_service("nodeport-svc", "default").spec.selector == {"app": "myapp"}


def test_an_invalid_node_port_is_refused(python_client_lab, core):
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "badport"},
            "spec": {"type": "NodePort", "selector": {"app": "myapp"},
                     "ports": [{"port": 80, "targetPort": 8080, "nodePort": 1}]}}
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_service("default", body, _request_timeout=REQUEST_TIMEOUT)
    assert status_of(caught.value) == (
        422, "Invalid", 'Service "badport" is invalid: spec.ports[0].nodePort: Invalid value: 1: provided port is not '
        "in the valid range. The range of valid ports is 30000-32767")
    assert "badport" not in python_client_lab.get("svc")


# watches --------------------------------------------------------------------------------------

def replaced(victim):
    """Enough events: the victim DELETED and another pod ADDED."""
    return lambda events: victim in names(events, "DELETED") and set(names(events, "ADDED")) - {victim}


@pytest.mark.parametrize("verb", [("delete", "pod"), ("kill", "pod")], ids=["lab delete pod", "lab kill pod"])
def test_watch_sees_a_pod_replaced(python_client_lab, core, verb):
    victim = myapp_pods(core).items[0].metadata.name
    args = (*verb, victim, "--lab", python_client_lab.name) + (("--after", "0.2") if verb[0] == "kill" else ())
    events = watch_while(core.list_namespaced_pod, lambda: python_client_lab.lab(*args), replaced(victim),
                         namespace="default")
    assert victim in names(events, "DELETED")
    (newcomer,) = set(names(events, "ADDED")) - {victim}
    assert newcomer.startswith("pod-nodeport-6cc49c7999-")
    added = next(obj for kind, obj in events if kind == "ADDED" and obj.metadata.name == newcomer)
    lab = {p["metadata"]["name"]: p["status"]["podIP"] for p in lab_json(python_client_lab, "pods")["items"]}
    assert victim not in lab and lab[newcomer] == added.status.pod_ip
    versions = [int(obj.metadata.resource_version) for _, obj in events]
    assert versions == sorted(versions)


def test_watch_sees_a_scale_as_modified(apps):
    replicas = apps.read_namespaced_deployment("pod-nodeport", "default").spec.replicas
    target = 2 if replicas != 2 else 3

    def scale():
        return apps.patch_namespaced_deployment_scale("pod-nodeport", "default", {"spec": {"replicas": target}},
                                                      _request_timeout=REQUEST_TIMEOUT)

    events = watch_while(apps.list_namespaced_deployment, scale,
                         lambda evs: any(k == "MODIFIED" and o.spec.replicas == target for k, o in evs),
                         namespace="default", field_selector="metadata.name=pod-nodeport")
    modified = [obj for kind, obj in events if kind == "MODIFIED"]
    assert modified and modified[-1].metadata.name == "pod-nodeport" and modified[-1].spec.replicas == target
    assert {kind for kind, _ in events} == {"MODIFIED"}


def test_watch_ends_when_the_server_says(core):
    # a watch with nothing to report ends at its timeoutSeconds, not later
    rv = myapp_pods(core).metadata.resource_version
    started = time.monotonic()
    events = list(Watch().stream(core.list_namespaced_pod, namespace="default", label_selector="app=nosuch",
                                 resource_version=rv, timeout_seconds=1, _request_timeout=REQUEST_TIMEOUT))
    assert events == [] and time.monotonic() - started < 5
