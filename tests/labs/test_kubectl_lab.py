"""The real kubectl against a lab's API server, in both versions (kubectl_versions: the one on PATH
and Debian's 1.20, the seed's era): the seed's own ``kubectl get`` lines, every output form of
``get``, the writes kubectl makes (apply, create, delete, scale, label, annotate, edit, patch),
watches that see what ``lab delete``, ``lab kill`` and ``lab node down`` do, describe, discovery;
and the API server's doors: client certificates, one lab's kubeconfig at another lab, its files'
modes, the ``kubernetes`` Service from a pod, and the loopback listener gone with ``lab down``."""

import json
import os
import queue
import re
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest
import yaml

from factories import ROOT, SEED_CLUSTER_IP, SEED_POD_MASTER, SEED_POD_NODE2, lab_fixture, needs_tools, run_lab
from kubectl_versions import VERSIONS, Kubectl, binary

seed = lab_fixture("seed.yml", "kc")  # kube-proxy profile 1.18: the API reports v1.18.20
current = lab_fixture("nodeport.yml", "kn")  # profile current: v1.33.0

# the seed's lines (the blog post's `kubectl get pod -n default -l app=myapp -o wide` and `kubectl get svc`)
SEED_PODS_WIDE = [
    "NAME                            READY   STATUS    RESTARTS   AGE   IP            NODE         NOMINATED NODE   "
    "READINESS GATES",
    "pod-nodeport-6cc49c7999-5fjdh   1/1     Running   0          13m   10.244.2.14   k8s-node2    <none>           "
    "<none>",
    "pod-nodeport-6cc49c7999-gdqbg   1/1     Running   0          13m   10.244.0.23   k8s-master   <none>           "
    "<none>",
]
SEED_SVC = [
    "NAME           TYPE        CLUSTER-IP       EXTERNAL-IP   PORT(S)          AGE",
    "kubernetes     ClusterIP   10.96.0.1        <none>        443/TCP          40d",
    "nodeport-svc   NodePort    10.105.182.209   <none>        3000:30090/TCP   27m",
]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SUFFIX = {"current": "c", "1.20": "o"}  # objects a test makes are named per version: both runs share a lab


# kubectl per lab and version ---------------------------------------------------------------------

@pytest.fixture(params=VERSIONS)
def version(request):
    return request.param, binary(request.param)


def kubectl_for(lab, version, tmp_path_factory):
    name, path = version
    kubeconfig = run_lab("kubeconfig", "--lab", lab.name).stdout.strip()
    return Kubectl(path, name, kubeconfig, tmp_path_factory.getbasetemp() / f"kube-cache-{lab.name}-{name}")


@pytest.fixture
def kube(seed, version, tmp_path_factory):
    return kubectl_for(seed, version, tmp_path_factory)


@pytest.fixture
def kube_current(current, version, tmp_path_factory):
    return kubectl_for(current, version, tmp_path_factory)


def api_port(lab):
    with open(f"/run/svclab/{lab.name}/api.json") as f:
        return json.load(f)["port"]


# kubectl's table layout ---------------------------------------------------------------------------

def cells(lines):
    """Each line's cells: kubectl's columns are at least three spaces apart."""
    return [re.split(r" {3,}", line.rstrip()) for line in lines]


def layout(rows):
    """The rows as kubectl's tabwriter lays them out: every column as wide as its widest cell plus
    three spaces, the last one unpadded."""
    widths = [max(len(r[i]) for r in rows if len(r) > i) + 3 for i in range(max(len(r) for r in rows))]
    return ["".join(c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)) for r in rows]


def as_seed(lines, lab_name):
    """The lines as the seed's cluster would print them: its node names (``k8s-...``), the AGE
    column masked, laid out again (a masked or renamed cell may change a column's width)."""
    rows = cells(lines)
    age = rows[0].index("AGE")
    masked = [[("-" if i == age and n else c.replace(f"{lab_name}-", "k8s-")) for i, c in enumerate(r)]
              for n, r in enumerate(rows)]
    return layout(masked)


def rows_of(out):
    """{first cell: cells} of a table kubectl printed."""
    return {r[0]: r for r in cells(out.splitlines()[1:])}


def until(check, timeout=10.0, every=0.2):
    """``check()``'s first truthy answer within ``timeout`` seconds, else its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(every)


# the seed's lines ---------------------------------------------------------------------------------

def test_seed_pod_lines(kube, seed):
    out = kube("get", "pod", "-n", "default", "-l", "app=myapp", "-o", "wide").splitlines()
    assert layout(cells(out)) == out  # laid out by kubectl from the server's cells, nothing odd in them
    assert as_seed(out, seed.name) == as_seed(SEED_PODS_WIDE, "k8s")


def test_seed_svc_lines(kube, seed):
    out = kube("get", "svc").splitlines()
    assert layout(cells(out)) == out
    assert as_seed(out, seed.name) == as_seed(SEED_SVC, "k8s")


# get: every output form, selectors, every kind ----------------------------------------------------

def test_get_pods_forms(kube, seed):
    assert kube("get", "pods", "-o", "name").split() == [f"pod/{SEED_POD_NODE2}", f"pod/{SEED_POD_MASTER}"]
    pod = yaml.safe_load(kube("get", "pod", SEED_POD_NODE2, "-o", "yaml"))
    assert pod["kind"] == "Pod" and pod["spec"]["nodeName"] == f"{seed.name}-node2"
    assert pod["status"]["podIP"] == "10.244.2.14" and pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    pods = json.loads(kube("get", "pods", "-o", "json"))
    assert sorted(p["status"]["podIP"] for p in pods["items"]) == ["10.244.0.23", "10.244.2.14"]
    jsonpath = "{range .items[*]}{.metadata.name}={.status.hostIP}{'\\n'}{end}"
    assert kube("get", "pods", "-o", f"jsonpath={jsonpath}").split() == [
        f"{SEED_POD_NODE2}=192.168.179.101", f"{SEED_POD_MASTER}=192.168.179.99"]
    everywhere = cells(kube("get", "pods", "-A", "-o", "wide").splitlines())
    assert everywhere[0][:2] == ["NAMESPACE", "NAME"] and everywhere[0][-1] == "READINESS GATES"
    assert sorted(r[0] for r in everywhere[1:]) == ["default", "default", "kube-system", "kube-system"]
    assert ["default", SEED_POD_NODE2, "1/1", "Running", "0"] == everywhere[1][:5]
    labels = rows_of(kube("get", "pods", "--show-labels"))
    assert labels[SEED_POD_NODE2][-1] == "app=myapp,pod-template-hash=6cc49c7999"
    on_node2 = kube("get", "pods", "--field-selector", f"spec.nodeName={seed.name}-node2", "-o", "name").split()
    assert on_node2 == [f"pod/{SEED_POD_NODE2}"]
    named = kube("get", "pods", "--field-selector", f"metadata.name={SEED_POD_MASTER}", "-o", "name").split()
    assert named == [f"pod/{SEED_POD_MASTER}"]
    none = kube.run("get", "pods", "-l", "app=other")
    assert none.stdout == "" and "No resources found in default namespace." in none.stderr


def test_get_services_endpoints_slices(kube, seed):
    wide = rows_of(kube("get", "svc", "-o", "wide"))
    assert wide["nodeport-svc"][1:5] == ["NodePort", SEED_CLUSTER_IP, "<none>", "3000:30090/TCP"]
    assert wide["nodeport-svc"][-1] == "app=myapp" and wide["kubernetes"][-1] == "<none>"
    svc = yaml.safe_load(kube("get", "svc", "nodeport-svc", "-o", "yaml"))
    assert svc["spec"]["ports"] == [{"nodePort": 30090, "port": 3000, "protocol": "TCP", "targetPort": 8080}]
    assert svc["spec"]["externalTrafficPolicy"] == "Cluster" and svc["spec"]["clusterIPs"] == [SEED_CLUSTER_IP]
    assert kube("get", "svc", "nodeport-svc", "-o", "jsonpath={.spec.clusterIP}") == SEED_CLUSTER_IP
    assert kube("get", "svc", "-o", "name").split() == ["service/kubernetes", "service/nodeport-svc"]
    dns = rows_of(kube("get", "svc", "-A", "-l", "k8s-app=kube-dns"))
    assert dns["kube-system"][1:3] == ["kube-dns", "ClusterIP"] and dns["kube-system"][5] == "53/UDP,53/TCP,9153/TCP"
    ep = rows_of(kube("get", "endpoints"))
    assert ep["nodeport-svc"][1] == "10.244.0.23:8080,10.244.2.14:8080"
    assert ep["kubernetes"][1] == "192.168.179.99:6443"
    slices = kube("get", "endpointslices", "-l", "kubernetes.io/service-name=nodeport-svc", "-o", "wide").splitlines()
    assert cells(slices)[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert cells(slices)[1][1:4] == ["IPv4", "8080", "10.244.0.23,10.244.2.14"]
    piece = json.loads(kube("get", "endpointslices", "-l", "kubernetes.io/service-name=nodeport-svc", "-o", "json"))
    assert piece["items"][0]["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]


def test_get_nodes_namespaces(kube, seed):
    nodes = kube("get", "nodes", "-o", "wide").splitlines()
    assert cells(nodes)[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP",
                               "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    rows = rows_of("\n".join(nodes))
    assert rows[f"{seed.name}-master"][1:3] == ["Ready", "master"]
    assert [rows[f"{seed.name}-{n}"][4:6] for n in ("master", "node1", "node2")] == [
        ["v1.18.20", "192.168.179.99"], ["v1.18.20", "192.168.179.100"], ["v1.18.20", "192.168.179.101"]]
    labels = rows_of(kube("get", "nodes", "--show-labels"))
    assert "node-role.kubernetes.io/master=" in labels[f"{seed.name}-master"][-1]
    assert kube("get", "node", f"{seed.name}-node1", "-o", "jsonpath={.spec.podCIDR}") == "10.244.1.0/24"
    namespaces = rows_of(kube("get", "namespaces"))
    assert sorted(namespaces) == ["default", "kube-node-lease", "kube-public", "kube-system"]
    assert {r[1] for r in namespaces.values()} == {"Active"}
    assert kube("get", "ns", "kube-system", "-o", "name").strip() == "namespace/kube-system"


def test_get_workloads(kube, seed):
    deploy = kube("get", "deployments", "-o", "wide").splitlines()
    assert cells(deploy)[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES",
                                "SELECTOR"]
    row = rows_of("\n".join(deploy))["pod-nodeport"]
    assert row[1:4] == ["2/2", "2", "2"] and row[5:] == ["myapp", "luksa/kubia", "app=myapp"]
    rs = rows_of(kube("get", "rs", "-o", "wide", "--show-labels"))["pod-nodeport-6cc49c7999"]
    assert rs[1:4] == ["2", "2", "2"] and rs[7] == "app=myapp,pod-template-hash=6cc49c7999"
    assert rs[8] == "app=myapp,pod-template-hash=6cc49c7999"  # LABELS
    dns = rows_of(kube("get", "deploy", "-n", "kube-system"))
    assert dns["coredns"][1] == "2/2"
    got = json.loads(kube("get", "deployment", "pod-nodeport", "-o", "json"))
    assert got["spec"]["replicas"] == 2 and got["status"]["readyReplicas"] == 2
    assert kube("get", "rs", "-l", "app=myapp", "-o", "name").split() == ["replicaset.apps/pod-nodeport-6cc49c7999"]


def test_get_events(kube, seed):
    out = kube("get", "events").splitlines()
    assert cells(out)[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    scheduled = [r for r in cells(out[1:]) if r[2] == "Scheduled" and r[3] == f"pod/{SEED_POD_NODE2}"]
    assert scheduled and scheduled[0][4] == f"Successfully assigned default/{SEED_POD_NODE2} to {seed.name}-node2"
    pods_only = kube("get", "events", "--field-selector", "involvedObject.kind=Pod", "-o", "json")
    assert {e["involvedObject"]["kind"] for e in json.loads(pods_only)["items"]} == {"Pod"}
    assert "kube-system" in {r[0] for r in cells(kube("get", "events", "-A").splitlines()[1:])}


# the same store: lab get and kubectl get agree -------------------------------------------------------

def test_lab_get_and_kubectl_get_share_resource_versions(kube, seed):
    for kind, name in (("pod", SEED_POD_NODE2), ("svc", "nodeport-svc"), ("deployment", "pod-nodeport"),
                       ("endpoints", "nodeport-svc"), ("node", f"{seed.name}-node2")):
        theirs = json.loads(kube("get", kind, name, "-o", "json"))["metadata"]
        ours = json.loads(seed.get(kind, name, "-o", "json"))["metadata"]
        assert (theirs["resourceVersion"], theirs["uid"]) == (ours["resourceVersion"], ours["uid"]), kind


# describe -------------------------------------------------------------------------------------------

def fields(out):
    """``Key:  value`` lines of a describe, as {key: value} (the first of each key)."""
    found = {}
    for line in out.splitlines():
        m = re.match(r"^(\S[^:]*):\s+(.*)$", line)
        if m:
            found.setdefault(m.group(1), m.group(2).strip())
    return found


def test_describe(kube, seed):
    svc = fields(kube("describe", "svc", "nodeport-svc"))
    assert (svc["Type"], svc["IP"], svc["Port"], svc["TargetPort"], svc["NodePort"]) == (
        "NodePort", SEED_CLUSTER_IP, "<unset>  3000/TCP", "8080/TCP", "<unset>  30090/TCP")
    assert svc["Endpoints"] == "10.244.0.23:8080,10.244.2.14:8080" and svc["Selector"] == "app=myapp"
    assert svc["External Traffic Policy"] == "Cluster"
    pod = fields(kube("describe", "pod", SEED_POD_NODE2))
    assert pod["Node"] == f"{seed.name}-node2/192.168.179.101" and pod["IP"] == "10.244.2.14"
    assert pod["Status"] == "Running" and pod["Controlled By"] == "ReplicaSet/pod-nodeport-6cc49c7999"
    deploy = fields(kube("describe", "deployment", "pod-nodeport"))
    assert deploy["Replicas"] == "2 desired | 2 updated | 2 total | 2 available | 0 unavailable"
    assert deploy["NewReplicaSet"] == "pod-nodeport-6cc49c7999 (2/2 replicas created)"
    node_text = kube("describe", "node", f"{seed.name}-node2")
    node = fields(node_text)
    assert node["Roles"] == "<none>" and node["PodCIDR"] == "10.244.2.0/24"
    assert "InternalIP:  192.168.179.101" in node_text and f"HolderIdentity:  {seed.name}-node2" in node_text
    assert "0001" not in node_text  # every condition has its times
    assert re.search(r"Ready\s+True\s.*KubeletReady", node_text)
    assert SEED_POD_NODE2 in node_text  # its non-terminated pods


# discovery and the cluster ----------------------------------------------------------------------------

def test_discovery_and_cluster_info(kube, seed):
    assert kube("api-versions").split() == ["apps/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1", "v1"]
    resources = rows_of(kube("api-resources"))
    assert resources["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert resources["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert resources["nodes"] == ["nodes", "no", "v1", "false", "Node"]
    assert resources["endpointslices"] == ["endpointslices", "discovery.k8s.io/v1", "true", "EndpointSlice"]
    port = api_port(seed)
    info = ANSI.sub("", kube("cluster-info")).splitlines()  # 1.20 colours it even off a terminal
    assert info[:2] == [f"Kubernetes control plane is running at https://127.0.0.1:{port}",
                        f"KubeDNS is running at https://127.0.0.1:{port}/api/v1/namespaces/kube-system/services/"
                        "kube-dns:dns/proxy"]
    out = kube("version")
    assert "Server Version: v1.18.20" in out or 'GitVersion:"v1.18.20", GitCommit:"1f3e19b7' in out


# writes ---------------------------------------------------------------------------------------------

def web_manifests(name):
    """A Deployment and a Service named ``name``: two ports, two labels."""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": name, "labels": {"app": name, "tier": "front"}},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                           "template": {"metadata": {"labels": {"app": name}},
                                        "spec": {"containers": [{"name": "web", "image": "luksa/kubia",
                                                                 "ports": [{"containerPort": 8080}]}]}}}}
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "labels": {"app": name, "tier": "front"}},
               "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080},
                                                            {"name": "alt", "port": 81, "targetPort": 8080}]}}
    return deployment, service


def write(path, *docs):
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return str(path)


def ports(kube, name):
    return rows_of(kube("get", "svc", name))[name][4]


def test_apply_then_apply_a_changed_file(kube, seed, tmp_path):
    name = f"web{SUFFIX[kube.version]}"
    deployment, service = web_manifests(name)
    first = write(tmp_path / "web.yml", deployment, service)
    assert kube("apply", "-f", first).split("\n")[:2] == [f"deployment.apps/{name} created", f"service/{name} created"]
    assert ports(kube, name) == "80/TCP,81/TCP"
    # the changed file: port 80 becomes 8000, port 81 goes, the label tier goes (a strategic merge patch)
    service["spec"]["ports"] = [{"name": "http", "port": 8000, "targetPort": 8080}]
    del service["metadata"]["labels"]["tier"]
    changed = write(tmp_path / "web2.yml", deployment, service)
    out = kube("apply", "-f", changed)
    assert f"deployment.apps/{name} unchanged" in out and f"service/{name} configured" in out
    svc = json.loads(kube("get", "svc", name, "-o", "json"))
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8000, "protocol": "TCP", "targetPort": 8080}]
    assert svc["metadata"]["labels"] == {"app": name}
    applied = json.loads(svc["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["spec"]["ports"] == service["spec"]["ports"]
    # the lab itself changed: lab get, and the data plane (node1 reaches the new port)
    assert json.loads(seed.get("svc", name, "-o", "json"))["spec"]["ports"][0]["port"] == 8000
    body = seed.curl("node1", f"http://{svc['spec']['clusterIP']}:8000")
    assert body and body.startswith(f"You've hit {name}-")
    assert kube("apply", "-f", changed).split("\n")[:2] == [f"deployment.apps/{name} unchanged",
                                                            f"service/{name} unchanged"]
    out = kube("delete", "-f", changed)
    assert f'deployment.apps "{name}" deleted' in out and f'service "{name}" deleted' in out
    assert kube.run("get", "svc", name, check=False).returncode == 1


def test_create_and_delete(kube, seed, tmp_path):
    name = f"solo{SUFFIX[kube.version]}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
           "spec": {"containers": [{"name": "web", "image": "luksa/kubia", "ports": [{"containerPort": 8080}]}]}}
    path = write(tmp_path / "pod.yml", pod)
    assert kube("create", "-f", path).strip() == f"pod/{name} created"
    again = kube.run("create", "-f", path, check=False)
    assert again.returncode == 1
    assert f'Error from server (AlreadyExists): error when creating "{path}": pods "{name}" already exists' \
        in again.stderr
    row = rows_of(kube("get", "pod", name, "-o", "wide"))[name]
    assert row[1:3] == ["1/1", "Running"] and row[5].startswith("10.244.")
    assert seed.curl("client", "http://192.168.179.100:30090") is not None  # the lab still serves
    assert kube("label", "pod", name, "tier=solo").strip() == f"pod/{name} labeled"
    assert kube("annotate", "pod", name, "note=bare").strip() == f"pod/{name} annotated"
    meta = json.loads(kube("get", "pod", name, "-o", "json"))["metadata"]
    assert (meta["labels"], meta["annotations"]) == ({"app": name, "tier": "solo"}, {"note": "bare"})
    assert kube("get", "pods", "-l", "tier=solo", "-o", "name").split() == [f"pod/{name}"]
    assert kube("delete", "pod", name).strip() == f'pod "{name}" deleted'
    gone = kube.run("get", "pod", name, check=False)
    assert gone.returncode == 1 and f'Error from server (NotFound): pods "{name}" not found' in gone.stderr


@pytest.fixture
def web(kube, tmp_path):
    """A Deployment and Service of this version's own, deleted afterwards."""
    name = f"ed{SUFFIX[kube.version]}"
    path = write(tmp_path / "web.yml", *web_manifests(name))
    kube("apply", "-f", path)
    yield name
    kube.run("delete", "-f", path, "--ignore-not-found", check=False)


def pod_names(kube, app):
    return kube("get", "pods", "-l", f"app={app}", "-o", "name").split()


def test_scale(kube, web):
    assert kube("scale", "deployment", web, "--replicas=3").strip() == f"deployment.apps/{web} scaled"
    assert until(lambda: len(pod_names(kube, web)) == 3)
    rows = rows_of(kube("get", "pods", "-l", f"app={web}"))
    assert {r[1:3] == ["1/1", "Running"] for r in rows.values()} == {True}
    assert rows_of(kube("get", "deployment", web))[web][1:4] == ["3/3", "3", "3"]
    kube("scale", "deployment", web, "--replicas=1")
    assert until(lambda: len(pod_names(kube, web)) == 1)
    kube("scale", "deployment", web, "--replicas=0")
    assert until(lambda: pod_names(kube, web) == [])
    replicaset = rows_of(kube("get", "rs", "-l", f"app={web}"))
    assert [r[1:4] for r in replicaset.values()] == [["0", "0", "0"]]  # kept, at 0


def test_label_and_annotate(kube, web):
    assert kube("label", "svc", web, "color=blue").strip() == f"service/{web} labeled"
    assert rows_of(kube("get", "svc", web, "--show-labels"))[web][-1] == f"app={web},color=blue,tier=front"
    kube("label", "svc", web, "color-")
    assert json.loads(kube("get", "svc", web, "-o", "json"))["metadata"]["labels"] == {"app": web, "tier": "front"}
    assert kube("annotate", "svc", web, "note=hello").strip() == f"service/{web} annotated"
    assert kube("get", "svc", web, "-o", "jsonpath={.metadata.annotations.note}") == "hello"
    # a pod its ReplicaSet made is made from the template only: svclab refuses to change it alone
    pod = pod_names(kube, web)[0].split("/")[1]
    refused = kube.run("label", "pod", pod, "extra=1", check=False)
    assert refused.returncode == 1 and f'The Pod "{pod}" is invalid: metadata: Forbidden: svclab makes the pods ' \
        'of ReplicaSet' in refused.stderr
    assert kube.run("label", "pod", pod, f"app={web}", "--overwrite").returncode == 0  # no change: no write


def test_edit(kube, web, tmp_path):
    editor = tmp_path / "editor.sh"  # kubectl edit, without a terminal: the editor is a script
    editor.write_text("#!/bin/sh\nsed -i 's/^\\(  *\\)port: 80$/\\1port: 8080/' \"$1\"\n")
    editor.chmod(0o755)
    out = kube("edit", "svc", web, env={"EDITOR": str(editor)})
    assert out.strip() == f"service/{web} edited"
    assert ports(kube, web) == "8080/TCP,81/TCP"


def test_patch_types(kube, web):
    added = '{"spec":{"ports":[{"name":"extra","port":9000,"targetPort":8080}]}}'
    assert kube("patch", "svc", web, "--type", "strategic", "-p", added).strip() == f"service/{web} patched"
    # merged into the list by port; with no $setElementOrder the patch's items come first, as upstream puts them
    assert ports(kube, web) == "9000/TCP,80/TCP,81/TCP"
    kube("patch", "svc", web, "--type", "merge", "-p", '{"metadata":{"labels":{"m":"1","tier":null}}}')
    assert json.loads(kube("get", "svc", web, "-o", "json"))["metadata"]["labels"] == {"app": web, "m": "1"}
    kube("patch", "svc", web, "--type", "json", "-p", '[{"op":"remove","path":"/spec/ports/1"}]')
    assert ports(kube, web) == "9000/TCP,81/TCP"  # the second, 80, removed
    kube("patch", "deployment", web, "--type", "merge", "-p", '{"spec":{"replicas":2}}')
    assert until(lambda: len(pod_names(kube, web)) == 2)
    bad = kube.run("patch", "svc", web, "--type", "json", "-p", '[{"op":"remove","path":"/spec/nosuch"}]',
                   check=False)
    assert bad.returncode == 1 and "invalid" in bad.stderr  # 422 (its words: lab.api.patch's)


# watches: what the lab's own verbs do, seen by kubectl get -w -----------------------------------------

class Watch:
    """``kubectl get ... -w`` running; its lines as they come (a reader thread), stopped at the end."""

    def __init__(self, kube, *args):
        self.proc = kube.popen("get", *args, "-w")
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern, since=0, timeout=15.0):
        """(index, line): the first line from line ``since`` on that matches ``pattern``; fails
        after ``timeout``."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            found = next(((i, line) for i, line in enumerate(self.seen) if i >= since and regex.search(line)), None)
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None and self.lines.empty():
                raise AssertionError(f"no line matching {pattern!r} in {timeout} s:\n" + "\n".join(self.seen) +
                                     "\n" + (self.proc.stderr.read() if self.proc.poll() is not None else ""))
            try:
                self.seen.append(self.lines.get(timeout=min(left, 0.5)))
            except queue.Empty:
                pass

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def watch(kube):
    started = []

    def start(*args):
        started.append(Watch(kube, *args))
        return started[-1]
    yield start
    for w in started:
        w.stop()


def test_watch_sees_lab_delete_and_kill(kube, seed, web, watch):
    w = watch("pods", "-l", f"app={web}")
    listed, line = w.wait_for(rf"^{web}-\S+\s+1/1\s+Running")
    first = line.split()[0]
    seed.lab("delete", "pod", first, "--grace-period", "2", "--lab", seed.name)
    # the watch goes on from the list's resourceVersion: the pod terminating, its replacement, the pod gone
    terminating, _ = w.wait_for(rf"^{first}\s+0/1\s+Terminating", since=listed + 1)
    _, line = w.wait_for(rf"^(?!{first}){web}-\S+\s+1/1\s+Running", since=listed + 1)
    second = line.split()[0]
    w.wait_for(rf"^{first}\s+0/1\s+Terminating", since=terminating + 1)  # DELETED prints as Terminating
    assert until(lambda: pod_names(kube, web) == [f"pod/{second}"])
    seed.lab("kill", "pod", second, "--after", "0.2", "--lab", seed.name)
    _, line = w.wait_for(rf"^(?!{first}|{second}){web}-\S+\s+1/1\s+Running", since=listed + 1)
    assert until(lambda: pod_names(kube, web) == [f"pod/{line.split()[0]}"])


def test_watch_sees_a_node_go_down_and_up(kube, seed, watch):
    pods = watch("pods", "-o", "wide")
    nodes = watch("nodes")
    pod_listed, _ = pods.wait_for(rf"^{SEED_POD_NODE2}\s+1/1\s+Running")
    node_listed, _ = nodes.wait_for(rf"^{seed.name}-node2\s+Ready")
    try:
        seed.lab("node", "down", "node2", "--grace", "0.5", "--lab", seed.name)
        pod_down, _ = pods.wait_for(rf"^{SEED_POD_NODE2}\s+0/1\s+Running", since=pod_listed + 1)
        node_down, _ = nodes.wait_for(rf"^{seed.name}-node2\s+NotReady", since=node_listed + 1)
    finally:
        seed.lab("node", "up", "node2", "--lab", seed.name)
    pods.wait_for(rf"^{SEED_POD_NODE2}\s+1/1\s+Running\s.*\s{seed.name}-node2\s", since=pod_down + 1)
    nodes.wait_for(rf"^{seed.name}-node2\s+Ready", since=node_down + 1)


# the API server's doors ------------------------------------------------------------------------------

@needs_tools("curl", why="the API server is asked with curl")
def test_without_a_client_certificate_401(seed):
    url = f"https://127.0.0.1:{api_port(seed)}"
    r = subprocess.run(["curl", "-sk", "-m", "5", "-w", "\n%{http_code}", f"{url}/api/v1/pods"], capture_output=True,
                       text=True, timeout=15)
    body, code = r.stdout.rsplit("\n", 1)
    assert code == "401"
    assert json.loads(body) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    public = subprocess.run(["curl", "-sk", "-m", "5", f"{url}/version"], capture_output=True, text=True, timeout=15)
    assert json.loads(public.stdout)["gitVersion"] == "v1.18.20"


def test_another_labs_kubeconfig_is_refused(seed, current, kube_current, tmp_path):
    assert kube_current("get", "svc", "nodeport-svc", "-o", "name").strip() == "service/nodeport-svc"
    theirs = yaml.safe_load(open(kube_current.kubeconfig))
    theirs["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{api_port(seed)}"  # the seed lab's server
    (tmp_path / "other.conf").write_text(yaml.safe_dump(theirs))
    other = Kubectl(kube_current.path, kube_current.version, str(tmp_path / "other.conf"), tmp_path / "cache")
    r = other.run("get", "pods", check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert "certificate signed by unknown authority" in r.stderr
    # and the other way round: the seed lab's CA, the current lab's client certificate
    ours = yaml.safe_load(open(run_lab("kubeconfig", "--lab", seed.name).stdout.strip()))
    theirs["clusters"] = ours["clusters"]
    (tmp_path / "mixed.conf").write_text(yaml.safe_dump(theirs))
    mixed = Kubectl(kube_current.path, kube_current.version, str(tmp_path / "mixed.conf"), tmp_path / "cache2")
    r = mixed.run("get", "pods", check=False)
    assert r.returncode == 1 and r.stdout == "" and "tls" in r.stderr


def test_kubeconfig_files_are_private(seed):
    path = run_lab("kubeconfig", "--lab", seed.name).stdout.strip()
    inside = run_lab("kubeconfig", "--lab", seed.name, "--inside").stdout.strip()
    for f in (path, inside):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
    folder = os.path.dirname(path)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700 and os.stat(folder).st_uid == 0
    assert yaml.safe_load(open(inside))["clusters"][0]["cluster"]["server"] == "https://192.168.179.99:6443"


def test_a_pod_reaches_the_api_through_the_kubernetes_service(seed, kube):
    ep = json.loads(kube("get", "endpoints", "kubernetes", "-o", "json"))
    assert ep["subsets"][0]["addresses"][0]["ip"] == "192.168.179.99" and ep["subsets"][0]["ports"][0]["port"] == 6443
    r = seed.exec(SEED_POD_NODE2, "curl", "-sk", "-m", "5", "https://10.96.0.1/version")
    assert json.loads(r.stdout)["gitVersion"] == "v1.18.20"
    r = seed.exec(SEED_POD_NODE2, "curl", "-sk", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                  "https://10.96.0.1/api/v1/pods")
    assert r.stdout == "401"


# exec, logs, port-forward: 1.20 speaks SPDY, current kubectls WebSocket first --------------------

def _myapp_pods(kube):
    return sorted(p["metadata"]["name"] for p in json.loads(kube("get", "pods", "-l", "app=myapp", "-o", "json"))["items"]
                  if not p["metadata"].get("deletionTimestamp"))


def test_exec_logs_and_port_forward(kube, seed):
    pod = _myapp_pods(kube)[0]
    r = kube.run("exec", pod, "--", "sh", "-c", "hostname; echo to-stderr >&2; exit 3", check=False)
    assert (r.returncode, r.stdout) == (3, f"{pod}\n"), r
    assert "to-stderr" in r.stderr and "command terminated with exit code 3" in r.stderr
    assert kube.run("exec", "-i", pod, "--", "cat", input="typed\n").stdout == "typed\n"
    bad = kube.run("exec", pod, "-c", "nope", "--", "true", check=False)
    assert bad.returncode == 1 and f"container nope is not valid for pod {pod}" in bad.stderr
    assert kube("logs", pod).splitlines()[0] == "Kubia server starting..."
    previous = kube.run("logs", "-p", pod, check=False)
    assert previous.returncode == 1 and f'previous terminated container "myapp" in pod "{pod}" not found' in \
        previous.stderr
    proc = subprocess.Popen(kube.command("port-forward", f"pod/{pod}", ":8080"), env=kube.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", proc.stdout.readline())
        assert m
        got = subprocess.run(["curl", "-s", "-m", "5", f"http://127.0.0.1:{m.group(1)}/"], capture_output=True,
                             text=True, timeout=10).stdout
        assert got == f"You've hit {pod}\n"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_terminating_pod_still_answers_exec_and_logs_then_is_not_found(kube, seed):
    pod = _myapp_pods(kube)[0]
    deleting = subprocess.Popen([sys.executable, "-m", "lab", "delete", "pod", pod, "--grace-period", "4",
                                 "--lab", seed.name], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert until(lambda: json.loads(kube("get", "pod", pod, "-o", "json"))["metadata"].get("deletionTimestamp"))
        assert kube("exec", pod, "--", "echo", "still-here") == "still-here\n"  # as a kubelet allows it
        assert kube("logs", pod).startswith("Kubia server starting...")
    finally:
        deleting.wait(timeout=30)
    gone = kube.run("exec", pod, "--", "true", check=False)
    assert gone.returncode == 1 and f'pods "{pod}" not found' in gone.stderr
    assert f'pods "{pod}" not found' in kube.run("logs", pod, check=False).stderr


# a current cluster (profile current, v1.33.0) --------------------------------------------------------

def test_current_cluster(kube_current, current):
    out = kube_current("version")
    assert "Server Version: v1.33.0" in out or 'GitVersion:"v1.33.0"' in out
    nodes = rows_of(kube_current("get", "nodes"))
    assert nodes[f"{current.name}-master"][1:3] == ["Ready", "control-plane"]
    assert rows_of(kube_current("get", "svc"))["nodeport-svc"][1:5:3] == ["NodePort", "3000:30090/TCP"]
    pods = rows_of(kube_current("get", "pods", "-o", "wide"))
    assert len(pods) == 2 and {r[1:3] == ["1/1", "Running"] for r in pods.values()} == {True}
    svc = fields(kube_current("describe", "svc", "nodeport-svc"))
    assert svc["Endpoints"] == ",".join(sorted(f"{r[5]}:8080" for r in pods.values()))
    assert svc.get("Internal Traffic Policy", "Cluster") == "Cluster"  # kubectl 1.20 does not print it


def test_down_closes_the_loopback_listener(current):
    """The last test of the module: it takes the current lab down (the fixture's down then has
    nothing left to do)."""
    port = api_port(current)
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    run_lab("down", current.name)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert not os.path.exists(f"/run/svclab/{current.name}")
