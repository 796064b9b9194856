"""``lab ui [--lab LAB] [--port P] [--all]``: the lab as a live page on 127.0.0.1, for a
classroom's projector: its picture, the new connections each way into a service takes and the
share each pod gets (the kernel's counters), and the running exercise. Stops with Ctrl-C."""

import signal
import sys

from lab.classroom.ui import server
from lab.errors import LabError


def add_arguments(p):
    p.add_argument("--lab", help="which lab (default: the only lab up)")
    p.add_argument("--port", type=int, default=0,
                   help="listen on 127.0.0.1:PORT (default: a free port chosen by the kernel)")
    p.add_argument("--all", action="store_true", help="also the cluster's own objects (CoreDNS, kube-dns, "
                   "the kubernetes service)")


def _stop(signum, frame):
    raise KeyboardInterrupt


def run(args):
    if not 0 <= args.port <= 65535:
        raise LabError(f"--port {args.port}: a port is 1 to 65535 (or leave --port out for a free one)")

    def ready(lab, url, table):
        print(f"lab ui: serving lab {lab} at {url}")
        if table:
            print(f"nftables mode: counting in table ip {table} in each node's namespace, kube-proxy's table "
                  "left as it is; the table goes when lab ui stops.")
        print("Open it in a browser on this machine; only this URL (its token) opens the page. Ctrl-C stops.")
        sys.stdout.flush()

    signal.signal(signal.SIGTERM, _stop)
    server.serve(args.lab, args.port, args.all, ready)
    print("lab ui: stopped", file=sys.stderr)
    return 0

