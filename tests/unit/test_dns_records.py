"""The DNS record table (pure): what CoreDNS's kubernetes plugin would answer."""

import os
import textwrap

import pytest

from factories import SCENARIOS, TOPOLOGY
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
