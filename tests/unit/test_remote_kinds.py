"""lab.remote.kinds: an exercise's service: and run: checks judged from a cluster's objects and
an exec's output, and the node tools a probe pod cannot be expected to hold."""

from lab.remote import kinds
from lab.verify import report


def svc(name="web", ports=({"port": 80},), kind=None, cluster_ip="10.96.5.5", ingress=()):
    spec = {"clusterIP": cluster_ip, "ports": list(ports)}
    if kind:
        spec["type"] = kind
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec,
            "status": {"loadBalancer": {"ingress": [{"ip": i} for i in ingress]}}}


def eps(*addresses, ports=({"port": 8080},), not_ready=()):
    return {"subsets": [{"addresses": [{"ip": ip, "nodeName": node} for ip, node in addresses],
                         "notReadyAddresses": [{"ip": ip} for ip in not_ready], "ports": list(ports)}]}


def test_node_tools_are_found_in_a_shell_line_too():
    assert kinds.node_tool(["iptables-save", "-t", "nat"]) == "iptables-save"
    assert kinds.node_tool(["sh", "-c", "iptables-save -t nat | grep -- '-s 10.244.1.10/32'"]) == "iptables-save"
    assert kinds.node_tool(["/usr/sbin/sysctl", "net.ipv4.ip_forward"]) == "sysctl"
    assert kinds.node_tool(["netstat", "-tln"]) == "netstat"
    assert kinds.node_tool(["nslookup", "-timeout=1", "web.default.svc.cluster.local", "10.96.0.10"]) is None
    assert kinds.node_tool(["curl", "-sS", "http://ip.example/"]) is None  # a word containing "ip" is not ip


def test_run_verdicts_are_the_runners():
    assert report.run_verdict(0, "Name: web\nAddress: 10.96.5.5\n", "", "Address: 10.96.5.5", ["nslookup", "web"]) \
        == (True, "'Address: 10.96.5.5' in the output", "Address: 10.96.5.5")
    assert report.run_verdict(1, "", "server can't find web\n", "Address: 1.2.3.4", ["nslookup", "web"]) \
        == (False, "'Address: 1.2.3.4' in the output", "exit code 1: server can't find web")
    assert report.run_verdict(0, "a\nb\n", "", "c", ["x"])[2] == "not in the 2 lines of x"
    assert report.run_verdict(0, "", "", None, ["true"]) == (True, "exit code 0", "exit code 0")
    assert report.run_verdict(None, "", "", None, ["sleep", "9"])[0] is False


def test_service_fields_from_the_objects():
    assert kinds.service_verdict("clusterIP", "10.96.5.5", svc(), None)[0] is True
    assert kinds.service_verdict("clusterIP", "10.96.5.6", svc(), None)[2] == "clusterIP 10.96.5.5"
    assert kinds.service_verdict("type", "ClusterIP", svc(), None)[0] is True  # the API's default
    assert kinds.service_verdict("type", "ClusterIP", svc(kind="NodePort"), None)[:2] == (False, "type ClusterIP")
    assert kinds.service_verdict("externalIP", "assigned", svc(ingress=["192.168.179.240"]), None)[2] \
        == "EXTERNAL-IP 192.168.179.240"
    assert kinds.service_verdict("externalIP", "assigned", svc(), None)[:1] == (False,)
    assert kinds.service_verdict("externalIP", "pending", svc(), None)[0] is True
    assert kinds.service_verdict("endpoints", 2, None, None) == (False, "service", "no such service")


def test_endpoints_count_the_first_ports_ready_addresses():
    two = eps(("10.244.1.2", "n1"), ("10.244.2.2", "n2"), not_ready=["10.244.1.3"])
    assert kinds.service_verdict("endpoints", 2, svc(), two) == (True, "2 ready endpoints", "2 ready endpoints")
    assert kinds.service_verdict("endpoints", 3, svc(), two)[0] is False
    assert kinds.ready_endpoints(svc(), two) == [("10.244.1.2", 8080, "n1"), ("10.244.2.2", 8080, "n2")]
    named = svc(ports=({"name": "http", "port": 80}, {"name": "metrics", "port": 9100}))
    both = eps(("10.244.1.2", "n1"), ports=({"name": "metrics", "port": 9100}, {"name": "http", "port": 8080}))
    assert kinds.ready_endpoints(named, both) == [("10.244.1.2", 8080, "n1")]
    assert kinds.service_verdict("endpoints", 0, svc(), None)[0] is True


def test_answering_needs_every_endpoint():
    assert kinds.answering_verdict([("10.244.1.2:8080", "reached")]) == (True, "every endpoint answers", "1 of 1 answer")
    assert kinds.answering_verdict([("a:1", "reached"), ("b:1", "timeout")])[1:] \
        == ("every endpoint answers", "1 of 2 answer; b:1: timeout")
    assert kinds.answering_verdict([])[0] is False
