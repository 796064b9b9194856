"""How a program reaches a lab's API: the lab's kubeconfig files, and the official Python client
(the ``kubernetes`` package) configured from one. ``lab kubeconfig`` and the pytest plugin use it.
Every failure is a LabError that says what to do."""

import os

from lab.errors import LabError

FILES = {"host": "admin.conf", "inside": "admin-lab.conf"}


def kubeconfig_path(lab_record, inside=False):
    """The lab's admin kubeconfig: the host's (``https://127.0.0.1:<port>``) or, with ``inside``,
    the one for the lab's own machines (the master's address, port 6443)."""
    found = lab_record.path(FILES["inside" if inside else "host"])
    if not os.path.exists(found):
        raise LabError(f"lab {lab_record.lab!r} runs no API server (it came up with --no-api-server, or its "
                       f"API server failed: see {lab_record.path('kube-apiserver-master.log')}); bring it up again")
    return found


def api_client(config_file):
    """A ``kubernetes.client.ApiClient`` for the API a kubeconfig file names."""
    try:
        from kubernetes import config
    except ImportError:
        raise LabError("the official Kubernetes Python client is not installed (the 'kubernetes' package): "
                       "sudo ./setup installs it (Debian's python3-kubernetes), or: pip install kubernetes") from None
    return config.new_client_from_config(config_file=config_file)
