"""Cluster DNS in a real lab, asked with the real nslookup and dig from inside pod namespaces."""

import re
import time

from factories import lab_fixture, run_lab


dns_lab = lab_fixture("dns.yml", "n")


def pods(lab, namespace="default"):
    rows = [line.split() for line in lab.get("pods", "-n", namespace, "-o", "wide").splitlines()[1:]]
    return {r[0]: r[5] for r in rows}  # name -> IP


def cluster_ip(lab, name, namespace="default"):
    return next(line.split()[2] for line in lab.get("svc", "-n", namespace).splitlines() if line.split()[0] == name)


def dig(lab, target, *args):
    return lab.exec(target, "dig", "+time=2", "+tries=1", *args).stdout


def short(lab, target, *args):
    return sorted(dig(lab, target, "+short", *args).split())


def a_pod(lab):
    return sorted(pods(lab))[0]


def test_kube_dns_service_and_pods(dns_lab):
    svc = [line.split() for line in dns_lab.get("svc", "-A").splitlines()]
    assert ["kube-system", "kube-dns", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP,9153/TCP"] in \
        [row[:6] for row in svc]
    coredns = [line.split() for line in dns_lab.get("pods", "-A").splitlines() if line.startswith("kube-system")]
    assert len(coredns) == 2 and all(re.fullmatch(r"coredns-[a-z0-9]+-[a-z0-9]{5}", r[1]) for r in coredns)
    saved = dns_lab.exec("node1", "iptables-save", "-t", "nat").stdout
    assert ('-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" '
            '-m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU') in saved
    assert ('-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" '
            '-m tcp --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4') in saved
    assert re.search(r"-A KUBE-SEP-\w+ -p udp -m comment --comment \"kube-system/kube-dns:dns\" -m udp "
                     r"-j DNAT --to-destination 10\.244\.\d+\.\d+:53", saved)


def test_resolver_config_as_the_kubelet_writes_it(dns_lab):
    conf = dns_lab.exec(a_pod(dns_lab), "cat", "/etc/resolv.conf").stdout
    assert conf == ("search default.svc.cluster.local svc.cluster.local cluster.local\n"
                    "nameserver 10.96.0.10\noptions ndots:5\n")
    assert "nameserver 10.96.0.10" in dns_lab.exec("node1", "cat", "/etc/resolv.conf").stdout
    assert "nameserver 127.0.0.1" in dns_lab.exec("client", "cat", "/etc/resolv.conf").stdout  # outside the cluster
    hosts = dns_lab.exec(a_pod(dns_lab), "cat", "/etc/hosts").stdout
    assert f"{pods(dns_lab)[a_pod(dns_lab)]}\t{a_pod(dns_lab)}" in hosts


def test_nslookup_prints_the_seed_answer(dns_lab):
    out = dns_lab.exec(a_pod(dns_lab), "nslookup", "nodeport-svc").stdout
    assert "Server:\t\t10.96.0.10" in out
    assert "Name:\tnodeport-svc.default.svc.cluster.local" in out
    assert f"Address: {cluster_ip(dns_lab, 'nodeport-svc')}" in out


def test_nodes_resolve_cluster_names(dns_lab):
    out = dns_lab.exec("node2", "nslookup", "kubernetes.default").stdout
    assert "Name:\tkubernetes.default.svc.cluster.local" in out and "Address: 10.96.0.1" in out


def test_a_records_over_udp_and_tcp(dns_lab):
    pod = a_pod(dns_lab)
    cip = cluster_ip(dns_lab, "nodeport-svc")
    assert short(dns_lab, pod, "nodeport-svc.default.svc.cluster.local") == [cip]
    assert short(dns_lab, pod, "+tcp", "nodeport-svc.default.svc.cluster.local") == [cip]
    assert short(dns_lab, pod, "kube-dns.kube-system.svc.cluster.local") == ["10.96.0.10"]
    full = dig(dns_lab, pod, "nodeport-svc.default.svc.cluster.local")
    assert "flags: qr aa rd;" in full and "status: NOERROR" in full
    assert re.search(r"nodeport-svc\.default\.svc\.cluster\.local\.\s+30\s+IN\s+A\s+" + re.escape(cip), full)


def test_headless_service_answers_with_the_ready_pod_ips(dns_lab):
    assert short(dns_lab, a_pod(dns_lab), "myapp-headless.default.svc.cluster.local") == sorted(pods(dns_lab).values())


def test_srv_records_for_named_ports(dns_lab):
    pod = a_pod(dns_lab)
    out = dig(dns_lab, pod, "+noall", "+answer", "+additional", "SRV", "_http._tcp.web.default.svc.cluster.local")
    assert re.search(r"_http\._tcp\.web\.default\.svc\.cluster\.local\.\s+30\s+IN\s+SRV\s+0 100 80 "
                     r"web\.default\.svc\.cluster\.local\.", out)
    assert re.search(r"web\.default\.svc\.cluster\.local\.\s+30\s+IN\s+A\s+" + re.escape(cluster_ip(dns_lab, "web")),
                     out)
    headless = short(dns_lab, pod, "+tcp", "SRV", "_http._tcp.myapp-headless.default.svc.cluster.local")
    expected = sorted(f"{ip.replace('.', '-')}.myapp-headless.default.svc.cluster.local." for ip in pods(dns_lab).values())
    assert [t for t in headless if t.endswith(".")] == expected
    assert short(dns_lab, pod, "SRV", "_dns._udp.kube-dns.kube-system.svc.cluster.local") == \
        sorted(["0", "100", "53", "kube-dns.kube-system.svc.cluster.local."])


def test_ptr_for_service_and_pod_ips(dns_lab):
    pod = a_pod(dns_lab)
    cip = cluster_ip(dns_lab, "nodeport-svc")
    assert short(dns_lab, pod, "-x", cip) == ["nodeport-svc.default.svc.cluster.local."]
    assert short(dns_lab, pod, "+tcp", "-x", "10.96.0.10") == ["kube-dns.kube-system.svc.cluster.local."]
    ip = pods(dns_lab)[pod]
    names = short(dns_lab, pod, "-x", ip)
    dashed = ip.replace(".", "-")
    assert names and all(n.startswith(f"{dashed}.") and n.endswith(".default.svc.cluster.local.") for n in names)


def test_pod_a_records(dns_lab):
    ip = pods(dns_lab)[a_pod(dns_lab)]
    assert short(dns_lab, a_pod(dns_lab), f"{ip.replace('.', '-')}.default.pod.cluster.local") == [ip]


def test_unknown_name_is_nxdomain_with_the_zone_soa(dns_lab):
    out = dig(dns_lab, a_pod(dns_lab), "nosuch.default.svc.cluster.local")
    assert "status: NXDOMAIN" in out
    assert re.search(r"cluster\.local\.\s+30\s+IN\s+SOA\s+ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. "
                     r"\d+ 7200 1800 86400 30", out)
    assert "** server can't find nosuch" in dns_lab.exec(a_pod(dns_lab), "nslookup", "nosuch", check=False).stdout


def test_names_outside_the_cluster_are_refused_promptly(dns_lab):
    started = time.monotonic()
    out = dig(dns_lab, a_pod(dns_lab), "example.com")
    assert "status: REFUSED" in out
    r = dns_lab.exec(a_pod(dns_lab), "nslookup", "example.com", check=False)
    assert "REFUSED" in r.stdout
    assert time.monotonic() - started < 3  # two lookups, each answered at once, never a timeout


def test_curl_reaches_a_service_by_name(dns_lab):
    out = dns_lab.exec(a_pod(dns_lab), "curl", "-s", "-m", "3", "http://nodeport-svc:3000").stdout
    assert out.startswith("You've hit pod-nodeport-")


def test_metrics_port(dns_lab):
    out = dns_lab.exec(a_pod(dns_lab), "curl", "-s", "-m", "3", "http://10.96.0.10:9153/metrics").stdout
    assert "coredns_dns_requests_total" in out


def test_resolution_keeps_working_when_a_dns_pod_is_gone(dns_lab):
    coredns = [line.split()[1] for line in dns_lab.get("pods", "-A").splitlines() if "coredns-" in line]
    out = run_lab("delete", "pod", coredns[0], "-n", "kube-system", "--lab", dns_lab.name).stdout
    assert f'pod "{coredns[0]}" deleted' in out and "replaced by coredns-" in out
    now = [line.split()[1] for line in dns_lab.get("pods", "-A").splitlines() if "coredns-" in line]
    assert coredns[0] not in now and len(now) == 2
    pod = a_pod(dns_lab)
    script = "for i in $(seq 30); do dig +short +time=2 +tries=1 kubernetes.default.svc.cluster.local; done"
    answers = dns_lab.exec(pod, "sh", "-c", script).stdout.split()
    assert answers == ["10.96.0.1"] * 30


def test_answers_follow_endpoints(dns_lab):
    before = pods(dns_lab)
    victim = sorted(before)[-1]
    run_lab("delete", "pod", victim, "--lab", dns_lab.name)
    after = pods(dns_lab)
    assert victim not in after and len(after) == 2
    pod = sorted(after)[0]
    assert short(dns_lab, pod, "myapp-headless.default.svc.cluster.local") == sorted(after.values())
    assert before[victim] not in short(dns_lab, pod, "myapp-headless.default.svc.cluster.local")
    assert short(dns_lab, pod, "-x", before[victim]) == []
