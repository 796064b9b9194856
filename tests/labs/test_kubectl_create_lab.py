"""The real kubectl's typed ``create`` commands, which send protobuf bodies, against a seed lab's
API server: namespace, configmap, deployment (its pods answer through a NodePort made by
``kubectl expose``) and service; kinds svclab does not serve get the usual 404; garbage the 400."""

import base64
import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import time

import pytest
import yaml

from factories import SEED_CLIENT, SEED_NODE_IPS, lab_fixture, run_lab

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl (not found on PATH)")

kc_lab = lab_fixture("seed.yml", "kc")
KUBECTL_133 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"


@pytest.fixture(scope="module")
def kubeconfig(kc_lab):
    return run_lab("kubeconfig", "--lab", kc_lab.name).stdout.strip()


def kubectl(kubeconfig, *args, binary="kubectl", check=True):
    result = subprocess.run([binary, *args], env=dict(os.environ, KUBECONFIG=kubeconfig), capture_output=True,
                            text=True, timeout=90, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}\n{result.stdout}{result.stderr}")
    return result


def until(probe, timeout=30.0, interval=0.2):
    """probe() once it gives something true, or its last answer after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(interval)


def sent_protobuf(kubeconfig, *args):
    """kubectl ARGS with --dry-run=server: whether its request body was protobuf."""
    log = kubectl(kubeconfig, *args, "--dry-run=server", "-v8").stderr
    return "Content-Type: application/vnd.kubernetes.protobuf" in log


def test_create_namespace(kubeconfig):
    assert sent_protobuf(kubeconfig, "create", "namespace", "team1")
    assert kubectl(kubeconfig, "create", "namespace", "team1").stdout == "namespace/team1 created\n"
    got = json.loads(kubectl(kubeconfig, "get", "namespace", "team1", "-o", "json").stdout)
    assert got["metadata"]["name"] == "team1" and got["status"]["phase"] == "Active"


def test_create_configmap(kubeconfig, tmp_path):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)))
    out = kubectl(kubeconfig, "create", "configmap", "cm1", "--from-literal=a=b", f"--from-file=blob={blob}").stdout
    assert out == "configmap/cm1 created\n"
    got = json.loads(kubectl(kubeconfig, "get", "configmap", "cm1", "-o", "json").stdout)
    assert got["data"] == {"a": "b"}
    assert base64.b64decode(got["binaryData"]["blob"]) == bytes(range(256))


def test_create_deployment_pods_answer_through_an_exposed_nodeport(kc_lab, kubeconfig):
    assert kubectl(kubeconfig, "create", "deployment", "web", "--image=luksa/kubia", "--replicas=2").stdout == \
        "deployment.apps/web created\n"

    def running():
        table = kubectl(kubeconfig, "get", "pods", "-l", "app=web", "--no-headers").stdout
        names = re.findall(r"^(web-[a-z0-9]+-[a-z0-9]{5})\s+1/1\s+Running", table, re.M)
        return names if len(names) == 2 else None
    pods = until(running)
    assert pods, kubectl(kubeconfig, "get", "pods", "-o", "wide").stdout
    assert set(pods) <= set(kubectl(kubeconfig, "get", "pods", "-o", "name").stdout.replace("pod/", "").split())

    assert not sent_protobuf(kubeconfig, "expose", "deployment", "web", "--type=NodePort", "--port", "80",
                             "--target-port", "8080")  # expose sends JSON
    out = kubectl(kubeconfig, "expose", "deployment", "web", "--type=NodePort", "--port", "80", "--target-port",
                  "8080").stdout
    assert out == "service/web exposed\n"
    svc = json.loads(kubectl(kubeconfig, "get", "svc", "web", "-o", "json").stdout)
    assert svc["spec"]["type"] == "NodePort" and svc["spec"]["selector"] == {"app": "web"}
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    url = f"http://{SEED_NODE_IPS['node1']}:{node_port}"
    hits = set()

    def both_hit():
        body = kc_lab.curl("client", url) or ""
        m = re.fullmatch(r"You've hit (\S+)\n", body)
        if m:
            hits.add(m.group(1))
        return hits >= set(pods)
    assert until(both_hit, timeout=30), f"{url} from {SEED_CLIENT} answered only {hits}, pods {pods}"
    assert hits == set(pods)


def test_create_service_nodeport(kubeconfig):
    assert sent_protobuf(kubeconfig, "create", "service", "nodeport", "x", "--tcp=80:8080")
    assert kubectl(kubeconfig, "create", "service", "nodeport", "x", "--tcp=80:8080").stdout == "service/x created\n"
    svc = json.loads(kubectl(kubeconfig, "get", "svc", "x", "-o", "json").stdout)
    assert svc["spec"]["type"] == "NodePort" and svc["spec"]["selector"] == {"app": "x"}
    port = svc["spec"]["ports"][0]
    assert (port["name"], port["port"], port["targetPort"], port["protocol"]) == ("80-8080", 80, 8080, "TCP")
    assert 30000 <= port["nodePort"] <= 32767


@pytest.mark.skipif(not os.path.exists(KUBECTL_133), reason=f"needs {KUBECTL_133}")
def test_kubectl_133_creates_too(kubeconfig):
    out = kubectl(kubeconfig, "create", "configmap", "cm133", "--from-literal=k=v", binary=KUBECTL_133).stdout
    assert out == "configmap/cm133 created\n"
    assert json.loads(kubectl(kubeconfig, "get", "cm", "cm133", "-o", "json").stdout)["data"] == {"k": "v"}


def test_kinds_svclab_does_not_serve_get_404(kubeconfig):
    for args in (["create", "secret", "generic", "s1", "--from-literal=a=b"], ["create", "job", "j1", "--image=x"]):
        result = kubectl(kubeconfig, *args, check=False)
        assert result.returncode == 1
        assert "the server could not find the requested resource" in result.stderr


def test_garbage_protobuf_gets_a_400_status(kubeconfig, tmp_path):
    config = yaml.safe_load(open(kubeconfig))
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    files = {}
    for name, data in (("ca", cluster["certificate-authority-data"]), ("cert", user["client-certificate-data"]),
                       ("key", user["client-key-data"])):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_bytes(base64.b64decode(data))
    context = ssl.create_default_context(cafile=str(files["ca"]))
    context.load_cert_chain(str(files["cert"]), str(files["key"]))
    host, port = re.fullmatch(r"https://([^:]+):(\d+)", cluster["server"]).groups()
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    try:
        body = b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\xff\xff"
        conn.request("POST", "/api/v1/namespaces", body=body,
                     headers={"Content-Type": "application/vnd.kubernetes.protobuf"})
        answer = conn.getresponse()
        got = json.loads(answer.read())
    finally:
        conn.close()
    assert answer.status == 400
    assert (got["kind"], got["reason"], got["code"]) == ("Status", "BadRequest", 400)
    assert got["message"] == f"the object provided is unrecognized (must be of type Namespace): unexpected EOF " \
                             f"({body.hex()})"
    assert "namespace/default" in kubectl(kubeconfig, "get", "namespaces", "-o", "name").stdout  # still serving
