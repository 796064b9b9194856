#!/usr/bin/env python3
"""Time and memory of large labs: ``lab up`` and ``lab down`` of generated scenarios, and the
peak memory of everything the lab runs.

Two points with the same 50 nodes, 100 pods / 100 services and 1,000 / 1,000 (the second is
``scenarios/scale.yml``), so the ratio of each phase shows whether it grows in proportion
(10x) or faster. Each point: median of several runs with min/max; after ``up`` every pod is
asked over HTTP from its node and every node's first NodePort from the client, so "up" means
answering. Memory: the sum of every lab process's peak RSS (VmHWM: kube-proxy, pod servers),
the sum of their PSS (a forked agent shares pages with its siblings; PSS counts each page once
over them all), the ``lab up`` process's own peak, and how much MemAvailable dropped (kernel
included: namespaces, sockets, rules).

Beside each run of the large point, in the same run, the kernel floor: the same wiring plan built
by plain tools (``ip -batch`` for the namespaces and for each bridge's veths, one ``ip -batch``
per namespace for its sysctls' ``ip`` equivalent, addresses, routes and neighbours, two at a time
as there are two cores) and each node's first kube-proxy restore loaded by ``iptables-restore``;
each phase with its wall time and its processes' system time (the kernel's share). Run as root:
sudo python3 bench/bench_scale.py [-n RUNS]
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
from lab.cluster.build import build_cluster  # noqa: E402
from lab.kernel import netns, record  # noqa: E402
from lab.net import wiring  # noqa: E402
from lab.proxy import modes  # noqa: E402
from lab.spec import scenario  # noqa: E402

POINTS = [(50, 50, 2), (50, 500, 2)]  # nodes, deployments, replicas (each deployment: 2 services)
LOAD = os.getloadavg()


def lab(*args, **kw):
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True, **kw)


def mem_available_kb():
    with open("/proc/meminfo") as f:
        return int(re.search(r"MemAvailable:\s+(\d+)", f.read()).group(1))


def _proc_kb(path, field, pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/{path}") as f:
                total += int(re.search(field + r":\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            pass
    return total


def daemons_memory_kb(name):
    """(sum of VmHWM, the peak resident sets; sum of Pss, the proportional share, which counts a
    page shared by several of them once in all) over the processes the lab's record lists."""
    pids = list(record.Record.load(name).pids.values())
    return _proc_kb("status", "VmHWM", pids), _proc_kb("smaps_rollup", "Pss", pids)


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
        peak, pss = daemons_memory_kb(name)
        memory = {"daemons_peak_rss_mb": peak / 1024, "daemons_pss_mb": pss / 1024,
                  "mem_available_drop_mb": (available - mem_available_kb()) / 1024}
    finally:
        t3 = time.monotonic()
        lab("down", name, timeout=120)
        t4 = time.monotonic()
    return {"up": t1 - t0, "up_answering": t2 - t0, "down": t4 - t3, "phases": parse_timings(up.stdout), **memory}


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_stime, usage.ru_utime


def run_parallel(jobs, width=2):
    """``[(argv, input)]``, ``width`` at a time; each must succeed."""
    running = []
    for argv, text in jobs:
        if len(running) >= width:
            _finish(running.pop(0))
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        running.append((argv, proc, text))
    for job in running:
        _finish(job)


def _finish(job):
    argv, proc, text = job
    _, err = proc.communicate(text)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {err.strip()}")


def floor_batches(plan):
    """The plan as plain-tools jobs, in phases: [(phase, [(argv, input)])]. Namespaces in one
    ``ip -batch``; each bridge namespace's bridges and veths in one ``ip -batch`` in it; then in
    each namespace one ``ip -batch`` for what it holds (lo, addresses, routes, neighbours). Every
    namespace's ``ip`` runs under nsenter (``ip -n`` would copy the mount table, 1,000 entries
    here). IPv6 is kept off the plain way, ``addrgenmode none`` on each link before it is up,
    instead of sysctls (which would need a process per namespace for a file write)."""
    batches = wiring.ip_batches(plan)[1:]  # the bridge namespaces' makers, then every namespace's config
    makers = len({b.netns for b in plan.bridges} | {v.netns for v in plan.veths})

    def job(ns, lines):
        return netns.enter_argv(ns) + ["ip", "-batch", "-"], "\n".join(lines) + "\n"

    def quiet(lines):
        out = []
        for line in lines:
            words = line.split()
            if words[:2] == ["link", "set"] and words[-1] == "up" and line != "link set lo up":
                out.append(f"link set dev {words[3] if words[2] == 'dev' else words[2]} addrgenmode none")
            out.append(line)
        return out

    links = [job(ns, quiet(lines)) for ns, lines in batches[:makers]]
    config = [job(ns, quiet(lines)) for ns, lines in batches[makers:]]
    return [("namespaces", [(["ip", "-batch", "-"], "".join(f"netns add {n}\n" for n in plan.namespace_names))]),
            ("bridges and veths", links), ("addresses, routes, links up", config)]


def floor_run(path, name):
    """The large point's kernel floor: its plan built by plain tools, each node's first restore
    loaded; then the namespaces deleted. {phase: (wall seconds, system seconds)}."""
    cluster = build_cluster(scenario.load(path, name))
    plan = wiring.plan(cluster, netns.neighbour_limit())
    mode = modes.MODES[cluster.kube_proxy.mode]
    rules = [(netns.enter_argv(n.netns) + list(mode.replace), mode.sync(cluster, n.name).text) for n in cluster.nodes]
    phases = floor_batches(plan) + [("kube-proxy's first restore on every node", rules)]
    settled()
    available = mem_available_kb()
    out = {}
    try:
        for phase, jobs in phases:
            sys0, t0 = children_cpu()[0], time.monotonic()
            run_parallel(jobs, width=1 if phase == "namespaces" else 2)
            out[phase] = (time.monotonic() - t0, children_cpu()[0] - sys0)
        out["MemAvailable drop (MB)"] = ((available - mem_available_kb()) / 1024, 0.0)
    finally:
        sys0, t0 = children_cpu()[0], time.monotonic()
        subprocess.run(["ip", "-force", "-batch", "-"], text=True, stderr=subprocess.DEVNULL,
                       input="".join(f"netns delete {n}\n" for n in plan.namespace_names))
        out["down (netns delete)"] = (time.monotonic() - t0, children_cpu()[0] - sys0)
    return out


def summary(values):
    return statistics.median(values), min(values), max(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the raw runs as JSON too")
    parser.add_argument("--large-only", action="store_true", help="only scenarios/scale.yml's point (and its floor)")
    parser.add_argument("--no-floor", action="store_true", help="without the plain-tools kernel floor")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: sudo python3 bench/bench_scale.py")
    name = f"bsc{os.getpid() % 10000}"
    results, floors = {}, []
    points = POINTS[1:] if args.large_only else POINTS
    with tempfile.TemporaryDirectory() as tmp:
        paths = {point: make_scale_scenario.write(tmp, f"scale{point[1] * point[2]}", *point) for point in points}
        for _ in range(args.runs):  # interleaved, so both points and the floor see the same machine state
            for point, path in paths.items():
                results.setdefault(point, []).append(one_run(path, name))
            if not args.no_floor:
                floors.append(floor_run(paths[POINTS[-1]], f"bfl{os.getpid() % 10000}"))
    lab_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"scale scenarios, {args.runs} runs each; {machine.line()}; load average before: "
          f"{' '.join(f'{x:.1f}' for x in LOAD)}, after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    labels = {p: f"{p[0]} nodes, {p[1] * p[2]} pods, {2 * p[1]} svc" for p in points}
    large = POINTS[-1]
    print(f"{'':52}" + "".join(f"{labels[p]:>36}" for p in points) + (f"{'ratio':>8}" if len(points) > 1 else ""))
    print(f"{'':52}" + f"{'median   (min - max)':>36}" * len(points))
    rows = [("up (command returns)", "up"), ("up (every pod and NodePort answering)", "up_answering"),
            ("down", "down"), ("lab processes, sum of peak RSS (MB)", "daemons_peak_rss_mb"),
            ("lab processes, sum of PSS (MB)", "daemons_pss_mb"),
            ("MemAvailable drop while up (MB)", "mem_available_drop_mb")]
    phases = list(results[large][0]["phases"])
    rows += [(f"  phase: {ph}", ("phases", ph)) for ph in phases]
    for label, key in rows:
        cells, medians = [], []
        for p in points:
            values = [r[key[0]][key[1]] if isinstance(key, tuple) else r[key] for r in results[p]]
            med, lo, hi = summary(values)
            medians.append(med)
            cells.append(f"{med:10.3f}  ({lo:.3f} - {hi:.3f})")
        ratio = "" if len(points) == 1 else \
            f"{medians[1] / medians[0] if medians[0] > 0.0005 else float('nan'):8.1f}"
        print(f"{label:52}" + "".join(f"{c:>36}" for c in cells) + ratio)
    print(f"peak RSS of the largest child process (a lab up, or a floor's tool): {lab_peak:.0f} MB")
    if floors:
        print_floor(results[large], floors)
    if args.json:
        print(json.dumps({labels[p]: r for p, r in results.items()} | {"floor": floors}, indent=1))


def print_floor(runs, floors):
    """Where the large point's up goes, beside the plain-tools floor of the same plan."""
    print(f"\n{labels_large(runs)}: lab up's phases (--timings) and the kernel floor, same runs; "
          "median (min - max) s")
    for phase in runs[0]["phases"]:
        med, lo, hi = summary([r["phases"][phase] for r in runs])
        print(f"  svclab  {phase:46}{med:8.3f}  ({lo:.3f} - {hi:.3f})")
    up = summary([r["up"] for r in runs])
    print(f"  svclab  {'lab up, the command':46}{up[0]:8.3f}  ({up[1]:.3f} - {up[2]:.3f})")
    total = []
    for phase in floors[0]:
        walls = [f[phase][0] for f in floors]
        med, lo, hi = summary(walls)
        system = statistics.median(f[phase][1] for f in floors)
        unit = "MB" if "(MB)" in phase else f"s, system {system:.3f} s"
        print(f"  floor   {phase:46}{med:8.3f}  ({lo:.3f} - {hi:.3f})  {unit}")
    for f in floors:
        total.append(sum(v[0] for k, v in f.items() if "(MB)" not in k and not k.startswith("down")))
    med, lo, hi = summary(total)
    print(f"  floor   {'up, all phases':46}{med:8.3f}  ({lo:.3f} - {hi:.3f})")
    print(f"  ratio svclab up / floor up: {up[0] / med:.2f}")


def labels_large(runs):
    return f"{len(runs)} runs of the large point"


if __name__ == "__main__":
    main()
