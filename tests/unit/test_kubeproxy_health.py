"""kube-proxy's service health server (lab.proxy.health) against kube-proxy's own service health server.

For every LoadBalancer with externalTrafficPolicy: Local, kube-proxy listens on the service's
healthCheckNodePort and answers any GET with 200 while the node has a ready endpoint of the service,
else 503, and a JSON body counting them. The pure answer is tested here; tests/kernel/
test_kubeproxy_health_kernel.py starts the agent in a scratch network namespace and asks it with curl,
before and after a SIGHUP resync.
"""

import dataclasses

import pytest

from factories import HEALTH_BODY, ep, health_lb, health_services, node1_state
from lab.proxy import serviceports
from lab.proxy.health import health_answer, service_health


# the answer -----------------------------------------------------------------------------------

def test_answer_of_recent_releases():
    """Go writes the body from a dedented template: tab indents, no trailing newline."""
    answer = health_answer("default", "lb-local", 1)
    assert answer.status == 200
    assert answer.body.decode() == HEALTH_BODY
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
    state = health_services()
    health = service_health(state, "node1")
    assert sorted(health) == [32000, 32001]
    assert (health[32000].status, health[32001].status) == (200, 503)
    assert health[32000].body.decode() == HEALTH_BODY
    assert '"name": "lb-remote"' in health[32001].body.decode()
    node2 = service_health(state, "node2")
    assert (node2[32000].status, node2[32001].status) == (200, 200)
    master = service_health(state, "master")
    assert {a.status for a in master.values()} == {503}


def test_1_18_profile_answers_in_the_old_format():
    health = service_health(health_services("1.18"), "node1")
    assert "serviceProxyHealthy" not in health[32000].body.decode()
    assert health[32000].headers == (("Content-Type", "application/json"),)


def test_local_endpoints_are_ready_ones_counted_per_ip():
    """``LocalReadyEndpoints``: one pod serving two ports counts once; not-ready or terminating ones not at all."""
    svc = health_lb("multi", 32002, ports=(("http", 80), ("https", 443)))
    state = node1_state([svc], {
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
    health_lb("cluster-policy", 32003, etp="Cluster"),  # NeedsHealthCheck: only ETP=Local ...
    health_lb("nodeport", 32003, type="NodePort"),  # ... LoadBalancers
    health_lb("headless", 32003, cluster_ip="None"),  # not proxied at all
    health_lb("no-port", None),
])
def test_only_etp_local_load_balancers_get_a_health_check(svc):
    state = node1_state([svc], {("default", svc.name, "http"): (ep("10.244.1.5:8080", "node1"),)})
    assert service_health(state, "node1") == {}
