"""The desired state: names, scheduling, addresses, ports and endpoints, decided deterministically."""

import ipaddress
import os
import re
import textwrap

import pytest

from factories import SCENARIOS, TOPOLOGY
from lab.cluster.build import build_cluster
from lab.cluster import ipam, naming
from lab.spec import scenario


def build(tmp_path, manifests, extra="cluster: {dns: false}\n"):
    files = []
    for i, text in enumerate(manifests):
        (tmp_path / f"m{i}.yml").write_text(textwrap.dedent(text))
        files.append(f"m{i}.yml")
    path = tmp_path / "s.yml"
    path.write_text(f"topology: {TOPOLOGY}\nmanifests: [{', '.join(files)}]\n{extra}")
    return build_cluster(scenario.load(str(path)))


def deployment(name="web", replicas=3, ports="[{containerPort: 8080, name: http}]", labels="{app: web}"):
    return f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: {name}}}
        spec:
          replicas: {replicas}
          selector: {{matchLabels: {labels}}}
          template:
            metadata: {{labels: {labels}}}
            spec:
              containers: [{{name: c, image: luksa/kubia, ports: {ports}}}]
        """


def service(name="web", spec="type: NodePort\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]"):
    return f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  {spec}\n"


def test_pod_names_look_like_kubernetes_names(tmp_path):
    state = build(tmp_path, [deployment()])
    names = [p.name for p in state.pods]
    alphabet = naming.ALPHANUMS
    for name in names:
        m = re.fullmatch(rf"web-([{alphabet}]+)-([{alphabet}]{{5}})", name)
        assert m, name
        assert len(m.group(1)) <= 10 and set(m.group(1)) <= set("456789bcdf")  # SafeEncodeString of digits
    assert len(set(names)) == 3
    assert {p.owner for p in state.pods} == {f"web-{state.pods[0].template_hash}"}
    assert dict(state.pods[0].labels)["pod-template-hash"] == state.pods[0].template_hash


def test_the_same_scenario_gives_the_same_lab(tmp_path):
    a = build(tmp_path, [deployment(), service()])
    b = build(tmp_path, [deployment(), service()])
    assert a == b


def test_template_change_changes_the_hash(tmp_path):
    a = build(tmp_path, [deployment()]).pods[0].template_hash
    b = build(tmp_path, [deployment(ports="[{containerPort: 9090, name: http}]")]).pods[0].template_hash
    assert a != b


def test_pods_spread_over_nodes_and_get_sequential_ips(tmp_path):
    state = build(tmp_path, [deployment(replicas=6)])
    per_node = {}
    for p in state.pods:
        per_node.setdefault(p.node, []).append(p)
    assert sorted(len(v) for v in per_node.values()) == [2, 2, 2]
    for node_name, pods in per_node.items():
        node = state.node(node_name)
        assert sorted(p.ip for p in pods) == [node.pod_cidr.network_address + 2, node.pod_cidr.network_address + 3]


def test_named_target_port_resolves_per_pod(tmp_path):
    state = build(tmp_path, [deployment(), service()])
    svc = state.service("default", "web")
    eps = state.endpoints_for(svc, svc.ports[0])
    assert len(eps) == 3 and {e.port for e in eps} == {8080}
    assert [e.address for e in eps] == sorted(e.address for e in eps)


def test_named_target_port_missing_on_pod_gives_no_endpoint(tmp_path):
    state = build(tmp_path, [deployment(ports="[{containerPort: 8080}]"), service()])
    svc = state.service("default", "web")
    assert state.endpoints_for(svc, svc.ports[0]) == ()


def test_cluster_ip_and_node_port_allocation(tmp_path):
    state = build(tmp_path, [deployment(), service()])
    kube = state.service("default", "kubernetes")
    assert kube.cluster_ip == "10.96.0.1" and kube.ports[0].port == 443
    svc = state.service("default", "web")
    ip = ipaddress.ip_address(svc.cluster_ip)
    assert ip in state.service_cidr and int(ip) - int(state.service_cidr.network_address) > 256  # upper band
    assert 30086 <= svc.ports[0].node_port <= 32767


def test_endpoints_sort_as_strings_like_kube_proxy():
    e = [ipaddress.ip_address("10.0.0.10"), ipaddress.ip_address("10.0.0.9")]
    assert sorted(f"{ip}:80" for ip in e) == ["10.0.0.10:80", "10.0.0.9:80"]


def test_allocators():
    pool = ipam.PodAddressPool(ipaddress.ip_network("10.244.1.0/29"))
    assert [str(pool.allocate()) for _ in range(5)] == [f"10.244.1.{i}" for i in range(2, 7)]
    with pytest.raises(ipam.AllocationError):
        pool.allocate()
    ports = ipam.NodePortAllocator(30000, 32767)
    ports.reserve(30090)
    with pytest.raises(ipam.AllocationError, match="already allocated"):
        ports.reserve(30090)
    with pytest.raises(ipam.AllocationError, match="provided port is not in the valid range"):
        ports.reserve(40000)
    small = ipam.NodePortAllocator(30000, 30003)
    got = {small.allocate(str(i)) for i in range(4)}
    assert got == {30000, 30001, 30002, 30003}
    with pytest.raises(ipam.AllocationError, match="full"):
        small.allocate("x")
    cips = ipam.ClusterIPAllocator(ipaddress.ip_network("10.96.0.0/12"))
    cips.reserve("10.96.0.1")
    with pytest.raises(ipam.AllocationError, match="provided IP is not in the valid range"):
        cips.reserve("10.112.0.1")


def test_seed_pins_reproduce_the_seed():
    state = build_cluster(scenario.load(os.path.join(SCENARIOS, "seed.yml")))
    assert [(p.name, p.node, str(p.ip)) for p in state.pods if p.namespace == "default"] == [
        ("pod-nodeport-6cc49c7999-5fjdh", "node2", "10.244.2.14"),
        ("pod-nodeport-6cc49c7999-gdqbg", "master", "10.244.0.23")]
    assert state.service("default", "nodeport-svc").cluster_ip == "10.105.182.209"
    assert state.node("master").hostname == "k8s-master"


def test_safe_encode_matches_kubernetes():
    # rand.SafeEncodeString maps each byte onto "bcdfghjklmnpqrstvwxz2456789" by value mod 27
    assert naming.safe_encode("2770573555") == "6cc49c7999"  # the seed's pod-template-hash


def test_cluster_dns_addon(tmp_path):
    state = build(tmp_path, [deployment(replicas=1)], extra="")
    dns = state.service("kube-system", "kube-dns")
    assert dns.cluster_ip == "10.96.0.10"
    assert [(p.name, p.protocol, p.port) for p in dns.ports] == [
        ("dns", "UDP", 53), ("dns-tcp", "TCP", 53), ("metrics", "TCP", 9153)]
    coredns = [p for p in state.pods if p.namespace == "kube-system"]
    assert len(coredns) == 2 and {p.app for p in coredns} == {"coredns"}
    assert len({p.node for p in coredns}) == 2  # replicas of one owner spread over nodes
    assert all(p.name.startswith("coredns-") for p in coredns)
    assert {e.pod for e in state.endpoints_for(dns, dns.ports[0])} == {p.name for p in coredns}


def test_builtin_dns_objects_cannot_be_redefined(tmp_path):
    from lab.errors import InputError
    with pytest.raises(InputError, match="built-in cluster DNS.*cluster.dns: false"):
        build(tmp_path, [service(name="kube-dns").replace("metadata: {name: kube-dns}",
                                                          "metadata: {name: kube-dns, namespace: kube-system}")],
              extra="")


COREFILE_WITH_LOG = """\
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: coredns, namespace: kube-system}
    data:
      Corefile: |
        .:53 {
            errors
            log
            kubernetes cluster.local in-addr.arpa ip6.arpa {
               pods insecure
            }
        }
    """


def test_corefile_is_kubeadms_and_queries_are_logged_only_with_the_log_plugin(tmp_path):
    from lab.cluster import addons
    built_in = addons.corefile("cluster.local", "1.18")
    assert "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n" in built_in and not addons.logs_queries(built_in)
    assert addons.logs_queries(built_in.replace("    errors\n", "    errors\n    log\n"))
    assert not addons.logs_queries(".:53 {\n    kubernetes cluster.local {\n       log\n    }\n}\n")  # not a plugin there
    assert not addons.logs_queries(".:53 {\n    # log\n    errors\n}\n")
    assert not build(tmp_path, [], extra="").dns_query_log


def test_a_users_coredns_configmap_stands_in_for_the_built_in_one(tmp_path):
    state = build(tmp_path, [COREFILE_WITH_LOG], extra="")
    assert state.dns_query_log
    assert sum(p.namespace == "kube-system" for p in state.pods) == 2  # the rest of the addon stays
