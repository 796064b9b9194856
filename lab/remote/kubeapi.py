"""A cluster's Kubernetes API, as this package uses it: the official Python client configured
from a kubeconfig (and context), plain JSON requests by path, and exec in a pod over the
client's WebSocket. Every failure the user can act on is a LabError naming the kubeconfig."""

import json
import os

from lab.errors import LabError

# kind -> (API path prefix, plural, namespaced): what scenarios hold, and the probe pods
RESOURCES = {
    "Namespace": ("api/v1", "namespaces", False),
    "ConfigMap": ("api/v1", "configmaps", True),
    "Service": ("api/v1", "services", True),
    "Endpoints": ("api/v1", "endpoints", True),
    "EndpointSlice": ("apis/discovery.k8s.io/v1", "endpointslices", True),
    "Deployment": ("apis/apps/v1", "deployments", True),
    "ReplicaSet": ("apis/apps/v1", "replicasets", True),
    "StatefulSet": ("apis/apps/v1", "statefulsets", True),
    "DaemonSet": ("apis/apps/v1", "daemonsets", True),
    "Pod": ("api/v1", "pods", True),
    "Node": ("api/v1", "nodes", False),
}


class ApiFailure(Exception):
    """An answer other than 2xx: its HTTP status and the Status message."""

    def __init__(self, status, reason, message):
        self.status, self.reason = status, reason
        super().__init__(message or reason)


def path(kind, namespace=None, name=None):
    prefix, plural, namespaced = RESOURCES[kind]
    out = f"/{prefix}/namespaces/{namespace}/{plural}" if namespaced and namespace else f"/{prefix}/{plural}"
    return f"{out}/{name}" if name else out


class Cluster:
    """One cluster, reached through the kubeconfig file ``config_file`` (its ``context``)."""

    def __init__(self, config_file, context=None):
        try:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException
        except ImportError:
            raise LabError("the official Kubernetes Python client is not installed (the 'kubernetes' package): "
                           "sudo ./setup installs it (Debian's python3-kubernetes), or: pip install kubernetes") from None
        self.config_file = config_file
        if not os.path.isfile(config_file):
            raise LabError(f"--kubeconfig {config_file}: no such file (kind writes ~/.kube/config; "
                           "a lab's: lab kubeconfig)")
        if not os.access(config_file, os.R_OK):
            raise LabError(f"--kubeconfig {config_file}: cannot read it (permission denied)")
        try:
            self.api = config.new_client_from_config(config_file=config_file, context=context)
        except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
            raise LabError(f"--kubeconfig {config_file}: cannot use it: {exc}"
                           + ("" if context is None else f" (context {context!r})")) from None
        self.core = client.CoreV1Api(self.api)
        self.server = self.api.configuration.host

    def close(self):
        self.api.close()

    def request(self, method, url, body=None, query=None, timeout=30):
        """The decoded JSON answer; ApiFailure for an HTTP error, LabError when the server cannot be reached."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError
        try:
            return self.api.call_api(url, method, query_params=list((query or {}).items()), body=body,
                                     header_params={"Content-Type": "application/json", "Accept": "application/json"},
                                     response_type="object", auth_settings=["BearerToken"],
                                     _return_http_data_only=True, _request_timeout=timeout)
        except ApiException as exc:
            try:
                status = json.loads(exc.body or "{}")
            except (ValueError, TypeError):
                status = {}
            raise ApiFailure(exc.status, status.get("reason") or exc.reason, status.get("message")) from None
        except (HTTPError, OSError) as exc:
            raise LabError(f"cannot reach the cluster at {self.server} (--kubeconfig {self.config_file}): "
                           f"{type(exc).__name__}: {exc}") from None

    def get(self, kind, namespace=None, name=None):
        try:
            return self.request("GET", path(kind, namespace, name))
        except ApiFailure as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, kind, namespace=None, labels=None):
        query = {"labelSelector": labels} if labels else None
        return self.request("GET", path(kind, namespace), query=query).get("items") or []

    def create(self, obj):
        meta = obj["metadata"]
        return self.request("POST", path(obj["kind"], meta.get("namespace")), body=obj)

    def delete(self, kind, namespace, name, grace=None):
        """Delete one object (its dependents in the background, as kubectl does); False if it was gone."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if grace is not None:
            body["gracePeriodSeconds"] = grace
        try:
            self.request("DELETE", path(kind, namespace, name), body=body)
            return True
        except ApiFailure as exc:
            if exc.status == 404:
                return False
            raise

    def exec(self, namespace, pod, argv, timeout):
        """(exit code, stdout, stderr) of ``argv`` run in the pod's first container; exit code
        None when the command did not finish within ``timeout`` seconds."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import stream
        try:
            ws = stream(self.core.connect_get_namespaced_pod_exec, pod, namespace, command=list(argv),
                        stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        except ApiException as exc:
            return 126, "", f"exec in {namespace}/{pod} refused: {exc.status} {exc.reason}"
        except Exception as exc:  # websocket's own failures: the exec did not start
            return 126, "", f"exec in {namespace}/{pod} failed: {type(exc).__name__}: {exc}"
        out, err = [], []
        import time
        try:
            deadline = time.monotonic() + timeout
            while ws.is_open() and time.monotonic() < deadline:
                ws.update(timeout=min(1.0, max(0.05, deadline - time.monotonic())))
                out.append(ws.read_stdout() if ws.peek_stdout() else "")
                err.append(ws.read_stderr() if ws.peek_stderr() else "")
            code = _exit_code(ws.read_channel(3)) if not ws.is_open() else None
        finally:
            ws.close()
        if isinstance(code, str):  # the exec itself failed (no such command): its message
            return 126, "".join(out), "".join(err) + code
        return code, "".join(out), "".join(err)


def _exit_code(text):
    """The exit code in exec's error channel (a Status: Success, or NonZeroExitCode with the code
    as a cause), or the Status's message when the command could not run."""
    try:
        status = json.loads(text) if text else {}
    except ValueError:
        return text
    if status.get("status") == "Success" or not status:
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message"))
            except (TypeError, ValueError):
                break
    return status.get("message") or "the command did not run"
