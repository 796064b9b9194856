"""Pods' hostname and subdomain in a real lab (the hostname scenario of tests/factories.py): the real
dig from inside a pod, the pod's /etc/hosts and `hostname`, and `lab get pod -o json`; beside them,
CoreDNS's endpoint names of a normal service and its SOA answer, and a bare pod deleted and applied
again."""

import json
import re
import socket

import pytest

from factories import Lab, hostname_scenario, run_lab, unique_lab_name

ZONE = "svc.cluster.local"


@pytest.fixture(scope="module")
def hn(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostnames")
    lab = Lab(hostname_scenario(folder), unique_lab_name("k"))
    lab.host_hostname = socket.gethostname()
    lab.up()
    try:
        lab.folder = folder
        yield lab
    finally:
        run_lab("down", lab.name, check=False)


def ips(lab):
    return {(p["metadata"]["namespace"], p["metadata"]["name"]): p["status"]["podIP"]
            for p in json.loads(lab.get("pods", "-A", "-o", "json"))["items"]}


def ip(lab, name, namespace="default"):
    return ips(lab)[(namespace, name)]


def dashed(address):
    return address.replace(".", "-")


def dig(lab, *args, source="plain"):
    return lab.exec(source, "dig", "+time=2", "+tries=1", *args).stdout


def short(lab, *args):
    return sorted(dig(lab, "+short", *args).split())


def status(lab, name):
    return re.search(r"status: (\w+)", dig(lab, name)).group(1)


def test_a_pods_own_name_and_the_headless_service(hn):
    alpha, subonly, plain = ip(hn, "alpha-pod"), ip(hn, "subonly"), ip(hn, "plain")
    assert short(hn, f"alpha.sub.default.{ZONE}") == [alpha]
    assert short(hn, f"sub.default.{ZONE}") == sorted([alpha, subonly, plain])
    assert short(hn, "SRV", f"_http._tcp.sub.default.{ZONE}") == sorted(
        ["0"] * 3 + ["33"] * 3 + ["8080"] * 3 + [f"alpha.sub.default.{ZONE}.", f"{dashed(plain)}.sub.default.{ZONE}.",
                                               f"{dashed(subonly)}.sub.default.{ZONE}."])
    assert short(hn, "-x", alpha) == [f"alpha.sub.default.{ZONE}."]
    assert status(hn, f"{dashed(alpha)}.sub.default.{ZONE}") == "NXDOMAIN"  # its name replaces the dashed one


def test_endpoints_without_a_hostname_keep_dashed_names(hn):
    for pod in ("plain", "subonly"):  # subonly has a subdomain and no hostname: no name of its own
        address = ip(hn, pod)
        assert short(hn, f"{dashed(address)}.sub.default.{ZONE}") == [address], pod
        assert short(hn, "-x", address) == [f"{dashed(address)}.sub.default.{ZONE}."], pod
    assert status(hn, f"subonly.sub.default.{ZONE}") == "NXDOMAIN"
    for name in (f"gamma.sub.team.{ZONE}", f"beta.nosuch.default.{ZONE}"):  # no service named like the subdomain
        assert status(hn, name) == "NXDOMAIN", name


def test_endpoint_names_of_a_normal_service(hn):
    address = ip(hn, "lonely")
    name = f"{dashed(address)}.lonely.default.{ZONE}"
    assert short(hn, name) == [address]
    assert short(hn, "+tcp", name) == [address]
    assert short(hn, "-x", address) == [name + "."]
    cluster_ip = json.loads(hn.get("svc", "lonely", "-o", "json"))["spec"]["clusterIP"]
    assert short(hn, f"lonely.default.{ZONE}") == [cluster_ip]


def test_soa_of_the_zone_answers_the_soa_alone(hn):
    out = dig(hn, "SOA", "cluster.local")
    assert "status: NOERROR" in out and "flags: qr aa rd;" in out
    assert "ANSWER: 1, AUTHORITY: 1," in out
    sections = dict(re.findall(r";; (\w+) SECTION:\n(.*?)(?:\n\n|\Z)", out, re.S))
    answer = [line.split() for line in sections["ANSWER"].splitlines()]
    assert [r[:4] for r in answer] == [["cluster.local.", "30", "IN", "SOA"]]
    assert answer[0][4:6] == ["ns.dns.cluster.local.", "hostmaster.cluster.local."]
    assert [line.split() for line in sections["AUTHORITY"].splitlines()] == \
        [["cluster.local.", "30", "IN", "NS", "ns.dns.cluster.local."]]


def test_hosts_file_ends_with_the_kubelets_line(hn):
    for (namespace, pod), line in {
            ("default", "alpha-pod"): "{ip}\talpha.sub.default.svc.cluster.local\talpha\n",
            ("default", "subonly"): "{ip}\tsubonly.sub.default.svc.cluster.local\tsubonly\n",
            ("default", "plain"): "{ip}\tplain\n",
            ("team", "gamma-pod"): "{ip}\tgamma.sub.team.svc.cluster.local\tgamma\n"}.items():
        r = run_lab("exec", pod, "-n", namespace, "--lab", hn.name, "--", "cat", "/etc/hosts")
        assert r.stdout.startswith("# Kubernetes-managed hosts file.\n"), pod
        assert r.stdout.endswith("\n" + line.format(ip=ip(hn, pod, namespace))), (pod, r.stdout)


def test_hostname_of_pods_and_machines(hn):
    for target, expected in (("alpha-pod", "alpha"), ("plain", "plain"), ("subonly", "subonly"),
                             ("node1", f"{hn.name}-node1"), ("master", f"{hn.name}-master")):
        assert hn.exec(target, "hostname").stdout == expected + "\n", target
    gamma = run_lab("exec", "gamma-pod", "-n", "team", "--lab", hn.name, "--", "hostname").stdout
    assert gamma == "gamma\n"
    assert hn.exec("alpha-pod", "hostname", "-f").stdout.strip() == "alpha.sub.default.svc.cluster.local"
    assert socket.gethostname() == hn.host_hostname  # the host's own hostname is untouched


def test_get_pod_shows_hostname_and_subdomain(hn):
    spec = json.loads(hn.get("pod", "alpha-pod", "-o", "json"))["spec"]
    assert (spec["hostname"], spec["subdomain"]) == ("alpha", "sub")
    spec = json.loads(hn.get("pod", "subonly", "-o", "json"))["spec"]
    assert "hostname" not in spec and spec["subdomain"] == "sub"
    spec = json.loads(hn.get("pod", "plain", "-o", "json"))["spec"]
    assert "hostname" not in spec and "subdomain" not in spec


def test_a_bare_pod_deleted_and_applied_again_is_created(hn):
    manifest = str(hn.folder / "phoenix.yml")
    before = ip(hn, "phoenix")
    assert hn.curl("node1", f"http://{before}:8080/") == "You've hit phoenix\n"
    assert 'pod "phoenix" deleted' in run_lab("delete", "pod", "phoenix", "--lab", hn.name).stdout
    assert ("default", "phoenix") not in ips(hn)
    assert hn.curl("node1", f"http://{before}:8080/", timeout=1) is None
    out = run_lab("apply", "-f", manifest, "--lab", hn.name).stdout
    assert "pod/phoenix created" in out and "unchanged" not in out
    again = ip(hn, "phoenix")
    assert hn.curl("node1", f"http://{again}:8080/") == "You've hit phoenix\n"
    assert hn.exec("phoenix", "hostname").stdout == "phoenix\n"
    assert "pod/phoenix unchanged" in run_lab("apply", "-f", manifest, "--lab", hn.name).stdout
