"""The files the kubelet writes into a pod (lab.net.etcfiles), pure: the hosts file's own line with
the pod's hostname and, with a subdomain, its fully qualified name."""

import dataclasses

import pytest

from factories import hostname_scenario
from lab.cluster.build import build_cluster
from lab.net import etcfiles
from lab.spec import scenario


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    return build_cluster(scenario.load(hostname_scenario(tmp_path_factory.mktemp("hostnames"))))


def pod(cluster, name):
    return next(p for p in cluster.pods if p.name == name)


def test_the_kubelets_hosts_line(cluster):
    ip = {p.name: str(p.ip) for p in cluster.pods}
    expected = {
        "alpha-pod": f"{ip['alpha-pod']}\talpha.sub.default.svc.cluster.local\talpha\n",
        "subonly": f"{ip['subonly']}\tsubonly.sub.default.svc.cluster.local\tsubonly\n",  # its name as hostname
        "plain": f"{ip['plain']}\tplain\n",
        "gamma-pod": f"{ip['gamma-pod']}\tgamma.sub.team.svc.cluster.local\tgamma\n",  # its own namespace
        "beta-pod": f"{ip['beta-pod']}\tbeta.nosuch.default.svc.cluster.local\tbeta\n",  # no such service: still
    }
    files = etcfiles.files(cluster)
    for name, line in expected.items():
        p = pod(cluster, name)
        assert etcfiles.hosts_line(p, cluster.domain) == line, name
        hosts = files[p.netns]["hosts"]
        assert hosts == etcfiles.HOSTS_HEADER + line, name
        assert hosts.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"), name
    assert etcfiles.hosts_line(pod(cluster, "alpha-pod"), "example.internal").split("\t")[1] == \
        "alpha.sub.default.svc.example.internal"


def test_hostnames_and_names(cluster):
    assert [(pod(cluster, n).host_name, pod(cluster, n).fqdn("cluster.local")) for n in ("alpha-pod", "plain")] == \
        [("alpha", "alpha.sub.default.svc.cluster.local"), ("plain", None)]
    # the kubelet's hostname is at most 63 characters, without a trailing '-' or '.'
    long = dataclasses.replace(pod(cluster, "plain"), name="a" * 62 + "-bcdef")
    assert long.host_name == "a" * 62
    assert etcfiles.hosts_line(long, "cluster.local") == f"{long.ip}\t{'a' * 62}\n"


def test_the_resolver_is_the_pods_namespaces(cluster):
    files = etcfiles.files(cluster)
    assert files[pod(cluster, "gamma-pod").netns]["resolv.conf"] == (
        "search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n")
    node = cluster.node("node1")
    assert "hosts" not in files[node.netns]  # a node keeps its own /etc/hosts
