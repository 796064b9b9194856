"""The lab's API server (kube-apiserver's role), as an agent: makes the lab's PKI and kubeconfig
files, listens on the master node's address, port 6443, inside the lab and on a free port of
the host's loopback address, and serves until the lab goes down. SIGHUP: the store changed.

Runs in the host's network namespace: its loopback listening socket is the one thing a lab
holds there; the master's socket is opened inside the master's namespace (a socket keeps the
namespace it was made in).
"""

import importlib
import json
import os
import signal
import socket
import sys
import threading

from lab.agents.protocol import parse_args
from lab.kernel.netns import listen_in
from lab.kernel.processes import report_ready

API_PORT = 6443


def _loopback_socket(port=0):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def main():
    args = parse_args("the lab's Kubernetes API server", [
        ("--dir", {"required": True}), ("--master-netns", {"required": True}), ("--master-ip", {"required": True}),
        ("--master-name", {"required": True}), ("--service-ip", {"required": True}),
        ("--domain", {"required": True}), ("--version", {"required": True})])
    try:
        from lab.api import pki, server  # the imports (ssl, http, cryptography) are the start-up's cost
        names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{args.domain}",
                 args.master_name, "localhost"]
        paths = pki.make(args.dir, names, ["127.0.0.1", args.master_ip, args.service_ip])
        loopback = _loopback_socket()
        port = loopback.getsockname()[1]
        inside = listen_in(args.master_netns, API_PORT, address=args.master_ip)
        inside.setblocking(True)
        loopback.setblocking(True)
        pki.write_kubeconfig(os.path.join(args.dir, "admin.conf"), pki.kubeconfig(paths, f"https://127.0.0.1:{port}"))
        pki.write_kubeconfig(os.path.join(args.dir, "admin-lab.conf"),
                             pki.kubeconfig(paths, f"https://{args.master_ip}:{API_PORT}"))
        with open(os.path.join(args.dir, "api.json"), "w") as f:
            json.dump({"port": port, "address": f"{args.master_ip}:{API_PORT}"}, f)
        api = server.Api(args.lab, args.version, f"{args.master_ip}:{API_PORT}")
        server.serve(api, [inside, loopback], server.tls_context(paths))
        api.follow()
    except (OSError, ImportError, ValueError) as exc:
        report_ready(args.ready_fd, f"cannot serve the API: {exc}")
        return 1
    signal.signal(signal.SIGHUP, lambda *_: api.reload())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    report_ready(args.ready_fd)
    threading.Thread(target=importlib.import_module, args=("lab.live.changes",), daemon=True).start()  # for writes
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
