"""HTTP requests from the machine running ``lab verify`` (a scenario's ``from: client``), made
only once the route to the address has been found to lead to the cluster (lab.remote.routes)."""

import errno
import socket
import time

from lab.verify.outcome import ProbeOutcome


def http_get(host, port, path="/", timeout=2.0):
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: svclab-probe\r\n"
                         "Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except socket.timeout:
        return ProbeOutcome("timeout", seconds=time.monotonic() - started)
    except OSError as exc:
        kind = "refused" if exc.errno == errno.ECONNREFUSED else "unreachable"
        return ProbeOutcome(kind, seconds=time.monotonic() - started,
                            error="" if kind == "refused" else errno.errorcode.get(exc.errno or 0, str(exc)))
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else None
    return ProbeOutcome("reached", status, body.decode(errors="replace"), time.monotonic() - started)
