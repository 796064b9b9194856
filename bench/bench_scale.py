#!/usr/bin/env python3
"""Time and memory of large labs: ``lab up`` and ``lab down`` of generated scenarios, and the
peak memory of everything the lab runs.

Two points with the same 50 nodes, 100 pods / 100 services and 1,000 / 1,000 (the second is
``scenarios/scale.yml``), so the ratio of each phase shows whether it grows in proportion
(10x) or faster. Each point: median of several runs with min/max; after ``up`` every pod is
asked over HTTP from its node and every node's first NodePort from the client, so "up" means
answering. Memory: the sum of every lab process's peak RSS (VmHWM: kube-proxy, pod servers),
the ``lab up`` process's own peak, and how much MemAvailable dropped (kernel included: namespaces,
sockets, rules). Run as root:  sudo python3 bench/bench_scale.py [-n RUNS]
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import machine  # noqa: E402
import make_scale_scenario  # noqa: E402
from bench_seed import http_get  # noqa: E402

from lab.cluster import codec  # noqa: E402
from lab.kernel import record  # noqa: E402

POINTS = [(50, 50, 2), (50, 500, 2)]  # nodes, deployments, replicas (each deployment: 2 services)


def lab(*args, **kw):
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True, **kw)


def mem_available_kb():
    with open("/proc/meminfo") as f:
        return int(re.search(r"MemAvailable:\s+(\d+)", f.read()).group(1))


def daemons_peak_rss_kb(name):
    """Sum of VmHWM (peak resident set) over the processes the lab's record lists."""
    total = 0
    for pid in record.Record.load(name).pids.values():
        try:
            with open(f"/proc/{pid}/status") as f:
                total += int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            pass
    return total


def parse_timings(text):
    """``--timings`` output: {phase: seconds}."""
    lines = text[text.index("phase "):].splitlines()[1:]
    out = {}
    for line in lines:
        if line.startswith("total "):
            break
        name, seconds = line.rsplit(None, 2)[0].strip(), float(line.split()[-2])
        out[name] = seconds
    return out


def everything_answers(cluster):
    deadline = time.monotonic() + 30
    for pod in cluster.pods:
        if pod.app != "coredns":
            http_get(cluster.node(pod.node).netns, str(pod.ip), pod.serving_ports[0], deadline)
    node_port = next(p.node_port for s in cluster.services for p in s.ports if p.node_port)
    for node in cluster.nodes:
        http_get(cluster.hosts[0].netns, str(node.ip), node_port, deadline)


def settled(limit=15.0):
    """Wait until the kernel has finished freeing a previous lab (it deletes namespaces in the
    background): MemAvailable steady within 4 MB over half a second."""
    deadline = time.monotonic() + limit
    previous = mem_available_kb()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = mem_available_kb()
        if abs(now - previous) < 4096:
            return
        previous = now


def one_run(path, name):
    settled()
    available = mem_available_kb()
    t0 = time.monotonic()
    up = lab("up", path, "--name", name, "--timings", timeout=300)
    t1 = time.monotonic()
    try:
        with open(record.Record.load(name).path("cluster.json")) as f:
            everything_answers(codec.loads(f.read()))
        t2 = time.monotonic()
        memory = {"daemons_peak_rss_mb": daemons_peak_rss_kb(name) / 1024,
                  "mem_available_drop_mb": (available - mem_available_kb()) / 1024}
    finally:
        t3 = time.monotonic()
        lab("down", name, timeout=120)
        t4 = time.monotonic()
    return {"up": t1 - t0, "up_answering": t2 - t0, "down": t4 - t3, "phases": parse_timings(up.stdout), **memory}


def summary(values):
    return statistics.median(values), min(values), max(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the raw runs as JSON too")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: sudo python3 bench/bench_scale.py")
    name = f"bsc{os.getpid() % 10000}"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {point: make_scale_scenario.write(tmp, f"scale{point[1] * point[2]}", *point) for point in POINTS}
        for _ in range(args.runs):  # interleaved, so both points see the same machine state
            for point, path in paths.items():
                results.setdefault(point, []).append(one_run(path, name))
    lab_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"scale scenarios, {args.runs} runs each; {machine.line()}")
    labels = {p: f"{p[0]} nodes, {p[1] * p[2]} pods, {2 * p[1]} svc" for p in POINTS}
    small, large = POINTS
    print(f"{'':52}" + "".join(f"{labels[p]:>36}" for p in POINTS) + f"{'ratio':>8}")
    print(f"{'':52}" + f"{'median   (min - max)':>36}" * 2)
    rows = [("up (command returns)", "up"), ("up (every pod and NodePort answering)", "up_answering"),
            ("down", "down"), ("lab processes, sum of peak RSS (MB)", "daemons_peak_rss_mb"),
            ("MemAvailable drop while up (MB)", "mem_available_drop_mb")]
    phases = list(results[large][0]["phases"])
    rows += [(f"  phase: {ph}", ("phases", ph)) for ph in phases]
    for label, key in rows:
        cells, medians = [], []
        for p in POINTS:
            values = [r[key[0]][key[1]] if isinstance(key, tuple) else r[key] for r in results[p]]
            med, lo, hi = summary(values)
            medians.append(med)
            cells.append(f"{med:10.3f}  ({lo:.3f} - {hi:.3f})")
        ratio = medians[1] / medians[0] if medians[0] > 0.0005 else float("nan")
        print(f"{label:52}" + "".join(f"{c:>36}" for c in cells) + f"{ratio:8.1f}")
    print(f"peak RSS of the largest child process (a lab up): {lab_peak:.0f} MB")
    if args.json:
        print(json.dumps({labels[p]: r for p, r in results.items()}, indent=1))


if __name__ == "__main__":
    main()
