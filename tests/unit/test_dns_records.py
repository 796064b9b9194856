"""The DNS record table (pure): what CoreDNS's kubernetes plugin would answer."""

import os
import textwrap

import pytest

from factories import SCENARIOS, TOPOLOGY, hostname_scenario, scenario_file
from lab.cluster.build import build_cluster
from lab.spec import scenario
from lab.net.dnsrecords import ClusterDNS


@pytest.fixture(scope="module")
def zone():
    return ClusterDNS(build_cluster(scenario.load(os.path.join(SCENARIOS, "dns.yml"))), "10.96.0.10", 42)


def rrs(reply, section="answer"):
    return [(rtype, data) for _, rtype, _, data in getattr(reply, section)]


def test_service_a_and_case_insensitivity(zone):
    reply = zone.resolve("Kube-DNS.kube-system.SVC.cluster.local.", "A")
    assert reply.rcode == "NOERROR" and reply.authoritative and rrs(reply) == [("A", "10.96.0.10")]


def test_existing_name_without_that_type_is_nodata_with_soa(zone):
    reply = zone.resolve("kube-dns.kube-system.svc.cluster.local", "AAAA")
    assert reply.rcode == "NOERROR" and reply.answer == ()
    assert rrs(reply, "authority") == [("SOA", "ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 30")]


def test_empty_non_terminals_exist(zone):
    for name in ("svc.cluster.local", "default.svc.cluster.local", "kube-system.svc.cluster.local",
                 "default.pod.cluster.local"):
        assert zone.resolve(name, "A").rcode == "NOERROR", name
    assert zone.resolve("nosuchns.svc.cluster.local", "A").rcode == "NXDOMAIN"


def test_pod_records_need_an_existing_namespace(zone):
    assert rrs(zone.resolve("1-2-3-4.default.pod.cluster.local", "A")) == [("A", "1.2.3.4")]
    assert zone.resolve("1-2-3-4.nosuchns.pod.cluster.local", "A").rcode == "NXDOMAIN"
    assert zone.resolve("1-2-3.default.pod.cluster.local", "A").rcode == "NXDOMAIN"


def test_zone_apex_and_schema_version(zone):
    soa = zone.resolve("cluster.local", "SOA")  # as CoreDNS: the SOA alone, the zone's NS beside it
    assert [t for t, _ in rrs(soa)] == ["SOA"]
    assert rrs(soa, "authority") == [("NS", "ns.dns.cluster.local.")]
    assert rrs(soa, "additional") == [("A", "10.96.0.10")]
    assert rrs(zone.resolve("dns-version.cluster.local", "TXT")) == [("TXT", '"1.1.0"')]
    assert rrs(zone.resolve("ns.dns.cluster.local", "A")) == [("A", "10.96.0.10")]


def test_reverse_lookups(zone):
    assert rrs(zone.resolve("1.0.96.10.in-addr.arpa", "PTR")) == [("PTR", "kubernetes.default.svc.cluster.local.")]
    assert zone.resolve("99.99.96.10.in-addr.arpa", "PTR").rcode == "NXDOMAIN"  # in the service CIDR
    assert zone.resolve("1.1.168.192.in-addr.arpa", "PTR").rcode == "REFUSED"  # not the cluster's


def test_outside_names_are_refused(zone):
    reply = zone.resolve("example.com.", "A")
    assert reply.rcode == "REFUSED" and not reply.authoritative


def test_external_name_is_a_cname(tmp_path):
    (tmp_path / "s.yml").write_text(textwrap.dedent(f"""\
        topology: {TOPOLOGY}
        manifests:
          - apiVersion: v1
            kind: Service
            metadata: {{name: db}}
            spec: {{type: ExternalName, externalName: db.example.com}}
        """))
    zone = ClusterDNS(build_cluster(scenario.load(str(tmp_path / "s.yml"))), "10.96.0.10", 1)
    assert rrs(zone.resolve("db.default.svc.cluster.local", "A")) == [("CNAME", "db.example.com.")]


def test_srv_weights_share_100(zone):
    reply = zone.resolve("_http._tcp.myapp-headless.default.svc.cluster.local", "SRV")
    weights = [data.split()[1] for _, data in rrs(reply)]
    assert weights == ["50", "50"]
    assert {t for t, _ in rrs(reply, "additional")} == {"A"}


# pods' hostname and subdomain ------------------------------------------------------------------

ZONE = "cluster.local."


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """(cluster, zone, {pod name: IP}) of the hostname scenario (tests/factories.py)."""
    cluster = build_cluster(scenario.load(hostname_scenario(tmp_path_factory.mktemp("hostnames"))))
    return cluster, ClusterDNS(cluster, "10.96.0.10", 7), {p.name: str(p.ip) for p in cluster.pods}


def dashed(ip):
    return ip.replace(".", "-")


def reverse(ip):
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


def test_a_pod_with_hostname_and_subdomain_has_its_own_name(named):
    cluster, zone, ips = named
    alpha = ips["alpha-pod"]
    assert rrs(zone.resolve("alpha.sub.default.svc.cluster.local", "A")) == [("A", alpha)]
    assert zone.resolve(f"{dashed(alpha)}.sub.default.svc.cluster.local", "A").rcode == "NXDOMAIN"  # not both
    assert rrs(zone.resolve(reverse(alpha), "PTR")) == [("PTR", "alpha.sub.default.svc.cluster.local.")]
    # the headless service itself: every ready endpoint, with or without a hostname
    assert sorted(d for _, d in rrs(zone.resolve("sub.default.svc.cluster.local", "A"))) == \
        sorted([alpha, ips["subonly"], ips["plain"]])
    # SRV targets are the endpoints' names (the port's and the bare service's), their A records beside them
    names = sorted(["alpha.sub.default.svc.cluster.local.", f"{dashed(ips['plain'])}.sub.default.svc.cluster.local.",
                    f"{dashed(ips['subonly'])}.sub.default.svc.cluster.local."])
    for qname in ("_http._tcp.sub.default.svc.cluster.local", "sub.default.svc.cluster.local"):
        srv = zone.resolve(qname, "SRV")
        assert sorted(d.split()[3] for _, d in rrs(srv)) == names, qname
        assert {d.split()[2] for _, d in rrs(srv)} == {"8080"}
        assert sorted(d for _, d in rrs(srv, "additional")) == sorted([alpha, ips["subonly"], ips["plain"]])


def test_the_endpoint_hostname_is_spec_hostname_only(named):
    """Kubernetes' EndpointSlice controller sets an endpoint's hostname only for a pod with
    spec.hostname whose spec.subdomain is the service (ShouldSetHostname): a pod with only a
    subdomain keeps the dashed-IP name."""
    cluster, zone, ips = named
    sub = cluster.service("default", "sub")
    assert {e.pod: e.hostname for e in cluster.endpoints_for(sub, sub.ports[0])} == \
        {"alpha-pod": "alpha", "subonly": None, "plain": None}
    for pod in ("subonly", "plain"):
        name = f"{dashed(ips[pod])}.sub.default.svc.cluster.local"
        assert rrs(zone.resolve(name, "A")) == [("A", ips[pod])], pod
        assert rrs(zone.resolve(reverse(ips[pod]), "PTR")) == [("PTR", name + ".")], pod
    assert zone.resolve("subonly.sub.default.svc.cluster.local", "A").rcode == "NXDOMAIN"


def test_a_hostname_needs_the_subdomains_service_in_the_pods_namespace(named):
    _, zone, ips = named
    for name in ("gamma.sub.team.svc.cluster.local", "gamma.sub.default.svc.cluster.local",
                 "beta.nosuch.default.svc.cluster.local", "beta-pod.nosuch.default.svc.cluster.local"):
        assert zone.resolve(name, "A").rcode == "NXDOMAIN", name
    assert rrs(zone.resolve(reverse(ips["gamma-pod"]), "PTR")) == []  # no service's endpoint


def test_endpoint_names_of_a_normal_service(named):
    cluster, zone, ips = named
    lonely = ips["lonely"]
    name = f"{dashed(lonely)}.lonely.default.svc.cluster.local"
    assert rrs(zone.resolve(name, "A")) == [("A", lonely)]
    assert rrs(zone.resolve(reverse(lonely), "PTR")) == [("PTR", name + ".")]
    cip = cluster.service("default", "lonely").cluster_ip
    assert rrs(zone.resolve("lonely.default.svc.cluster.local", "A")) == [("A", cip)]  # the ClusterIP, not the pod
    assert rrs(zone.resolve(reverse(cip), "PTR")) == [("PTR", "lonely.default.svc.cluster.local.")]


def test_soa_of_the_zone_alone_in_the_answer(named):
    _, zone, _ = named
    reply = zone.resolve("cluster.local.", "SOA")
    assert reply.rcode == "NOERROR" and reply.authoritative
    assert [(n, t) for n, t, _, _ in reply.answer] == [(ZONE, "SOA")]
    assert [(n, t, d) for n, t, _, d in reply.authority] == [(ZONE, "NS", "ns.dns.cluster.local.")]
    assert [(n, t, d) for n, t, _, d in reply.additional] == [("ns.dns.cluster.local.", "A", "10.96.0.10")]
    everything = zone.resolve("cluster.local", "ANY")  # ANY: the SOA and the NS, both answers
    assert sorted(t for _, t, _, _ in everything.answer) == ["NS", "SOA"]


def test_a_hand_written_endpoint_hostname_names_it(tmp_path):
    path = scenario_file(tmp_path, """\
        topology: TOPOLOGY
        manifests:
          - apiVersion: v1
            kind: Service
            metadata: {name: db}
            spec: {clusterIP: None, ports: [{name: sql, port: 5432}]}
          - apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: db-1, labels: {kubernetes.io/service-name: db}}
            addressType: IPv4
            ports: [{name: sql, port: 5432}]
            endpoints:
              - {addresses: [10.244.1.50], hostname: db-0}
              - {addresses: [10.244.2.50]}
        """)
    zone = ClusterDNS(build_cluster(scenario.load(path)), "10.96.0.10", 1)
    assert rrs(zone.resolve("db-0.db.default.svc.cluster.local", "A")) == [("A", "10.244.1.50")]
    assert rrs(zone.resolve("10-244-2-50.db.default.svc.cluster.local", "A")) == [("A", "10.244.2.50")]
    assert sorted(d.split()[3] for _, d in rrs(zone.resolve("_sql._tcp.db.default.svc.cluster.local", "SRV"))) == \
        ["10-244-2-50.db.default.svc.cluster.local.", "db-0.db.default.svc.cluster.local."]
