"""The lab's API server (kube-apiserver's role), as an agent: makes the lab's PKI and kubeconfig
files, listens on the master node's address, port 6443, inside the lab and on a free port of
the host's loopback address, and serves until the lab goes down. SIGHUP: the store changed.

It runs in the master's namespace, like every agent, so that ``ip netns pids`` finds it; its
loopback socket is made in the host's namespace (an open handle to it comes from ``up``), the
one thing a lab holds there, and its serving threads work from there: a write is a live change,
which runs from the host's namespace like ``lab apply``.
"""

import importlib
import json
import os
import select
import signal
import socket
import sys
import threading

from lab.agents.protocol import parse_args
from lab.kernel.netns import entered_path
from lab.kernel.processes import report_ready

API_PORT = 6443
WARM_UP_AFTER = 1.0  # seconds after ready: lab up is over


IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)


def _listening(address, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # up starts the API server while the links are made: the master's address may come a moment later
    sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
    sock.bind((address, port))
    sock.listen(128)
    return sock


def _loopback_socket():
    return _listening("127.0.0.1", 0)


def main():
    args = parse_args("the lab's Kubernetes API server", [
        ("--dir", {"required": True}), ("--host-netns-fd", {"required": True, "type": int}),
        ("--master-ip", {"required": True}),
        ("--master-name", {"required": True}), ("--service-ip", {"required": True}),
        ("--domain", {"required": True}), ("--version", {"required": True})])
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until it serves (the store is read when it starts to)
    try:
        from lab.api import pki  # cryptography: most of what comes before ready
        names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{args.domain}",
                 args.master_name, "localhost"]
        paths = pki.make(args.dir, names, ["127.0.0.1", args.master_ip, args.service_ip])
        host = f"/proc/self/fd/{args.host_netns_fd}"
        with entered_path(host):  # a socket keeps the namespace it was made in
            loopback = _loopback_socket()
        port = loopback.getsockname()[1]
        inside = _listening(args.master_ip, API_PORT)
        pki.write_kubeconfig(os.path.join(args.dir, "admin.conf"), pki.kubeconfig(paths, f"https://127.0.0.1:{port}"))
        pki.write_kubeconfig(os.path.join(args.dir, "admin-lab.conf"),
                             pki.kubeconfig(paths, f"https://{args.master_ip}:{API_PORT}"))
        with open(os.path.join(args.dir, "api.json"), "w") as f:
            json.dump({"port": port, "address": f"{args.master_ip}:{API_PORT}"}, f)
    except (OSError, ImportError, ValueError) as exc:
        report_ready(args.ready_fd, f"cannot serve the API: {exc}")
        return 1
    # ready: the sockets listen (a client that comes now waits in their backlog for the moment the
    # server needs to import its code), the kubeconfig files are there
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    report_ready(args.ready_fd)
    # the server's code (ssl, http.server, the API's modules: 50 ms of CPU) loads when the first
    # client comes, or once up is surely done: not while the lab's other agents start
    select.select([inside, loopback], [], [], WARM_UP_AFTER)
    from lab.api import server
    api = server.Api(args.lab, args.version, f"{args.master_ip}:{API_PORT}")
    server.serve(api, [inside, loopback], server.tls_context(paths), thread_netns=host)
    api.follow()
    signal.signal(signal.SIGHUP, lambda *_: api.reload())
    # the live-change code, for the first write: later still
    warm = threading.Timer(WARM_UP_AFTER, importlib.import_module, args=("lab.live.changes",))
    warm.daemon = True
    warm.start()
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
