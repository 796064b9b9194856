#!/usr/bin/env python3
"""The lab's Kubernetes API server, measured:

1. seed ``lab up`` (until every pod answers) with the API server and with ``--no-api-server``,
   interleaved in the same run: medians with min/max, and the ratio;
2. a pod list as ``kubectl get pods`` asks it (server-side Table), on the seed and on
   ``scenarios/scale.yml`` (1,000 pods): time per request over a kept-alive HTTPS connection on
   loopback (median, p99), and the real ``kubectl get pods`` start to end;
3. 100 watchers of the services: the delay from the store's publication of one change to each
   watcher's receipt of it (median, max);
4. a ``kubectl apply`` of a new Service until every node's iptables rules hold it.

Run as root:  sudo python3 bench/bench_api.py [-n RUNS] [--skip-scale]
"""

import argparse
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import bench_seed  # noqa: E402
import machine  # noqa: E402

from lab.cluster.build import build_cluster  # noqa: E402
from lab.kernel import record  # noqa: E402
from lab.spec import scenario  # noqa: E402

SEED = os.path.join(ROOT, "scenarios", "seed.yml")
SCALE = os.path.join(ROOT, "scenarios", "scale.yml")
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io," \
        "application/json"


def lab(*args):
    subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def up_until_answering(name, *flags):
    cluster = build_cluster(scenario.load(SEED, name))
    t0 = time.monotonic()
    try:
        lab("up", SEED, "--name", name, *flags)
        bench_seed.all_pods_answer(cluster)
        return time.monotonic() - t0
    finally:
        lab("down", name)


class Client:
    """HTTPS to a lab's API server on loopback, with the lab's admin certificate."""

    def __init__(self, name):
        rec = record.Record.load(name)
        with open(rec.path("api.json")) as f:
            self.port = json.load(f)["port"]
        pki = rec.path("pki")
        self.context = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        self.context.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
        self.store = rec.path("objects.json")

    def connection(self, timeout=30):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=timeout)

    def get(self, conn, path, accept="application/json"):
        conn.request("GET", path, headers={"Accept": accept})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        return body


def list_times(client, requests):
    conn = client.connection()
    client.get(conn, "/api/v1/namespaces/default/pods?limit=500", TABLE)  # warm
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        client.get(conn, "/api/v1/namespaces/default/pods?limit=500", TABLE)
        times.append(time.perf_counter() - t0)
    conn.close()
    return times


def kubectl_times(name, runs):
    env = dict(os.environ, KUBECONFIG=record.Record.load(name).path("admin.conf"))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(["kubectl", "get", "pods", "-n", "default"], env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return times


def print_row(label, values, unit=1000.0, suffix="ms"):
    med, lo, hi = machine.summary(values)
    digits = 1 if unit > 1 else 3
    print(f"{label:44}{med * unit:9.{digits}f}{lo * unit:9.{digits}f}{hi * unit:9.{digits}f}  {suffix}"
          f"   p99 {machine.p99(values) * unit:.{digits}f}")


def gets(name, what, requests, runs):
    client = Client(name)
    print_row(f"{what}: pod list (Table), server+TLS", list_times(client, requests))
    print_row(f"{what}: kubectl get pods, start to end", kubectl_times(name, runs))


def watchers(name, count):
    """``count`` watches of the services; one annotation; each watcher's delay after publication."""
    client = Client(name)
    conn = client.connection()
    rv = json.loads(client.get(conn, "/api/v1/namespaces/default/services"))["metadata"]["resourceVersion"]
    received, ready = [None] * count, threading.Barrier(count + 1)
    token = f"w{time.monotonic_ns()}"

    def watch(i):
        c = client.connection(timeout=30)
        c.request("GET", f"/api/v1/namespaces/default/services?watch=true&resourceVersion={rv}")
        response = c.getresponse()
        ready.wait()
        while True:
            line = response.readline()
            if not line:
                return
            if token.encode() in line:
                received[i] = time.time()
                c.close()
                return

    threads = [threading.Thread(target=watch, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    ready.wait()
    time.sleep(0.2)  # every watch is past its request and waiting
    body = json.dumps({"metadata": {"annotations": {"bench": token}}})
    conn.request("PATCH", "/api/v1/namespaces/default/services/nodeport-svc", body=body,
                 headers={"Content-Type": "application/merge-patch+json"})
    response = conn.getresponse()
    response.read()
    published = os.stat(client.store).st_mtime_ns / 1e9
    for t in threads:
        t.join(timeout=20)
    delays = [r - published for r in received if r is not None]
    missing = sum(r is None for r in received)
    return delays, missing


SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  type: NodePort
  selector: {{app: myapp}}
  ports:
  - port: 80
    targetPort: 8080
"""


def apply_until_rules(name, runs):
    """(kubectl apply returned, every node's rules hold the new Service) for each run."""
    rec = record.Record.load(name)
    env = dict(os.environ, KUBECONFIG=rec.path("admin.conf"))
    cluster = rec.load_cluster()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            svc = f"bench{i}"
            path = os.path.join(tmp, f"{svc}.yml")
            with open(path, "w") as f:
                f.write(SERVICE.format(name=svc))
            t0 = time.monotonic()
            proc = subprocess.Popen(["kubectl", "apply", "-f", path], env=env, stdout=subprocess.DEVNULL)
            pending = {n.netns for n in cluster.nodes}
            while pending:
                for ns in sorted(pending):
                    rules = subprocess.run(["ip", "netns", "exec", ns, "iptables-save", "-t", "nat"],
                                           capture_output=True, text=True).stdout
                    if f'"default/{svc}"' in rules or f'"default/{svc}:' in rules:  # unnamed port: profile 1.18's colon
                        pending.discard(ns)
                if time.monotonic() - t0 > 30:
                    raise RuntimeError(f"rules for {svc} never showed on {sorted(pending)}")
            rules_at = time.monotonic() - t0
            proc.wait()
            out.append((time.monotonic() - t0, rules_at))
            subprocess.run(["kubectl", "delete", "svc", svc], env=env, check=True, stdout=subprocess.DEVNULL)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200, help="pod lists per lab")
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--skip-scale", action="store_true", help="no 1,000-pod lab")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: sudo python3 bench/bench_api.py")
    if not shutil.which("kubectl"):
        sys.exit("no kubectl on PATH: ./setup installs one")
    kubectl = subprocess.run(["kubectl", "version", "--client", "-o", "json"], capture_output=True, text=True)
    print(machine.line())
    print(f"kubectl {json.loads(kubectl.stdout or '{}').get('clientVersion', {}).get('gitVersion', '?')}")
    tag = os.getpid() % 1000
    with_api, without = [], []
    for _ in range(args.runs):  # interleaved: both see the same machine
        with_api.append(up_until_answering(f"bapi{tag}"))
        without.append(up_until_answering(f"bnoapi{tag}", "--no-api-server"))
    print(f"\nseed lab up until every pod answers, {args.runs} runs each")
    print(f"{'':44}{'median':>9}{'min':>9}{'max':>9}")
    print_row("with the API server", with_api, 1.0, "s")
    print_row("without (--no-api-server)", without, 1.0, "s")
    print(f"ratio with/without: {machine.summary(with_api)[0] / machine.summary(without)[0]:.3f}")

    name = f"bapi{tag}"
    lab("up", SEED, "--name", name)
    try:
        print(f"\nrequests on the seed lab ({args.requests} lists, {args.runs} kubectl runs)")
        gets(name, "seed", args.requests, args.runs)
        delays, missing = watchers(name, args.watchers)
        med, lo, hi = machine.summary(delays)
        print(f"\n{args.watchers} watchers of services, one change: delay after publication median "
              f"{med * 1000:.1f} ms, min {lo * 1000:.1f} ms, max {hi * 1000:.1f} ms; {missing} missed it")
        applied = apply_until_rules(name, args.runs)
        print(f"\nkubectl apply of a new NodePort Service, {args.runs} runs")
        print_row("until every node's rules hold it", [a[1] for a in applied])
        print_row("until kubectl apply returns", [a[0] for a in applied])
    finally:
        lab("down", name)
    if not args.skip_scale:
        name = f"bscale{tag}"
        t0 = time.monotonic()
        lab("up", SCALE, "--name", name)
        try:
            print(f"\nrequests on scenarios/scale.yml (up in {time.monotonic() - t0:.1f} s)")
            gets(name, "scale", max(20, args.requests // 5), args.runs)
        finally:
            lab("down", name)


if __name__ == "__main__":
    main()
