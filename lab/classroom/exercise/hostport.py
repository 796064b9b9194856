"""The host's side of an exercise: a port on the host's loopback, where a student's ``kubectl
port-forward`` listens. A ``loopback:`` check sends one HTTP GET to it; a ``forward:`` action (a
reference fix) starts the user's own kubectl there, as the student would type it.

The kubectl started keeps running after ``lab exercise solve`` returns, as the student's would. It
is recorded among the lab's processes (its command line names the lab's kubeconfig, in the lab's
state directory), so ``lab down`` and ``lab exercise reset`` stop it with the lab's daemons.
Nothing else here leaves the host's loopback.
"""

import http.client
import shutil
import socket
import subprocess
import time

from lab.api import client
from lab.errors import LabError
from lab.kernel import processes, record

KUBECTL = "kubectl"
LOOPBACK = "127.0.0.1"
READY_SECONDS = 20.0  # kubectl prints "Forwarding from ..." once it listens
LOG = "port-forward-{port}.log"


def get(port, timeout):
    """(ok, what) of ``GET http://127.0.0.1:PORT/``: ok when it answers at all; what is the body's
    first line, or why nothing answered (refused, timeout, ...)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"User-Agent": "svclab-exercise"})
        body = conn.getresponse().read(4096).decode("utf-8", "replace")
    except ConnectionRefusedError:
        return False, "refused (nothing listens there)"
    except (socket.timeout, TimeoutError):
        return False, f"no answer within {timeout:g} s"
    except (OSError, http.client.HTTPException) as exc:
        return False, " ".join(str(exc).split()) or type(exc).__name__
    finally:
        conn.close()
    lines = body.strip().splitlines()
    return True, lines[0] if lines else "an empty answer"


def start_forward(lab, service, namespace, local, port):
    """``kubectl port-forward svc/SERVICE LOCAL:PORT`` against the lab, in the background; returns
    its PID once it listens (or raises LabError with what kubectl said)."""
    if shutil.which(KUBECTL) is None:
        raise LabError(f"{KUBECTL} is not installed: sudo ./setup installs it")
    lab_record = record.Record.load(lab)
    if lab_record is None:
        raise LabError(f"lab {lab!r} is not up")
    key = f"kubectl/port-forward-{local}"
    running = lab_record.pids.get(key)
    if running and processes.is_lab_process(running, lab, lab_record.path()):
        return running  # started by an earlier fix, still forwarding
    log_path = lab_record.path(LOG.format(port=local))
    argv = [KUBECTL, "--kubeconfig", client.kubeconfig_path(lab_record), "--namespace", namespace,
            "port-forward", f"svc/{service}", f"{local}:{port}", "--address", LOOPBACK]
    with open(log_path, "wb") as log:  # a file, not a pipe: kubectl writes a line per connection for as
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,  # long as it runs
                                start_new_session=True)
    try:
        _wait_listening(proc, log_path)
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise
    with record.locked():
        lab_record = record.Record.load(lab)
        if lab_record is None:  # taken down meanwhile: the forward has nothing to serve
            proc.kill()
            proc.wait(timeout=10)
            raise LabError(f"lab {lab!r} went down while kubectl port-forward started")
        lab_record.add_pid(key, proc.pid)
    return proc.pid


def _wait_listening(proc, log_path):
    deadline = time.monotonic() + READY_SECONDS
    while "Forwarding from" not in _read(log_path):
        if proc.poll() is not None:
            raise LabError(f"kubectl port-forward exited with code {proc.returncode}{_last_line(log_path)}")
        if time.monotonic() > deadline:
            raise LabError(f"kubectl port-forward did not listen within {READY_SECONDS:g} s{_last_line(log_path)}")
        time.sleep(0.05)


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _last_line(path):
    lines = _read(path).strip().splitlines()
    return f": {lines[-1]}" if lines else ""
