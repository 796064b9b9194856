"""The real kubectl against a lab's API server: ``kubectl explain`` reads the OpenAPI v3 documents
the server builds from Kubernetes' schemas (kubernetes-validate), and ``kubectl apply -f`` still
works beside them (``/openapi/v2`` stays the empty answer apply and edit need). Both profiles: the
1.18 profile reports v1.18.20 (the kubectl dispatcher runs its built-in 1.32), the current one
v1.33.0 (kubectl 1.33)."""

import hashlib
import json
import os
import subprocess

import pytest

from factories import SEED_FILES, lab_fixture, needs_tools, run_lab
from lab.api import openapi

pytestmark = [
    needs_tools("kubectl", why="kubectl explain and apply are run for real"),
    pytest.mark.skipif(openapi.package_dir() is None,
                       reason="kubernetes-validate (Kubernetes' schemas) is not installed: sudo ./setup installs it"),
]

current_lab = lab_fixture("nodeport.yml", "kx")  # profile current: v1.33.0

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector:
    app: myapp
  ports:
  - port: 3001
    targetPort: 8080
"""
TYPO = SERVICE.replace("targetPort:", "targetPrt:")


class Kubectl:
    """kubectl with the lab's admin kubeconfig and a discovery cache of its own (labs reuse
    loopback ports, and a cache keyed by host:port would outlive them)."""

    def __init__(self, lab, cache_dir):
        self.lab = lab
        self.env = {**os.environ, "KUBECONFIG": run_lab("kubeconfig", "--lab", lab.name).stdout.strip()}
        self.cache_dir = str(cache_dir)

    def __call__(self, *args, check=True):
        result = subprocess.run(["kubectl", f"--cache-dir={self.cache_dir}", *args], env=self.env,
                                capture_output=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}\n"
                                 f"stdout:\n{result.stdout.decode()}\nstderr:\n{result.stderr.decode()}")
        return result

    def text(self, *args):
        return self(*args).stdout.decode()


@pytest.fixture(scope="module", params=["seed_lab", "current_lab"])
def kubectl(request, tmp_path_factory):
    lab = request.getfixturevalue(request.param)
    return Kubectl(lab, tmp_path_factory.mktemp(f"kube-cache-{lab.name}"))


def words(text):
    """``text`` with its line breaks and indents as single spaces: explain wraps descriptions."""
    return " ".join(text.split())


def test_explain_service_spec(kubectl):
    out = kubectl.text("explain", "service.spec")
    assert out.startswith("KIND:       Service\nVERSION:    v1\n"), out[:200]
    assert "FIELD: spec <ServiceSpec>" in out and "\nFIELDS:\n" in out
    fields = out.split("\nFIELDS:\n", 1)[1]
    assert "  ports\t<[]ServicePort>\n" in fields
    assert "  selector\t<map[string]string>\n" in fields
    assert "  type\t<string>\n" in fields
    flat = words(fields)
    assert "The list of ports that are exposed by this service." in flat
    assert "Route service traffic to pods with label keys and values matching this selector." in flat
    assert "type determines how the Service is exposed. Defaults to ClusterIP." in flat


def test_explain_deployment_replicas(kubectl):
    out = kubectl.text("explain", "deployment.spec.replicas")
    assert out.startswith("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n"), out[:200]
    assert "FIELD: replicas <integer>" in out
    assert "Number of desired pods." in words(out)


def test_explain_container_ports(kubectl):
    out = kubectl.text("explain", "pods.spec.containers.ports")
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n"), out[:200]
    assert "FIELD: ports <[]ContainerPort>" in out
    assert "  containerPort\t<integer> -required-\n" in out
    assert "  protocol\t<string>\n" in out


def test_openapi_v3_index_and_documents(kubectl):
    index = json.loads(kubectl("get", "--raw", "/openapi/v3").stdout)
    assert set(index["paths"]) == {"api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1", "apis/discovery.k8s.io/v1"}
    url = index["paths"]["apis/discovery.k8s.io/v1"]["serverRelativeURL"]
    doc = kubectl("get", "--raw", url).stdout
    assert url.endswith("?hash=" + hashlib.sha512(doc).hexdigest().upper())
    assert "io.k8s.api.discovery.v1.EndpointSlice" in json.loads(doc)["components"]["schemas"]


def test_openapi_v2_stays_empty(kubectl):
    assert kubectl("get", "--raw", "/openapi/v2").stdout == b""


def test_apply_a_service_file(kubectl, tmp_path):
    name = f"explained{kubectl.lab.name[-3:]}"
    manifest = tmp_path / "service.yml"
    manifest.write_text(SERVICE.format(name=name))
    assert kubectl.text("apply", "-f", str(manifest)).strip() == f"service/{name} created"
    assert name in kubectl.lab.get("svc", name)


def test_apply_the_seed_manifests_with_validation(kubectl):
    args = [a for f in SEED_FILES for a in ("-f", f)]
    lines = [line.split() for line in kubectl.text("apply", "--validate=true", *args).splitlines()]
    assert [line[0] for line in lines] == ["deployment.apps/pod-nodeport", "service/nodeport-svc"]
    assert all(line[1:] in (["configured"], ["unchanged"]) for line in lines), lines


def test_an_unknown_field_is_named(kubectl, tmp_path):
    manifest = tmp_path / "typo.yml"
    manifest.write_text(TYPO.format(name="typo"))
    result = kubectl("apply", "-f", str(manifest), check=False)
    assert result.returncode == 1
    assert 'unknown field "spec.ports[0].targetPrt"' in result.stderr.decode()
    assert kubectl("get", "svc", "typo", check=False).returncode == 1
