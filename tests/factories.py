"""Shared test factories, for every folder of the suite (tests/unit, tests/kernel, tests/labs).

Test modules import from here (``from factories import ...``; tests/conftest.py at the top of tests/
puts this folder on sys.path) and never from each other or from a conftest. Only what two or more
modules share lives here; a helper that one module uses stays in that module.
"""

import dataclasses
import http.client
import ipaddress
import itertools
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from lab.cluster.build import build_cluster
from lab.cluster.model import ClusterState, Endpoint, Host, Node, Service, ServicePort
from lab.kernel.record import ROOT as STATE_DIR
from lab.proxy import nftables
from lab.spec import scenario
from lab.spec.scenario import KubeProxyConfig
from lab.tools import doctor


# paths ------------------------------------------------------------------------------------------

TESTS = Path(__file__).resolve().parent
ROOT = str(TESTS.parent)
SCENARIOS = os.path.join(ROOT, "scenarios")
TOPOLOGY = os.path.join(ROOT, "topologies", "three-node.yml")  # the seed's three nodes and client
SEED_SCENARIO = os.path.join(SCENARIOS, "seed.yml")
SEED_FILES = [os.path.join(SCENARIOS, "seed", f) for f in ("pod-nodeport.yml", "service.yml")]
# golden files: the renderers' whole output for a few states (SVCLAB_UPDATE_GOLDEN=1 rewrites them)
GOLDEN_DIR = TESTS / "golden"
UPDATE_GOLDEN = os.environ.get("SVCLAB_UPDATE_GOLDEN") == "1"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# skips ------------------------------------------------------------------------------------------

def skip_unless_root(items, folder, reason):
    """pytest_collection_modifyitems for a folder's conftest: skip the folder's items (only
    those) with ``reason`` when not root. A skip marker, so no fixture (a lab's up) runs first."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason=reason)
    folder = Path(folder).resolve()
    for item in items:
        if Path(item.path).resolve().is_relative_to(folder):
            item.add_marker(skip)


def needs_tools(*tools, why):
    """Skip (with the reason) unless every one of ``tools`` is on PATH."""
    missing = [t for t in tools if shutil.which(t) is None]
    return pytest.mark.skipif(bool(missing), reason=f"{why}: needs {', '.join(tools)} "
                              f"({', '.join(missing) or 'none'} not found)")


# the command line and whole labs -----------------------------------------------------------------

_counter = itertools.count()


def unique_lab_name(tag="t"):
    """A lab name no other test (or user lab) uses: tag, pid and a counter, at most 12 characters."""
    return f"{tag}{os.getpid() % 100000}{next(_counter)}"[:12]


def run_lab(*args, check=True, timeout=60, input=None, env=None):
    """``python -m lab ARGS`` as a user would type it (``env``: variables to add, such as
    ``SVCLAB_LAB``); returns the CompletedProcess."""
    result = subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=timeout, input=input, env=dict(os.environ, **env) if env else None)
    if check and result.returncode != 0:
        raise AssertionError(f"lab {' '.join(args)} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def netns_list():
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


def netns_of(prefix):
    """The namespaces named ``prefix``-something: a lab's (lab names hold no '-'), or a tool's
    scratch ones. Other labs come and go while a test runs, so tests look only at their own."""
    return {n for n in netns_list() if n.startswith(f"{prefix}-")}


def assert_refused(result, *words):
    """Exit code 2 and exactly one line on stderr, ``error: ...`` (saying each of ``words``), no traceback."""
    err = result.stderr
    assert result.returncode == 2, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{err}"
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)


def _mount_points(under):
    with open("/proc/self/mountinfo") as f:
        return sorted(p for p in (line.split()[4] for line in f) if p.startswith(under))


def leftovers(name):
    """What of lab ``name`` exists: namespaces, its run directory, /etc/netns entries, UTS mounts."""
    etc = os.listdir("/etc/netns") if os.path.isdir("/etc/netns") else []
    return {"netns": sorted(n for n in netns_list() if n.startswith(name + "-")),
            "run": os.path.exists(os.path.join(STATE_DIR, name)),
            "etc": sorted(d for d in etc if d.startswith(name + "-")),
            "mounts": _mount_points(os.path.join(STATE_DIR, name) + "/")}


NOTHING_LEFT = {"netns": [], "run": False, "etc": [], "mounts": []}


def lab_traces(name):
    """Everything of lab ``name`` another lab's verbs must leave alone: its namespaces and the
    processes in each (``ip netns pids``), its record (every regular file of /run/svclab/<name>
    but the daemons' logs, by content), its /etc/netns files and its UTS mounts."""
    prefix = name + "-"
    names = sorted(n for n in netns_list() if n.startswith(prefix))
    pids = {n: sorted(subprocess.run(["ip", "netns", "pids", n], capture_output=True, text=True).stdout.split())
            for n in names}
    files = {}
    run_dir = os.path.join(STATE_DIR, name)
    for folder, _, entries in os.walk(run_dir):
        for entry in entries:
            path = os.path.join(folder, entry)
            if os.path.isfile(path) and not os.path.islink(path) and not entry.endswith(".log") \
                    and not folder.endswith("/uts"):
                with open(path, "rb") as f:
                    files[os.path.relpath(path, run_dir)] = f.read()
    etc = {}
    for entry in sorted(os.listdir("/etc/netns") if os.path.isdir("/etc/netns") else []):
        if entry.startswith(prefix):
            folder = os.path.join("/etc/netns", entry)
            etc[entry] = {f: open(os.path.join(folder, f)).read() for f in sorted(os.listdir(folder))}
    return {"netns": names, "pids": pids, "record": files, "etc": etc, "mounts": _mount_points(run_dir + "/")}


class Lab:
    """A lab brought up for a test module, and helpers to look inside it."""

    def __init__(self, scenario, name):
        self.scenario, self.name = scenario, name

    def up(self):
        return run_lab("up", self.scenario, "--name", self.name)

    def down(self):
        return run_lab("down", self.name)

    def lab(self, *args, **kw):
        return run_lab(*args, **kw)

    def get(self, *args):
        return run_lab("get", *args, "--lab", self.name).stdout

    def exec(self, target, *cmd, check=True, timeout=30):
        return run_lab("exec", target, "--lab", self.name, "--", *cmd, check=check, timeout=timeout)

    def curl(self, target, url, timeout=3):
        """The body curl prints, or None when curl fails (refused, timed out)."""
        r = self.exec(target, "curl", "-s", "-m", str(timeout), url, check=False, timeout=timeout + 10)
        return r.stdout if r.returncode == 0 else None

    @property
    def kubeconfig(self):
        """The admin kubeconfig's path, as ``lab kubeconfig`` prints it."""
        return run_lab("kubeconfig", "--lab", self.name).stdout.strip()

    def api_client(self):
        """A ``kubernetes.client.ApiClient`` (the official Python client) for the lab's API."""
        from lab.api import client
        return client.api_client(self.kubeconfig)

    def netns(self, suffix):
        return f"{self.name}-{suffix}"

    def ip_netns_exec(self, suffix, *cmd):
        return subprocess.run(["ip", "netns", "exec", self.netns(suffix), *cmd], capture_output=True, text=True,
                              timeout=30)


def lab_fixture(scenario_file, tag):
    """A module-scoped fixture: ``scenarios/<scenario_file>`` up under a unique name, down after.
    For tests/labs, whose conftest skips every test there when not root."""
    @pytest.fixture(scope="module")
    def fixture():
        lab = Lab(os.path.join(SCENARIOS, scenario_file), unique_lab_name(tag))
        lab.up()
        try:
            yield lab
        finally:
            run_lab("down", lab.name, check=False)
    return fixture


# a lab's Kubernetes API, over HTTPS with the lab's admin certificate ----------------------------------

class ApiClient:
    """Requests to lab ``name``'s API server on its loopback port (the admin.conf one), with the
    lab's CA and admin client certificate (``cert=False``: none, as an anonymous client)."""

    def __init__(self, name, cert=True):
        base = f"/run/svclab/{name}"
        with open(f"{base}/api.json") as f:
            self.port = json.load(f)["port"]
        self.context = ssl.create_default_context(cafile=f"{base}/pki/ca.crt")
        if cert:
            self.context.load_cert_chain(f"{base}/pki/admin.crt", f"{base}/pki/admin.key")
        self.name, self.store_file = name, f"{base}/objects.json"

    def request(self, method, path, body=None, content_type="application/json", headers=None, timeout=20):
        """(status, headers, body as JSON if it is JSON, else bytes) of one request."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=timeout)
        try:
            sent = dict(headers or {})
            if body is not None and not isinstance(body, bytes):
                body = json.dumps(body).encode()
            if body is not None and content_type:
                sent["Content-Type"] = content_type
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
            if response.getheader("Content-Type", "").startswith("application/json"):
                data = json.loads(data)
            return response.status, response.headers, data
        finally:
            conn.close()

    def tls_socket(self, timeout=10):
        """A raw TLS connection to the API server, for what http.client will not send."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return self.context.wrap_socket(raw, server_hostname="127.0.0.1")

    def resource_version(self):
        """The store's resourceVersion, as the lab published it (read from the store's file)."""
        with open(self.store_file) as f:
            return json.load(f)["resourceVersion"]


def api_server_pid(name):
    with open(f"/run/svclab/{name}/state.json") as f:
        return json.load(f)["pids"]["kube-apiserver/master"]


def process_memory(pid):
    """(VmRSS, VmHWM) of a process, in kB."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def process_threads(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("Threads:")).split()[1])


def node_rules(lab, nodes=("master", "node1", "node2")):
    """Every node's iptables-save, without its counters and timestamps (what traffic changes)."""
    out = {}
    for node in nodes:
        text = subprocess.run(["ip", "netns", "exec", f"{lab}-{node}", "iptables-save"], capture_output=True,
                              text=True, timeout=30, check=True).stdout
        out[node] = [re.sub(r"\[\d+:\d+\]", "", line) for line in text.splitlines() if not line.startswith("#")]
    return out


# the seed lab's facts (scenarios/seed.yml pins them) ------------------------------------------------

SEED_CLIENT = "192.168.179.200"
SEED_NODE_IPS = {"master": "192.168.179.99", "node1": "192.168.179.100", "node2": "192.168.179.101"}
SEED_POD_MASTER, SEED_POD_NODE2 = "pod-nodeport-6cc49c7999-gdqbg", "pod-nodeport-6cc49c7999-5fjdh"
SEED_PODS = {SEED_POD_MASTER: ("10.244.0.23", "master"), SEED_POD_NODE2: ("10.244.2.14", "node2")}
SEED_CLUSTER_IP = "10.105.182.209"


def scenario_state(name, lab=None):
    """The cluster state lab.cluster builds from ``scenarios/<name>`` (under lab name ``lab`` if given)."""
    return build_cluster(scenario.load(os.path.join(SCENARIOS, name), lab))


# cluster states for the renderers: the seed's three-node topology, services and endpoints by hand --

NODES = (("master", "192.168.179.99", "10.244.0.0/24"),
         ("node1", "192.168.179.100", "10.244.1.0/24"),
         ("node2", "192.168.179.101", "10.244.2.0/24"))


def make_state(services, endpoints=None, profile="current", **kube_proxy):
    """The seed's three-node topology, with these services and endpoints."""
    nodes = tuple(Node(n, f"k8s-{n}", ipaddress.ip_address(ip), ipaddress.ip_network(cidr), f"k8s-{n}")
                  for n, ip, cidr in NODES)
    return ClusterState(
        lab="k8s", lan_cidr=ipaddress.ip_network("192.168.179.0/24"), gateway=ipaddress.ip_address("192.168.179.1"),
        nodes=nodes, hosts=(Host("client", ipaddress.ip_address("192.168.179.200"), "k8s-client"),),
        service_cidr=ipaddress.ip_network("10.96.0.0/12"), cluster_cidr=ipaddress.ip_network("10.244.0.0/16"),
        domain="cluster.local", kube_proxy=KubeProxyConfig(profile=profile, **kube_proxy), pods=(),
        services=tuple(services), endpoints=dict(endpoints or {}))


def port(number, target=None, name="", protocol="TCP", node_port=None):
    return ServicePort(name, protocol, number, number if target is None else target, node_port)


def service(name, cluster_ip, *ports, namespace="default", type=None, **fields):
    if type is None:
        type = "NodePort" if any(p.node_port for p in ports) else "ClusterIP"
    return Service(namespace, name, type, tuple(ports), cluster_ip, **fields)


def ep(address, node, **conditions):
    ip, number = address.rsplit(":", 1)
    return Endpoint(ipaddress.ip_address(ip), int(number), node, pod=None, **conditions)


def eps(svc, *endpoints, port_name=""):
    """One entry of ClusterState.endpoints."""
    return (svc.namespace, svc.name, port_name), tuple(endpoints)


def kubernetes_service():
    svc = service("kubernetes", "10.96.0.1", port(443, 6443, name="https"))
    return svc, eps(svc, ep("192.168.179.99:6443", "master"), port_name="https")


def seed_state(profile):
    """scenarios/seed.yml as lab.cluster builds it: the blog post's NodePort service on 3000/30090."""
    api, api_eps = kubernetes_service()
    svc = service("nodeport-svc", "10.105.182.209", port(3000, 8080, node_port=30090), selector=(("app", "myapp"),))
    return make_state([api, svc], dict([api_eps, eps(svc, ep("10.244.0.23:8080", "master"),
                                                     ep("10.244.2.14:8080", "node2"))]), profile)


def features_state(profile):
    """One service per feature the renderer handles."""
    api, api_eps = kubernetes_service()
    web = service("web", "10.96.10.10", port(80, 8080, name="http", node_port=30080))
    local_np = service("local-np", "10.96.10.11", port(80, 8080, node_port=30081), external_traffic_policy="Local")
    itp = service("itp-local", "10.96.10.12", port(80, 8080), internal_traffic_policy="Local")
    sticky = service("sticky", "10.96.10.13", port(80, 8080), session_affinity="ClientIP", affinity_timeout=600)
    empty = service("empty", "10.96.10.14", port(80, 8080, node_port=30082))
    dns = service("kube-dns", "10.96.0.10", port(53, 53, name="dns", protocol="UDP"), port(53, 53, name="dns-tcp"),
                  port(9153, 9153, name="metrics"), namespace="kube-system")
    ext = service("ext-ip", "10.96.10.15", port(8080), external_ips=("192.168.179.250",))
    headless = service("headless", "None", port(80, 8080))
    external_name = service("ext-name", None, type="ExternalName", external_name="example.com")
    # LoadBalancers (named to sort after local-np: tests read the first KUBE-NODEPORTS rules)
    vip_cluster = service("vip-cluster", "10.96.10.20", port(80, 8080, node_port=30083), type="LoadBalancer",
                          lb_ips=("192.168.179.240",))
    vip_local = service("vip-local", "10.96.10.21", port(80, 8080, name="http", node_port=30084), type="LoadBalancer",
                        lb_ips=("192.168.179.241",), external_traffic_policy="Local", health_check_node_port=30085)
    vip_ranges = service("vip-ranges", "10.96.10.22", port(80, 8080, node_port=30086), type="LoadBalancer",
                         lb_ips=("192.168.179.242",), lb_source_ranges=("203.0.113.0/25", " 192.168.179.0/24"))
    vip_empty = service("vip-empty", "10.96.10.23", port(80, 8080, node_port=30087), type="LoadBalancer",
                        lb_ips=("192.168.179.243",), external_traffic_policy="Local", health_check_node_port=30088)
    coredns = (ep("10.244.0.2:53", "master"), ep("10.244.1.2:53", "node1"))
    endpoints = dict([
        api_eps,
        eps(web, ep("10.244.1.10:8080", "node1"), ep("10.244.2.10:8080", "node2"), port_name="http"),
        eps(local_np, ep("10.244.0.11:8080", "master"), ep("10.244.1.11:8080", "node1")),
        eps(itp, ep("10.244.0.12:8080", "master"), ep("10.244.1.12:8080", "node1")),
        eps(sticky, ep("10.244.1.13:8080", "node1"), ep("10.244.2.13:8080", "node2")),
        eps(empty),
        eps(dns, *coredns, port_name="dns"),
        eps(dns, *coredns, port_name="dns-tcp"),
        eps(dns, ep("10.244.0.2:9153", "master"), ep("10.244.1.2:9153", "node1"), port_name="metrics"),
        eps(ext, ep("10.244.2.15:8080", "node2")),
        eps(headless, ep("10.244.1.16:8080", "node1")),
        eps(vip_cluster, ep("10.244.1.20:8080", "node1"), ep("10.244.2.20:8080", "node2")),
        eps(vip_local, ep("10.244.1.21:8080", "node1"), port_name="http"),
        eps(vip_ranges, ep("10.244.2.22:8080", "node2")),
        eps(vip_empty),
    ])
    services = [api, web, local_np, itp, sticky, empty, dns, ext, headless, external_name,
                vip_cluster, vip_local, vip_ranges, vip_empty]
    return make_state(services, endpoints, profile)


def example_a_state(profile="current"):
    """A real dump's default/nodeport-svc, unnamed 80->8080, nodePort 30090, two remote endpoints."""
    svc = service("nodeport-svc", "10.96.143.17", port(80, 8080, node_port=30090))
    return make_state([svc], dict([eps(svc, ep("10.244.1.5:8080", "node1"), ep("10.244.2.7:8080", "node2"))]),
                      profile)


def example_b_state():
    """A real dump's lb-local is a LoadBalancer (ingress 203.0.113.50, nodePort 31080, ETP=Local, HCNP 32000)."""
    both = (ep("10.244.1.5:8080", "node1"), ep("10.244.2.7:8080", "node2"))
    lb_local = service("lb-local", "10.96.200.10", port(80, 8080, name="http", node_port=31080), type="LoadBalancer",
                       lb_ips=("203.0.113.50",), external_traffic_policy="Local", health_check_node_port=32000)
    itp = service("itp-local", "10.96.200.11", port(80, 8080), internal_traffic_policy="Local")
    sticky = service("sticky", "10.96.200.12", port(80, 8080), session_affinity="ClientIP", affinity_timeout=10800)
    empty = service("empty", "10.96.200.13", port(80, 8080, node_port=31081))
    endpoints = dict([eps(lb_local, *both, port_name="http"), eps(itp, *both), eps(sticky, *both), eps(empty)])
    return make_state([lb_local, itp, sticky, empty], endpoints)


def spread_state(n, profile="current"):
    svc = service("spread", "10.96.20.20", port(80))
    endpoints = [ep(f"10.244.{i % 3}.{100 + i}:80", NODES[i % 3][0]) for i in range(n)]
    return make_state([svc], dict([eps(svc, *endpoints)]), profile)


def lb_state(profile="current", lb_ips=("192.168.179.240",), ranges=(), etp="Cluster", endpoints=None, **fields):
    svc = service("lb", "10.96.40.1", port(80, 8080, node_port=30400), type="LoadBalancer", lb_ips=lb_ips,
                  lb_source_ranges=ranges, external_traffic_policy=etp, **fields)
    if endpoints is None:
        endpoints = (ep("10.244.1.40:8080", "node1"), ep("10.244.2.40:8080", "node2"))
    return make_state([svc], dict([eps(svc, *endpoints)]), profile)


def fixture_state():
    """The fixture's services on a node "test-node" (192.168.0.2): pods in 10.0.0.0/8, ClusterIPs in 172.30.0.0/16."""
    p80 = dict(name="p80")
    svc1 = service("svc1", "172.30.0.41", port(80, **p80), namespace="ns1")
    svc2 = service("svc2", "172.30.0.42", port(80, node_port=3001, **p80), namespace="ns2", type="LoadBalancer",
                   external_traffic_policy="Local", lb_ips=("1.2.3.4",), external_ips=("192.168.99.22",),
                   health_check_node_port=30000)
    svc3 = service("svc3", "172.30.0.43", port(80, node_port=3003, **p80), namespace="ns3")
    svc4 = service("svc4", "172.30.0.44", port(80, **p80), namespace="ns4", type="NodePort",
                   external_ips=("192.168.99.33",))
    svc5 = service("svc5", "172.30.0.45", port(80, node_port=3002, **p80), namespace="ns5", type="LoadBalancer",
                   lb_ips=("5.6.7.8",), health_check_node_port=30000, lb_source_ranges=(" 203.0.113.0/25",),
                   session_affinity="ClientIP", affinity_timeout=10800)
    svc6 = service("svc6", "172.30.0.46", port(80, **p80), namespace="ns6")
    endpoints = dict([
        eps(svc1, ep("10.180.0.1:80", None), port_name="p80"),
        eps(svc2, ep("10.180.0.2:80", None), port_name="p80"),  # not on this node: ignored for Local
        eps(svc3, ep("10.180.0.3:80", None), port_name="p80"),
        eps(svc4, ep("10.180.0.4:80", None), ep("10.180.0.5:80", "test-node"), port_name="p80"),
        eps(svc5, ep("10.180.0.3:80", None), port_name="p80"),
    ])
    state = make_state([svc1, svc2, svc3, svc4, svc5, svc6], endpoints)
    node = Node("test-node", "test-node", ipaddress.ip_address("192.168.0.2"), ipaddress.ip_network("10.0.1.0/24"),
                "x-test-node")
    return dataclasses.replace(state, nodes=(node,), service_cidr=ipaddress.ip_network("172.30.0.0/16"),
                               cluster_cidr=ipaddress.ip_network("10.0.0.0/8"))


# iptables restore and save text ------------------------------------------------------------------

def parse_rules(text):
    """Restore or save text as {table: {"chains": [...], "rules": {chain: ["-A chain ...", ...]}}}."""
    tables, current = {}, None
    for line in text.splitlines():
        if line.startswith("*"):
            current = tables.setdefault(line[1:], {"chains": [], "rules": {}})
        elif line.startswith(":"):
            current["chains"].append(line[1:].split()[0])
        elif line.startswith("-A "):
            current["rules"].setdefault(line.split()[1], []).append(line)
    return tables


def all_rules(parsed, table):
    return [r for chain_rules in parsed[table]["rules"].values() for r in chain_rules]


def is_subsequence(wanted, lines):
    it = iter(lines)
    return all(any(w == line for line in it) for w in wanted)


SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-", "KUBE-XLB-")


def saved_probability(restore_text):
    """What iptables-save prints: the kernel keeps lround(p * 2^31), printed as %.11f of it / 2^31."""
    return f"{round(float(restore_text) * 2 ** 31) / 2 ** 31:.11f}"


# the golden files of tests/golden/: {file: (state factory, node[, nodePortAddresses])}
IPTABLES_GOLDENS = {
    "seed-1.18-node1.rules": (lambda: seed_state("1.18"), "node1"),
    "seed-current-node1.rules": (lambda: seed_state("current"), "node1"),
    "features-1.18-node1.rules": (lambda: features_state("1.18"), "node1"),
    "features-1.18-node2.rules": (lambda: features_state("1.18"), "node2"),
    "features-current-node1.rules": (lambda: features_state("current"), "node1"),
    "features-current-node2.rules": (lambda: features_state("current"), "node2"),
}
NFT_GOLDENS = {
    "nft-seed-node1.nft": (lambda: seed_state("current"), "node1", nftables.PRIMARY),
    "nft-features-node1.nft": (lambda: features_state("current"), "node1", nftables.PRIMARY),
    "nft-features-node2.nft": (lambda: features_state("current"), "node2", nftables.PRIMARY),
    "nft-features-all-master.nft": (lambda: features_state("current"), "master", nftables.ALL),
}


# nft: a small transaction in kube-proxy's vocabulary, what nft 1.0.6 lists for it, and rule forms
# (lab.proxy.nftlist computes the listing; tests/kernel checks it against the real nft)

NFT_SMALL = """\
add table ip kube-proxy
delete table ip kube-proxy
add table ip kube-proxy { comment "rules for kube-proxy" ; }
add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIPs" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; }
add set ip kube-proxy affinity-a { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy filter-output-pre-dnat { type filter hook output priority -110 ; }
add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy reject-chain { comment "helper" ; }
add chain ip kube-proxy svc
add chain ip kube-proxy ep-a
add chain ip kube-proxy ep-b
add rule ip kube-proxy nat-prerouting ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy nat-postrouting mark and 0x00004000 == 0 return
add rule ip kube-proxy nat-postrouting mark set mark xor 0x00004000
add rule ip kube-proxy nat-postrouting masquerade fully-random
add rule ip kube-proxy filter-prerouting-pre-dnat ct state new jump ep-b
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy svc ip daddr { 10.96.0.0/12 } drop comment "unallocated"
add rule ip kube-proxy svc ip saddr != { 203.0.113.0/25 , 192.168.179.0/24 , 192.168.179.242 } drop
add rule ip kube-proxy svc ip saddr @affinity-a goto ep-a
add rule ip kube-proxy svc numgen random mod 2 vmap { 0 : goto ep-a , 1 : goto ep-b }
add rule ip kube-proxy ep-a mark set mark or 0x00004000
add rule ip kube-proxy ep-a update @affinity-a { ip saddr }
add rule ip kube-proxy ep-a meta l4proto tcp dnat to 10.244.1.5:8080
add rule ip kube-proxy ep-b fib saddr type local drop comment "local"
add element ip kube-proxy cluster-ips { 10.96.0.10 }
add element ip kube-proxy cluster-ips { 10.96.0.1 }
add element ip kube-proxy cluster-ips { 10.105.182.209 }
add element ip kube-proxy cluster-ips { 10.96.0.10 }
add element ip kube-proxy service-ips { 10.96.0.1 . tcp . 443 : goto svc }
add element ip kube-proxy service-ips { 10.96.0.10 . udp . 53 : goto svc }
add element ip kube-proxy service-ips { 10.96.0.10 . tcp . 53 : goto svc }
add element ip kube-proxy service-ips { 10.105.182.209 . tcp . 3000 : goto svc }
add element ip kube-proxy no-endpoint-nodeports { tcp . 30082 comment "default/empty" : goto reject-chain }
"""


NFT_SMALL_LISTED = """\
table ip kube-proxy {
\tcomment "rules for kube-proxy"
\tset cluster-ips {
\t\ttype ipv4_addr
\t\tcomment "Active ClusterIPs"
\t\telements = { 10.96.0.1, 10.96.0.10,
\t\t\t     10.105.182.209 }
\t}

\tmap service-ips {
\t\ttype ipv4_addr . inet_proto . inet_service : verdict
\t\tcomment "ClusterIPs"
\t\telements = { 10.96.0.10 . tcp . 53 : goto svc,
\t\t\t     10.96.0.10 . udp . 53 : goto svc,
\t\t\t     10.105.182.209 . tcp . 3000 : goto svc,
\t\t\t     10.96.0.1 . tcp . 443 : goto svc }
\t}

\tmap no-endpoint-nodeports {
\t\ttype inet_proto . inet_service : verdict
\t\telements = { tcp . 30082 comment "default/empty" : goto reject-chain }
\t}

\tset affinity-a {
\t\ttype ipv4_addr
\t\tsize 65535
\t\tflags dynamic,timeout
\t\ttimeout 3h
\t}

\tchain nat-prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tip daddr . meta l4proto . th dport vmap @service-ips
\t}

\tchain filter-output-pre-dnat {
\t\ttype filter hook output priority -110; policy accept;
\t}

\tchain filter-prerouting-pre-dnat {
\t\ttype filter hook prerouting priority dstnat - 10; policy accept;
\t\tct state new jump ep-b
\t}

\tchain nat-postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tmeta mark & 0x00004000 == 0x00000000 return
\t\tmeta mark set meta mark ^ 0x00004000
\t\tmasquerade fully-random
\t}

\tchain reject-chain {
\t\tcomment "helper"
\t\treject
\t}

\tchain svc {
\t\tip daddr 10.96.0.0/12 drop comment "unallocated"
\t\tip saddr != { 192.168.179.0/24, 203.0.113.0/25 } drop
\t\tip saddr @affinity-a goto ep-a
\t\tnumgen random mod 2 vmap { 0 : goto ep-a, 1 : goto ep-b }
\t}

\tchain ep-a {
\t\tmeta mark set meta mark | 0x00004000
\t\tupdate @affinity-a { ip saddr }
\t\tmeta l4proto tcp dnat to 10.244.1.5:8080
\t}

\tchain ep-b {
\t\tfib saddr type local drop comment "local"
\t}
}
"""


NFT_RULE_FORMS = [
    ("ip saddr != { 10.0.0.0/25 , 10.0.0.128/25 } drop", "ip saddr != { 10.0.0.0/24 } drop"),  # merged, kept a set
    ("ip saddr != { 9.0.0.0/8 , 10.0.0.0/8 , 1.1.1.1/32 } drop", "ip saddr != { 1.1.1.1, 9.0.0.0-10.255.255.255 } drop"),
    ("ip saddr != { 1.1.1.2 , 1.1.1.1 } drop", "ip saddr != { 1.1.1.1, 1.1.1.2 } drop"),  # no prefix: not merged
    ("ip saddr != { 5.5.5.5/32 } drop", "ip saddr != 5.5.5.5 drop"),
    ("ip daddr { 10.96.0.0/12,172.30.0.0/16 } drop", "ip daddr { 10.96.0.0/12, 172.30.0.0/16 } drop"),
    ("mark set mark or 0x20", "meta mark set meta mark | 0x00000020"),
    ("ip daddr 10.105.182.209 tcp dport 3000 jump mark-for-masquerade",
     "ip daddr 10.105.182.209 tcp dport 3000 jump mark-for-masquerade"),
]


# kube-proxy's service health server: one node (node1), ETP=Local LoadBalancers -------------------

HEALTH_BODY = ('{\n\t"service": {\n\t\t"namespace": "default",\n\t\t"name": "lb-local"\n\t},\n'
               '\t"localEndpoints": 1,\n\t"serviceProxyHealthy": true\n}')


def health_lb(name, hcnp, ports=(("http", 80),), etp="Local", type="LoadBalancer", cluster_ip="10.96.50.1"):
    return Service("default", name, type, tuple(ServicePort(n, "TCP", p, 8080, 31000 + p) for n, p in ports),
                   cluster_ip, external_traffic_policy=etp, lb_ips=("192.168.179.240",), health_check_node_port=hcnp)


def node1_state(services, endpoints, profile="current", netns="k8s-node1"):
    node = Node("node1", "k8s-node1", ipaddress.ip_address("192.168.179.100"), ipaddress.ip_network("10.244.1.0/24"),
                netns)
    return ClusterState(
        lab="k8s", lan_cidr=ipaddress.ip_network("192.168.179.0/24"), gateway=ipaddress.ip_address("192.168.179.1"),
        nodes=(node,), hosts=(), service_cidr=ipaddress.ip_network("10.96.0.0/12"),
        cluster_cidr=ipaddress.ip_network("10.244.0.0/16"), domain="cluster.local",
        kube_proxy=KubeProxyConfig(profile=profile), pods=(), services=tuple(services), endpoints=dict(endpoints))


def health_services(profile="current", netns="k8s-node1"):
    """lb-local has a ready endpoint on node1 (200 there); lb-remote only one on node2 (503 on node1)."""
    local, remote = health_lb("lb-local", 32000), health_lb("lb-remote", 32001, cluster_ip="10.96.50.2")
    return node1_state([local, remote], {
        ("default", "lb-local", "http"): (ep("10.244.1.5:8080", "node1"), ep("10.244.2.7:8080", "node2")),
        ("default", "lb-remote", "http"): (ep("10.244.2.8:8080", "node2"),),
    }, profile, netns)


# lab doctor's facts: a host where every check passes -----------------------------------------------

DOCTOR_FACTS = {
    "euid": 0,
    "python_executable": "/usr/bin/python3",
    "python": {label: (True, f"{dist} 1.0") for label, _, dist, _ in doctor.PYTHON_PACKAGES},
    "tools": {tool: f"/usr/sbin/{tool}" for tool, *_ in doctor.TOOLS},
    "nginx_stream": True,
    "iptables_version": "iptables v1.8.9 (nf_tables)",
    "br_netfilter": True,
    "nofile": 1048576,
    "state_dir": ("/run/svclab", None),
    "scratch": {"name": "svclab-doctor-1", "netns": None, "veth": None, "bridge": None, "iptables_missing": {},
                "leftover": None},
}


def doctor_facts(**changes):
    out = json.loads(json.dumps(DOCTOR_FACTS))  # a deep copy
    for key, value in changes.items():
        out[key] = value
    return out


def by_name(results):
    return {r.name: r for r in results}


# scenario input -----------------------------------------------------------------------------------

WEB_SERVICE = textwrap.dedent("""\
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      type: NodePort
      selector: {app: web}
      ports: [{port: 80, targetPort: http, nodePort: 30080}]
    """)


def scenario_file(tmp_path, body, manifests=None):
    for name, text in (manifests or {}).items():
        (tmp_path / name).write_text(text)
    path = tmp_path / "scenario.yml"
    path.write_text(textwrap.dedent(body).replace("TOPOLOGY", TOPOLOGY))
    return str(path)


# pods with spec.hostname and spec.subdomain, and the services they name (tests/unit's DNS records and
# /etc files, tests/labs/test_pod_hostnames_lab.py): alpha-pod is alpha.sub (the headless service sub
# selects it); subonly has a subdomain and no hostname (Kubernetes gives its endpoint no hostname);
# plain has neither; gamma-pod names sub from another namespace (no such service there); beta-pod
# names a subdomain no service has; lonely is the only endpoint of a normal (ClusterIP) service;
# phoenix is a bare pod to delete and apply again

def _bare_pod(name, labels, node, namespace=None, **spec):
    meta = {"name": name, "labels": labels, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {**spec, "nodeName": node,
                     "containers": [{"name": "web", "image": "luksa/kubia", "ports": [{"containerPort": 8080}]}]}}


HOSTNAME_PODS = [
    _bare_pod("alpha-pod", {"app": "sub"}, "node1", hostname="alpha", subdomain="sub"),
    _bare_pod("subonly", {"app": "sub"}, "node2", subdomain="sub"),
    _bare_pod("plain", {"app": "sub"}, "node1"),
    _bare_pod("gamma-pod", {"app": "sub"}, "master", namespace="team", hostname="gamma", subdomain="sub"),
    _bare_pod("beta-pod", {"app": "beta"}, "master", hostname="beta", subdomain="nosuch"),
    _bare_pod("lonely", {"app": "lonely"}, "node2"),
]
HOSTNAME_SERVICES = [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "sub"},
     "spec": {"clusterIP": "None", "selector": {"app": "sub"}, "ports": [{"name": "http", "port": 8080}]}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lonely"},
     "spec": {"selector": {"app": "lonely"}, "ports": [{"port": 80, "targetPort": 8080}]}},
]
PHOENIX_POD = _bare_pod("phoenix", {"app": "phoenix"}, "node2")


def hostname_scenario(tmp_path):
    """The hostname scenario in ``tmp_path`` (scenario.yml, pods.yml, phoenix.yml); its path."""
    return scenario_file(tmp_path, "name: hn\ntopology: TOPOLOGY\nmanifests: [pods.yml, phoenix.yml]\n", {
        "pods.yml": yaml.safe_dump_all(HOSTNAME_PODS + HOSTNAME_SERVICES, sort_keys=False),
        "phoenix.yml": yaml.safe_dump(PHOENIX_POD, sort_keys=False)})


def _read(path):
    with open(path) as f:
        return yaml.safe_load(f)


def seed_files():
    """{file name: document}: the seed scenario, pointing at its topology and manifests beside it."""
    doc = _read(os.path.join(SCENARIOS, "seed.yml"))
    doc["topology"] = "topology.yml"
    doc["manifests"] = ["pod-nodeport.yml", "service.yml"]
    return {
        "scenario.yml": doc,
        "topology.yml": _read(os.path.join(ROOT, "topologies", "three-node.yml")),
        "pod-nodeport.yml": _read(os.path.join(SCENARIOS, "seed", "pod-nodeport.yml")),
        "service.yml": _read(os.path.join(SCENARIOS, "seed", "service.yml")),
    }


def get_path(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def write_files(files, directory):
    for name, doc in files.items():
        with open(os.path.join(directory, name), "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False, allow_unicode=True)
    return os.path.join(directory, "scenario.yml")


# kube-proxy configuration files -------------------------------------------------------------------

# (detectLocalMode, its extra fields, what the KUBE-SVC masquerade rule then matches)
DETECT_LOCAL_MODES = [
    ("NodeCIDR", "", "! -s 10.244.2.0/24"),
    ("BridgeInterface", "detectLocal: {bridgeInterface: cni0}", "! -i cni0"),
    ("InterfaceNamePrefix", "detectLocal: {interfaceNamePrefix: veth}", "! -i veth+"),
]


def detect_local_config(tmp_path, mode, extra):
    """A KubeProxyConfiguration for node2 with this detectLocalMode, written to tmp_path."""
    config = tmp_path / "kp.yml"
    config.write_text("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                      f"hostnameOverride: node2\ndetectLocalMode: {mode}\n{extra}\n")
    return config


# classroom exercises ------------------------------------------------------------------------------

def exercise_folders():
    """(folders, names) of the classroom's exercises."""
    from lab.classroom.exercise import catalog
    folders = catalog.folders()
    return folders, [os.path.basename(f) for f in folders]


def exercise_copy(tmp_path, source=None, name="01-copy"):
    """A copy of an exercise (the first, unless ``source`` names its folder) to spoil, one field at
    a time; its scenario's paths into the repository still lead there."""
    folder = tmp_path / name
    shutil.copytree(source or exercise_folders()[0][0], folder)
    text = (folder / "scenario.yml").read_text()
    for shared in ("topologies", "scenarios"):
        text = text.replace(f"../../{shared}/", os.path.join(ROOT, shared) + "/")
    (folder / "scenario.yml").write_text(text)
    return folder


def spoil(folder, old, new):
    path = folder / "exercise.yml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


# a terminal, as a person has one ----------------------------------------------------------------------

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>]|\x1b")


class Terminal:
    """``python -m lab ARGS`` on a pseudo-terminal of its own (``pty.fork``), typed into key by
    key as a person types, and read as a screen shows it (``screen``): escape sequences such as
    bracketed paste and busybox's cursor query show nothing. Every wait is bounded."""

    def __init__(self, *args, cols=200, rows=50, env=None):
        import fcntl
        import pty
        import struct
        import termios
        self.buffer = b""
        pid, fd = pty.fork()
        if pid == 0:  # the child: nothing but exec (a failure is its exit code)
            try:
                os.chdir(ROOT)
                os.execve(sys.executable, [sys.executable, "-m", "lab", *args],
                          dict(os.environ, TERM="xterm", **(env or {})))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def _read(self, timeout):
        import select
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the other side is closed
            chunk = b""
        if not chunk:
            raise EOFError(f"the terminal closed; it showed:\n{self.screen(self.buffer)}")
        self.buffer += chunk
        return True

    @staticmethod
    def screen(data):
        """The text as a terminal shows it, line by line: a carriage return goes back to the line's
        start and what follows overwrites, backspace and cursor moves (``ESC [ n C``/``D``) move, ``ESC [ K``
        erases to the line's end; every other escape sequence shows nothing."""
        lines, line, col = [], [], 0
        text = data.decode("utf-8", "replace")
        pos = 0
        while pos < len(text):
            ch = text[pos]
            if ch == "\x1b":
                code = ESCAPES.match(text, pos).group(0)
                pos += len(code)
                n = int(re.sub(r"\D", "", code[2:-1]) or 1) if code[1:2] == "[" else 1
                if code.endswith("K"):
                    del line[col:]
                elif code.endswith("D"):
                    col = max(0, col - n)
                elif code.endswith("C"):
                    col += n
                    line.extend(" " * max(0, col - len(line)))
                continue
            pos += 1
            if ch == "\n":
                lines.append("".join(line))
                line, col = [], 0
            elif ch == "\r":
                col = 0
            elif ch == "\b":
                col = max(0, col - 1)
            elif ch == "\x07":
                pass
            else:
                if col < len(line):
                    line[col] = ch
                else:
                    line.append(ch)
                col += 1
        return "\n".join(lines + ["".join(line)])

    def read_until(self, pattern, timeout=30.0):
        """Read until the screen text matches ``pattern`` (a compiled regex, searched at the end);
        returns that text and consumes it."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen(self.buffer)
            if pattern.search(text):
                self.buffer = b""
                return text
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"waited {timeout:g} s for {pattern.pattern!r}; the screen shows:\n{text}")
            self._read(min(left, 0.5))

    def type(self, text, delay=0.01):
        """Key by key, then Enter."""
        for ch in text:
            os.write(self.fd, ch.encode())
            time.sleep(delay)
        os.write(self.fd, b"\r")

    def close(self, timeout=10.0):
        """The exit code, once the program has ended (killed if it does not within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._closed()
                return os.waitstatus_to_exitcode(status)
            try:
                self._read(0.1)
            except EOFError:
                pass
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        self._closed()
        raise AssertionError(f"the terminal's program did not end within {timeout:g} s")

    def _closed(self):
        os.close(self.fd)
        self.pid = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        """A program still running when the test is done (it failed) is killed."""
        if self.pid is not None:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
            self._closed()
