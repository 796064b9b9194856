"""kube-proxy's service health server in a scratch network namespace: the kube-proxy agent
(lab.agents.kubeproxy) started there answers health checks over curl, before and after a SIGHUP
resync; and ServiceHealthServer alone, resynced in process. The pure answer is tested in
tests/unit/test_kubeproxy_health.py.
"""

import os
import signal
import subprocess
import tempfile
import time

import pytest

from factories import HEALTH_BODY, ep, health_lb, health_services, needs_tools, node1_state
from lab.cluster import codec
from lab.kernel import processes
from lab.agents import kubeproxy
from lab.proxy.health import health_answer

pytestmark = needs_tools("ip", "iptables-restore", "curl", why="runs kube-proxy in a network namespace")


def curl(ns, port):
    """(status, headers, body) from ``curl -i``, or None when nothing listens."""
    r = subprocess.run(["ip", "netns", "exec", ns, "curl", "-s", "-i", "-m", "3", f"http://127.0.0.1:{port}/healthz"],
                       capture_output=True, timeout=15)
    if r.returncode != 0:
        return None
    head, _, body = r.stdout.decode().partition("\r\n\r\n")  # bytes: text mode would turn CRLF into LF
    status_line, *header_lines = head.split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


def write_state(directory, state, generation):
    with open(os.path.join(directory, "cluster.json.tmp"), "w") as f:
        f.write(codec.dumps(state))
    os.replace(os.path.join(directory, "cluster.json.tmp"), os.path.join(directory, "cluster.json"))
    with open(os.path.join(directory, "generation"), "w") as f:
        f.write(str(generation))


def wait_for_ack(directory, generation, timeout=10.0):
    path = os.path.join(directory, "acks", "kube-proxy-node1")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                if f.read().strip() == str(generation):
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"kube-proxy did not acknowledge generation {generation}")


@pytest.mark.netns
def test_agent_answers_health_checks_and_follows_resyncs(scratch_netns):
    with tempfile.TemporaryDirectory() as tmp:
        write_state(tmp, health_services(netns=scratch_netns), 1)
        log = os.path.join(tmp, "kube-proxy.log")
        daemon = processes.spawn("kube-proxy", "lab.agents.kubeproxy",
                                 ["--node", "node1", "--cluster", os.path.join(tmp, "cluster.json")],
                                 scratch_netns, log, f"svh{os.getpid()}", os.path.join(tmp, "bin"))
        try:
            try:
                processes.wait_ready([daemon])
            except Exception:
                with open(log) as f:
                    pytest.fail(f"kube-proxy did not start:\n{f.read()}")
            wait_for_ack(tmp, 1)

            status, headers, body = curl(scratch_netns, 32000)
            assert status == 200 and body == HEALTH_BODY
            assert headers["Content-Type"] == "application/json"
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["X-Load-Balancing-Endpoint-Weight"] == "1"
            assert headers["Content-Length"] == str(len(HEALTH_BODY))
            assert "Server" not in headers
            status, _, body = curl(scratch_netns, 32001)
            assert status == 503 and '"localEndpoints": 0,' in body

            # resync: lb-local's endpoint is no longer ready, lb-remote goes, lb-new comes with a local endpoint
            new = health_lb("lb-new", 32005, cluster_ip="10.96.50.5")
            state = node1_state([health_lb("lb-local", 32000), new], {
                ("default", "lb-local", "http"): (ep("10.244.1.5:8080", "node1", ready=False),),
                ("default", "lb-new", "http"): (ep("10.244.1.9:8080", "node1"), ep("10.244.1.10:8080", "node1")),
            }, netns=scratch_netns)
            write_state(tmp, state, 2)
            os.kill(daemon.pid, signal.SIGHUP)
            wait_for_ack(tmp, 2)
            status, _, body = curl(scratch_netns, 32000)
            assert status == 503 and '"localEndpoints": 0,' in body
            assert curl(scratch_netns, 32001) is None  # closed
            status, headers, body = curl(scratch_netns, 32005)
            assert status == 200 and '"name": "lb-new"' in body and headers["X-Load-Balancing-Endpoint-Weight"] == "2"
            assert daemon.proc.poll() is None
        finally:
            processes.stop([daemon.pid])
            daemon.proc.wait(timeout=5)


@pytest.mark.netns
def test_health_server_resync_in_process(scratch_netns):
    """ServiceHealthServer alone: answers swap in place, listeners open and close with the ports."""
    server = kubeproxy.ServiceHealthServer()
    try:
        server.sync({32010: health_answer("default", "a", 1)}, scratch_netns)
        assert curl(scratch_netns, 32010)[0] == 200
        listener = server.servers[32010]
        server.sync({32010: health_answer("default", "a", 0),
                     32011: health_answer("default", "b", 3)}, scratch_netns)
        assert server.servers[32010] is listener  # kept open
        assert curl(scratch_netns, 32010)[0] == 503
        assert curl(scratch_netns, 32011)[1]["X-Load-Balancing-Endpoint-Weight"] == "3"
        server.sync({}, scratch_netns)
        assert curl(scratch_netns, 32010) is None and curl(scratch_netns, 32011) is None
    finally:
        server.close()
