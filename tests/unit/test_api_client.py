"""What a program needs to reach a lab's API (lab.api.client), and how the server reads the
Python client's query parameters. No root: no lab is up here."""

import subprocess
import sys

import pytest

from factories import ROOT
from lab.api import client
from lab.api.server import query_bool
from lab.errors import LabError
from lab.kernel.record import Record


def test_a_lab_without_its_api_server_has_no_kubeconfig():
    record = Record("nosuchlab17", {})
    with pytest.raises(LabError, match=r"lab 'nosuchlab17' runs no API server \(it came up with --no-api-server"):
        client.kubeconfig_path(record)


def test_without_the_kubernetes_package_one_line_says_how_to_install_it():
    # -S: no site-packages, so no `kubernetes` (wherever it is installed); the error is a LabError
    code = ("from lab.api import client\nfrom lab.errors import LabError\n"
            "try:\n    client.api_client('/nonexistent')\nexcept LabError as exc:\n    print(exc)\n")
    result = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("the official Kubernetes Python client is not installed (the 'kubernetes' "
                                     "package): sudo ./setup installs it (Debian's python3-kubernetes), or: pip "
                                     "install kubernetes")


@pytest.mark.parametrize("value, expected", [
    (None, False), ("0", False), ("false", False), ("False", False), ("FALSE", False),
    ("true", True), ("True", True), ("1", True), ("", True), ("yes", True),
])
def test_boolean_query_parameters_as_kube_apiserver_reads_them(value, expected):
    # the Python client sends watch=True; kube-apiserver takes anything but absent, 0 and false
    assert query_bool(value) is expected
