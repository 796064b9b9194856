"""kube-proxy's service health server (lab.agents.kubeproxy) against pkg/proxy/healthcheck/service_health.go.

For every LoadBalancer with externalTrafficPolicy: Local, kube-proxy listens on the service's
healthCheckNodePort and answers any GET with 200 while the node has a ready endpoint of the service,
else 503, and a JSON body counting them. The pure answer is tested here; tests marked ``netns`` (root)
start the agent in a scratch network namespace and ask it with curl, before and after a SIGHUP resync.
"""

import dataclasses
import ipaddress
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from lab.cluster import codec
from lab.kernel import processes
from lab.agents import kubeproxy
from lab.proxy import serviceports
from lab.proxy.health import health_answer, service_health
from lab.cluster.model import ClusterState, Endpoint, Node, Service, ServicePort
from lab.spec.scenario import KubeProxyConfig

BODY_CURRENT = ('{\n\t"service": {\n\t\t"namespace": "default",\n\t\t"name": "lb-local"\n\t},\n'
                '\t"localEndpoints": 1,\n\t"serviceProxyHealthy": true\n}')


# factories ------------------------------------------------------------------------------------

def ep(address, node, **conditions):
    ip, number = address.rsplit(":", 1)
    return Endpoint(ipaddress.ip_address(ip), int(number), node, pod=None, **conditions)


def lb(name, hcnp, ports=(("http", 80),), etp="Local", type="LoadBalancer", cluster_ip="10.96.50.1"):
    return Service("default", name, type, tuple(ServicePort(n, "TCP", p, 8080, 31000 + p) for n, p in ports),
                   cluster_ip, external_traffic_policy=etp, lb_ips=("192.168.179.240",), health_check_node_port=hcnp)


def make_state(services, endpoints, profile="current", netns="k8s-node1"):
    node = Node("node1", "k8s-node1", ipaddress.ip_address("192.168.179.100"), ipaddress.ip_network("10.244.1.0/24"),
                netns)
    return ClusterState(
        lab="k8s", lan_cidr=ipaddress.ip_network("192.168.179.0/24"), gateway=ipaddress.ip_address("192.168.179.1"),
        nodes=(node,), hosts=(), service_cidr=ipaddress.ip_network("10.96.0.0/12"),
        cluster_cidr=ipaddress.ip_network("10.244.0.0/16"), domain="cluster.local",
        kube_proxy=KubeProxyConfig(profile=profile), pods=(), services=tuple(services), endpoints=dict(endpoints))


def two_services(profile="current", netns="k8s-node1"):
    """lb-local has a ready endpoint on node1 (200 there); lb-remote only one on node2 (503 on node1)."""
    local, remote = lb("lb-local", 32000), lb("lb-remote", 32001, cluster_ip="10.96.50.2")
    return make_state([local, remote], {
        ("default", "lb-local", "http"): (ep("10.244.1.5:8080", "node1"), ep("10.244.2.7:8080", "node2")),
        ("default", "lb-remote", "http"): (ep("10.244.2.8:8080", "node2"),),
    }, profile, netns)


# the answer -----------------------------------------------------------------------------------

def test_answer_of_recent_releases():
    """Go writes the body from a dedented template: tab indents, no trailing newline."""
    answer = health_answer("default", "lb-local", 1)
    assert answer.status == 200
    assert answer.body.decode() == BODY_CURRENT
    assert dict(answer.headers) == {"Content-Type": "application/json", "X-Content-Type-Options": "nosniff",
                                    "X-Load-Balancing-Endpoint-Weight": "1"}


def test_answer_without_local_endpoints_is_503():
    answer = health_answer("default", "lb-local", 0)
    assert answer.status == 503
    assert '"localEndpoints": 0,' in answer.body.decode()
    assert dict(answer.headers)["X-Load-Balancing-Endpoint-Weight"] == "0"


def test_answer_of_1_18():
    answer = health_answer("default", "lb-local", 2, legacy=True)
    assert answer.status == 200
    assert answer.body.decode() == ('{\n\t"service": {\n\t\t"namespace": "default",\n\t\t"name": "lb-local"\n\t},\n'
                                    '\t"localEndpoints": 2\n}')
    assert answer.headers == (("Content-Type", "application/json"),)


def test_service_health_per_node():
    state = two_services()
    health = service_health(state, "node1")
    assert sorted(health) == [32000, 32001]
    assert (health[32000].status, health[32001].status) == (200, 503)
    assert health[32000].body.decode() == BODY_CURRENT
    assert '"name": "lb-remote"' in health[32001].body.decode()
    node2 = service_health(state, "node2")
    assert (node2[32000].status, node2[32001].status) == (200, 200)
    master = service_health(state, "master")
    assert {a.status for a in master.values()} == {503}


def test_1_18_profile_answers_in_the_old_format():
    health = service_health(two_services("1.18"), "node1")
    assert "serviceProxyHealthy" not in health[32000].body.decode()
    assert health[32000].headers == (("Content-Type", "application/json"),)


def test_local_endpoints_are_ready_ones_counted_per_ip():
    """``LocalReadyEndpoints``: one pod serving two ports counts once; not-ready or terminating ones not at all."""
    svc = lb("multi", 32002, ports=(("http", 80), ("https", 443)))
    state = make_state([svc], {
        ("default", "multi", "http"): (ep("10.244.1.5:8080", "node1"), ep("10.244.1.6:8080", "node1", ready=False),
                                       ep("10.244.1.7:8080", "node1", ready=False, serving=True, terminating=True),
                                       ep("10.244.2.5:8080", "node2")),
        ("default", "multi", "https"): (ep("10.244.1.5:8443", "node1"), ep("10.244.1.8:8443", "node1")),
    })
    assert serviceports.local_ready_endpoints(state, svc, "node1") == 2
    assert service_health(state, "node1")[32002].body.decode().count('"localEndpoints": 2,') == 1
    only_terminating = dataclasses.replace(state, endpoints={
        ("default", "multi", "http"): (ep("10.244.1.7:8080", "node1", ready=False, serving=True, terminating=True),)})
    assert service_health(only_terminating, "node1")[32002].status == 503


@pytest.mark.parametrize("svc", [
    lb("cluster-policy", 32003, etp="Cluster"),  # NeedsHealthCheck: only ETP=Local ...
    lb("nodeport", 32003, type="NodePort"),  # ... LoadBalancers
    lb("headless", 32003, cluster_ip="None"),  # not proxied at all
    lb("no-port", None),
])
def test_only_etp_local_load_balancers_get_a_health_check(svc):
    state = make_state([svc], {("default", svc.name, "http"): (ep("10.244.1.5:8080", "node1"),)})
    assert service_health(state, "node1") == {}


# the agent in a network namespace ------------------------------------------------------------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("iptables-restore") and shutil.which("curl")),
    reason="runs kube-proxy in a network namespace: needs root, ip, iptables-restore and curl")


@pytest.fixture
def scratch_netns():
    name = f"svh-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


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
@needs_root
def test_agent_answers_health_checks_and_follows_resyncs(scratch_netns):
    with tempfile.TemporaryDirectory() as tmp:
        write_state(tmp, two_services(netns=scratch_netns), 1)
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
            assert status == 200 and body == BODY_CURRENT
            assert headers["Content-Type"] == "application/json"
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["X-Load-Balancing-Endpoint-Weight"] == "1"
            assert headers["Content-Length"] == str(len(BODY_CURRENT))
            assert "Server" not in headers
            status, _, body = curl(scratch_netns, 32001)
            assert status == 503 and '"localEndpoints": 0,' in body

            # resync: lb-local's endpoint is no longer ready, lb-remote goes, lb-new comes with a local endpoint
            new = lb("lb-new", 32005, cluster_ip="10.96.50.5")
            state = make_state([lb("lb-local", 32000), new], {
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
@needs_root
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
