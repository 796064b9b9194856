"""The load balancer's controller: keeps nginx's configuration in step with the cluster.

Like a cloud provider's controller for ``type: LoadBalancer``, it probes every node's
health-check node port for services with ``externalTrafficPolicy: Local`` (once a second) and
takes nodes without a local endpoint out of the upstream. Whenever the configuration changes
it rewrites nginx.conf and reloads nginx (SIGHUP: new workers take new connections, old ones
finish the requests in flight). SIGHUP to the controller re-reads the cluster state.
"""

import http.client
import os
import select
import signal
import sys

from lab.agents import registry
from lab.agents.protocol import acknowledge, parse_args
from lab.cluster import codec
from lab.kernel.files import write_atomic
from lab.kernel.processes import report_ready
from lab.net import nginx

PROBE_INTERVAL = 1.0
PROBE_TIMEOUT = 0.5


def healthy(ip, port):
    """kube-proxy's health check: 200 when the node has a local endpoint, 503 when not."""
    try:
        conn = http.client.HTTPConnection(str(ip), port, timeout=PROBE_TIMEOUT)
        conn.request("GET", "/healthz")
        status = conn.getresponse().status
        conn.close()
        return status == 200
    except OSError:
        return False


class Controller:
    def __init__(self, cluster_file, directory):
        self.cluster_file, self.directory = cluster_file, directory
        self.conf = os.path.join(directory, "nginx.conf")
        self.cluster = None

    def reload(self):
        with open(self.cluster_file) as f:
            self.cluster = codec.loads(f.read())

    def probe(self):
        health = {}
        for svc in self.cluster.services:
            if nginx.local_policy(svc) and svc.lb_ips and svc.health_check_node_port:
                health[svc.key] = {n.name for n in self.cluster.nodes if healthy(n.ip, svc.health_check_node_port)}
        return health

    def apply(self):
        text = nginx.render(self.cluster, self.directory, self.probe())
        try:
            with open(self.conf) as f:
                if f.read() == text:
                    return False
        except FileNotFoundError:
            pass
        write_atomic(self.conf, text)
        with open(os.path.join(self.directory, "nginx.pid")) as f:
            os.kill(int(f.read().strip()), signal.SIGHUP)
        print("nginx reloaded", flush=True)
        return True


def main():
    args = parse_args("load-balancer controller", [("--cluster", {"required": True}),
                                                   ("--dir", {"required": True})])
    controller = Controller(args.cluster, args.dir)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    hup = []
    signal.signal(signal.SIGHUP, lambda *_: hup.append(True))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        controller.reload()
        controller.apply()
    except (OSError, ValueError) as exc:
        report_ready(args.ready_fd, str(exc))
        return 1
    state_dir = os.path.dirname(args.cluster)
    acknowledge(state_dir, registry.LB_CONTROLLER.ack_name(registry.LB_KEY))
    report_ready(args.ready_fd)
    while True:
        select.select([wake_r], [], [], PROBE_INTERVAL)
        try:
            os.read(wake_r, 512)
        except BlockingIOError:
            pass
        try:
            if hup:
                hup.clear()
                controller.reload()
                controller.apply()
                acknowledge(state_dir, registry.LB_CONTROLLER.ack_name(registry.LB_KEY))
            else:
                controller.apply()
        except (OSError, ValueError) as exc:
            print(f"controller: {exc}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
