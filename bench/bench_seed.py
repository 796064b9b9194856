#!/usr/bin/env python3
"""Time the seed lab: ``lab up`` until every pod answers, and ``lab down``; and a
distribution check of 10,000 new connections (``lab dist``) in one lab.

Beside it, in the same run, a plain-tools baseline builds the same namespaces, links,
addresses and routes from the same plan with ``ip -batch`` files, loads the same rules with
``iptables-restore``, and starts one stdlib server per pod (``http.server`` for the web pods, a
UDP stub that answers NXDOMAIN for the DNS pods). svclab's ``up`` counts until its API server
also answers the pod list ``kubectl get pods`` asks for. Prints medians with min/max
and the ratio ours/raw. Run as root:  sudo python3 bench/bench_seed.py [-n RUNS]
"""

import argparse
import http.client
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import machine  # noqa: E402
from lab.cluster.build import build_cluster  # noqa: E402
from lab.kernel import netns  # noqa: E402
from lab.net import wiring  # noqa: E402
from lab.proxy import iptables, options  # noqa: E402
from lab.spec import scenario  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = os.path.join(ROOT, "scenarios", "seed.yml")


def lab(*args):
    subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def http_get(netns_name, ip, port, deadline):
    """One HTTP GET from inside ``netns_name``; retried until it answers or ``deadline``."""
    while True:
        try:
            with netns.entered(netns_name):
                s = socket.socket()
            s.settimeout(1)
            s.connect((ip, port))
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = s.recv(4096)
            s.close()
            if b" 200 " in data.split(b"\r\n", 1)[0]:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{ip}:{port} never answered from {netns_name}")
        time.sleep(0.002)


def dns_query(netns_name, ip, deadline):
    """One DNS query over UDP from inside ``netns_name``; retried until answered or ``deadline``."""
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x0akubernetes\x07default\x03svc\x07cluster\x05local\x00\x00\x01\x00\x01"
    while True:
        try:
            with netns.entered(netns_name):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.2)
            s.sendto(query, (ip, 53))
            data = s.recv(4096)
            s.close()
            if data[:2] == b"\x12\x34" and data[2] & 0x80:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{ip}:53 never answered DNS from {netns_name}")


def all_pods_answer(cluster):
    """Every web pod answers HTTP and every DNS pod answers a DNS query, asked from its node."""
    deadline = time.monotonic() + 10
    for pod in cluster.pods:
        node = cluster.node(pod.node)
        if pod.app == "coredns":
            dns_query(node.netns, str(pod.ip), deadline)
        else:
            http_get(node.netns, str(pod.ip), pod.serving_ports[0], deadline)


KUBECTL_GET_PODS = ("/api/v1/namespaces/default/pods?limit=500",
                    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
                    "application/json")


def api_answers(name, deadline):
    """The lab's API server answers the pod list ``kubectl get pods`` asks for (with the admin
    certificate of the lab's kubeconfig, over its loopback port), retried until ``deadline``."""
    base = f"/run/svclab/{name}"
    while True:
        try:
            with open(f"{base}/api.json") as f:
                port = json.load(f)["port"]
            context = ssl.create_default_context(cafile=f"{base}/pki/ca.crt")
            context.load_cert_chain(f"{base}/pki/admin.crt", f"{base}/pki/admin.key")
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
            conn.request("GET", KUBECTL_GET_PODS[0], headers={"Accept": KUBECTL_GET_PODS[1]})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            if response.status == 200 and b'"kind":"Table"' in body.replace(b" ", b""):
                return
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"lab {name}'s API server never answered a pod list")
        time.sleep(0.002)


def ours(name, flags=()):
    cluster = build_cluster(scenario.load(SEED, name))
    t0 = time.monotonic()
    try:
        lab("up", SEED, "--name", name, *flags)
        all_pods_answer(cluster)
        if "--no-api-server" not in flags:
            api_answers(name, time.monotonic() + 10)
        t1 = time.monotonic()
    finally:
        lab("down", name)
    t2 = time.monotonic()
    return t1 - t0, t2 - t1


def raw(name):
    """The same lab from plain tools: ip -batch, iptables-restore, one http.server per pod."""
    cluster = build_cluster(scenario.load(SEED, name))
    plan = wiring.plan(cluster)
    profile = options.PROFILES[cluster.kube_proxy.profile]
    t0 = time.monotonic()
    servers = []
    try:
        for ns, lines in wiring.ip_batches(plan):
            subprocess.run(["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"], input="\n".join(lines) + "\n",
                           text=True, check=True, stdout=subprocess.DEVNULL)
        for node in cluster.nodes:
            text = iptables.render_bootstrap(profile) + iptables.render(cluster, node.name)
            subprocess.run(["ip", "netns", "exec", node.netns, "iptables-restore", "--noflush"], input=text,
                           text=True, check=True)
        servers = [subprocess.Popen(["ip", "netns", "exec", p.netns, sys.executable]
                                    + (["-c", DNS_STUB] if p.app == "coredns"
                                       else ["-m", "http.server", str(p.serving_ports[0])]),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for p in cluster.pods]
        all_pods_answer(cluster)
        t1 = time.monotonic()
    finally:
        for s in servers:
            s.kill()
        for s in servers:
            s.wait()
        subprocess.run(["ip", "-force", "-batch", "-"], text=True, stderr=subprocess.DEVNULL,
                       input="".join(f"netns delete {n}\n" for n in plan.namespace_names))
    t2 = time.monotonic()
    return t1 - t0, t2 - t1


# the plain baseline's DNS pod: a stdlib UDP server that answers every query with NXDOMAIN
DNS_STUB = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 53))
while True:
    q, addr = s.recvfrom(4096)
    s.sendto(q[:2] + bytes([0x81, 0x83]) + q[4:], addr)
"""


def distribution(name, requests):
    """Wall time of ``lab dist client http://node1:30090 -n REQUESTS`` (the command, start to end)."""
    cluster = build_cluster(scenario.load(SEED, name))
    url = f"http://{cluster.nodes[1].ip}:{next(p.node_port for s in cluster.services for p in s.ports if p.node_port)}"
    lab("up", SEED, "--name", name)
    try:
        t0 = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "lab", "dist", "client", url, "-n", str(requests), "--lab", name,
                              "--json"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
        seconds = time.monotonic() - t0
    finally:
        lab("down", name)
    result = json.loads(out)
    assert not result["failures"] and sum(result["counts"].values()) == requests, result
    return seconds


def summary(values):
    return statistics.median(values), min(values), max(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=7)
    parser.add_argument("--requests", type=int, default=10000, help="for the distribution check")
    parser.add_argument("--no-api-server", action="store_true",
                        help="labs without their API server (to compare with a svclab that had none)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: sudo python3 bench/bench_seed.py")
    results = {"svclab": [], "raw": []}
    for i in range(args.runs):  # interleaved, so both see the same machine state
        results["svclab"].append(ours(f"bench{os.getpid() % 1000}", ["--no-api-server"] if args.no_api_server else []))
        results["raw"].append(raw(f"braw{os.getpid() % 1000}"))
    print(f"seed scenario, {args.runs} runs each{' (no API server)' if args.no_api_server else ''}; "
          f"{machine.line()}")
    print(f"{'':28}{'median':>9}{'min':>9}{'max':>9}")
    rows = {}
    for who in ("svclab", "raw"):
        for j, what in enumerate(("up (all pods answering)", "down")):
            med, lo, hi = summary([r[j] for r in results[who]])
            rows[(who, what)] = med
            print(f"{who + ' ' + what:28}{med:9.3f}{lo:9.3f}{hi:9.3f}")
    for what in ("up (all pods answering)", "down"):
        print(f"ratio svclab/raw, {what}: {rows[('svclab', what)] / rows[('raw', what)]:.2f}")
    dist_runs = [distribution(f"bdist{os.getpid() % 1000}", args.requests) for _ in range(max(3, args.runs // 2))]
    med, lo, hi = summary(dist_runs)
    print(f"{f'lab dist, {args.requests} requests':28}{med:9.3f}{lo:9.3f}{hi:9.3f}"
          f"   ({args.requests / med:.0f} new connections/s)")


if __name__ == "__main__":
    main()
