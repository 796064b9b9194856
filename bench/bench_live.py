#!/usr/bin/env python3
"""Live changes and load on the seed lab, measured.

1. Steady requests through a NodePort (one new connection every 10 ms) while the lab scales 2 ->
   5 -> 2, a pod is killed, and node2 goes down and comes back: per step, the time to converge
   (the command's own time: pods, endpoints, every node's kube-proxy rules, DNS), requests that
   failed while converging, and after it (must be 0) and answers from pods no longer live (0).
2. Changes under load: rounds of 1,000 new connections in flight at once, back to back, while the
   lab scales 2 -> 5 and 5 -> 2 and a pod is deleted (none may fail: a pod is an endpoint only once
   it listens, and a leaving one serves until no rule reaches it) and a pod is killed (its server
   dies first, so connections fail until the control plane notices: honest failures).
3. Load: 1,000 concurrent clients' worth of connections through a NodePort (20 rounds of 1,000
   connections in flight at once): requests/s, failures, latency percentiles.
Run as root:  sudo python3 bench/bench_live.py
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import machine  # noqa: E402

from lab.cluster import lookup  # noqa: E402
from lab.kernel.record import find_running  # noqa: E402
from lab.verify import probe, steady  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = os.path.join(ROOT, "scenarios", "seed.yml")


def lab(*args):
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout


def live(name):
    import json
    pods = json.loads(lab("get", "pods", "-o", "json", "--lab", name))["items"]
    return {p["metadata"]["name"] for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                                       for c in p["status"]["conditions"])}


def rolling(name, tmp):
    text = open(os.path.join(ROOT, "scenarios", "seed", "pod-nodeport.yml")).read()
    files = {}
    for n in (5, 2):
        files[n] = os.path.join(tmp, f"scale{n}.yml")
        with open(files[n], "w") as f:
            f.write(text.replace("replicas: 2", f"replicas: {n}"))
    _, cluster = find_running(name)
    rows = []
    with steady.SteadyLoad(lookup.netns_of(cluster, "client"), "192.168.179.100", 30090) as load:
        time.sleep(0.5)
        steps = [("scale 2 -> 5", ("apply", "-f", files[5])), ("scale 5 -> 2", ("apply", "-f", files[2])),
                 ("kill a pod", None), ("node2 down (grace 1 s)", ("node", "down", "node2", "--grace", "1")),
                 ("node2 up", ("node", "up", "node2"))]
        marks = []
        for what, args in steps:
            args = args or ("kill", "pod", sorted(live(name))[0])
            began = time.monotonic()
            said = re.search(r"converged in ([0-9.]+) s", lab(*args, "--lab", name))
            marks.append((what, began, time.monotonic(), live(name), float(said.group(1)) if said else None))
            time.sleep(1.5)
        ended = time.monotonic()
    for i, (what, began, converged, pods, own) in enumerate(marks):
        nxt = marks[i + 1][1] if i + 1 < len(marks) else ended
        during = load.between(began, converged)
        after = load.between(converged + 0.05, nxt)
        _, failures, strays = steady.summary(after, pods)
        rows.append((what, converged - began, own, sum(not s.outcome.ok for s in during), len(after), failures,
                     strays))
    # "command": the lab command's wall time (Python's start-up included); "converged": what the
    # command says, from the change's start under the lab's lock until every agent has applied it
    print(f"{'step':26}{'command':>9}{'converged':>11}{'failed during':>15}{'after':>8}{'failed':>8}{'stray':>7}")
    for what, seconds, own, during, after, failures, strays in rows:
        own = f"{own:10.3f}s" if own is not None else f"{'-':>11}"
        print(f"{what:26}{seconds:8.2f}s{own}{during:15}{after:8}{failures:8}{strays:7}")


def changes_under_load(name, tmp, concurrency=1000):
    import threading
    text = open(os.path.join(ROOT, "scenarios", "seed", "pod-nodeport.yml")).read()
    files = {}
    for n in (5, 2):
        files[n] = os.path.join(tmp, f"scale{n}.yml")
        with open(files[n], "w") as f:
            f.write(text.replace("replicas: 2", f"replicas: {n}"))
    _, cluster = find_running(name)
    client = lookup.netns_of(cluster, "client")
    rounds, stop = [], threading.Event()  # (began, ended, requests, failures)

    def load():
        while not stop.is_set():
            began = time.monotonic()
            outcomes = probe.run(probe.many([(client, "192.168.179.100", 30090, "/", 5.0)] * concurrency,
                                            concurrency))
            rounds.append((began, time.monotonic(), len(outcomes), sum(not o.ok for o in outcomes)))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    time.sleep(1.0)
    steps = [("scale 2 -> 5", lambda: ("apply", "-f", files[5])), ("scale 5 -> 2", lambda: ("apply", "-f", files[2])),
             ("delete a pod", lambda: ("delete", "pod", sorted(live(name))[0])),
             ("kill a pod (honest failures)", lambda: ("kill", "pod", sorted(live(name))[0]))]
    marks = []
    for what, args in steps:
        command = args()
        began = time.monotonic()
        lab(*command, "--lab", name)
        marks.append((what, began, time.monotonic()))
        time.sleep(1.5)
    stop.set()
    worker.join()
    print(f"\n{'change, ' + str(concurrency) + ' connections in flight':40}{'converged':>10}{'requests':>10}{'failed':>8}")
    for what, began, converged in marks:
        overlapping = [r for r in rounds if r[1] >= began and r[0] <= converged]
        print(f"{what:40}{converged - began:9.2f}s{sum(r[2] for r in overlapping):10}"
              f"{sum(r[3] for r in overlapping):8}")


def load_test(name, rounds=20, concurrency=1000):
    _, cluster = find_running(name)
    client = lookup.netns_of(cluster, "client")
    latencies, failures = [], 0
    started = time.monotonic()
    for _ in range(rounds):
        outcomes = probe.run(probe.many([(client, "192.168.179.101", 30090, "/", 5.0)] * concurrency, concurrency))
        failures += sum(not o.ok for o in outcomes)
        latencies += [o.seconds for o in outcomes if o.ok]
    seconds = time.monotonic() - started
    total = rounds * concurrency
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    print(f"\n{total} requests, {concurrency} in flight at once, through NodePort 30090: {seconds:.2f} s, "
          f"{total / seconds:.0f} requests/s, {failures} failed")
    print(f"latency: median {statistics.median(latencies) * 1000:.1f} ms, p90 {q[89] * 1000:.1f} ms, "
          f"p99 {q[98] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")


def main():
    if os.geteuid() != 0:
        sys.exit("run as root: sudo python3 bench/bench_live.py")
    name = f"blive{os.getpid() % 1000}"
    lab("up", SEED, "--name", name)
    try:
        print(machine.line())
        with tempfile.TemporaryDirectory() as tmp:
            rolling(name, tmp)
            changes_under_load(name, tmp)
        load_test(name)
    finally:
        lab("down", name)


if __name__ == "__main__":
    main()
