"""``lab apply`` killed with SIGKILL at 20 moments: 12 from 0.01 s to 0.8 s after it started (Python
starting, waiting for the lock, the new pods' namespaces and links half made, the state published
but not acknowledged, ...), and 8 taken from what it does (just after its first new namespace
appears, or just after it tells the pod servers of its new pods: where it leaves the most to undo,
however fast the machine). The next ``apply`` must finish or undo what the killed one left.

Each round starts from 2 replicas: the killed apply scales to 5 (three new pods), then a normal
apply scales to 3 (making again the first pod the killed one made: its namespace, veth and files
must be free) and another to 2. After the first, every pod ``lab get pods`` lists answers with its
own name from its node, every daemon the record lists runs, and the lab's namespaces are exactly
those its record lists; after ``lab down`` nothing is left (namespaces, /run/svclab/<lab>,
/etc/netns, the UTS mounts). One seed lab for the whole loop."""

import json
import os
import signal
import subprocess
import sys
import time

from factories import NOTHING_LEFT, ROOT, SCENARIOS, Lab, leftovers, netns_list, run_lab, unique_lab_name
from lab.kernel import record

DEPLOYMENT = open(os.path.join(SCENARIOS, "seed", "pod-nodeport.yml")).read()


# 12 moments, seconds after the killed apply started: Python starting, the lock, the plan, the new
# pods' namespaces, links and files, their servers, the state published, kube-proxy and DNS told, done
MOMENTS = [round(0.01 + i * (0.8 - 0.01) / 11, 3) for i in range(12)]
# 8 more, whatever the machine's speed: this long after the killed apply's first new namespace
# appears, or after it first tells the pod servers (the lab's generation file changes), the state
# not yet published: where it leaves the most to undo
AFTER = ([{"namespace": t} for t in (0.005, 0.01, 0.02, 0.03)]
         + [{"servers_told": t} for t in (0, 0.002, 0.005, 0.01)])


def scaled(tmp_path, replicas):
    path = tmp_path / f"scale{replicas}.yml"
    path.write_text(DEPLOYMENT.replace("replicas: 2", f"replicas: {replicas}"))
    return str(path)


def _generation(lab):
    try:
        with open(os.path.join(record.ROOT, lab.name, "generation")) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def kill_apply(lab, manifest, delay=None, namespace=None, servers_told=None):
    """``lab apply -f manifest`` SIGKILLed ``delay`` seconds after it started, or so long after its
    first new namespace appeared or it first told the pod servers (or once it finished, if before).
    The exit code and the seconds from start to the kill."""
    namespaces, generation = netns_list(), _generation(lab)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "lab", "apply", "-f", manifest, "--lab", lab.name], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if delay is None:
        def seen():
            if namespace is not None:
                return any(n.startswith(lab.name + "-") for n in netns_list() - namespaces)
            return _generation(lab) != generation
        while proc.poll() is None and not seen() and time.monotonic() - started < 10:
            time.sleep(0.0005)
    time.sleep(delay if delay is not None else namespace if namespace is not None else servers_told)
    killed_at = time.monotonic() - started
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    return proc.returncode, round(killed_at, 3)


def check_serving(lab, replicas):
    """Every pod listed answers ``You've hit <its name>`` from its node; every recorded daemon runs."""
    pods = json.loads(lab.get("pods", "-o", "json"))["items"]
    assert len(pods) == replicas, [p["metadata"]["name"] for p in pods]
    by_node = {}
    for p in pods:
        by_node.setdefault(p["spec"]["nodeName"], []).append((p["metadata"]["name"], p["status"]["podIP"]))
    for node, members in by_node.items():
        # one exec per node: a line per pod, its curl's body or its failure
        script = "; ".join(f"curl -s -m 2 {ip}:8080 || echo FAILED {ip}" for _, ip in members)
        out = lab.exec(node, "sh", "-c", script).stdout
        assert out.splitlines() == [f"You've hit {name}" for name, _ in members], (node, out)
    status = json.loads(run_lab("status", "-o", "json").stdout)
    row = next(r for r in status if r["lab"] == lab.name)
    assert row["phase"] == "up" and row["daemons"] > 0 and row["daemons_running"] == row["daemons"], row
    assert row["namespaces_present"] == row["namespaces"], row
    state = json.load(open(os.path.join(record.ROOT, lab.name, "state.json")))
    present = netns_list()
    assert all(n in present for n in state["namespaces"]), set(state["namespaces"]) - present
    # no namespace of the lab exists that its record does not list (a killed apply's half-made pod)
    assert {n for n in present if n.startswith(lab.name + "-")} == set(state["namespaces"])


def test_killed_apply_is_repaired_by_the_next(tmp_path):
    lab = Lab(os.path.join(SCENARIOS, "seed.yml"), unique_lab_name("ka"))
    five, three, two = scaled(tmp_path, 5), scaled(tmp_path, 3), scaled(tmp_path, 2)
    lab.up()
    outcomes = []
    try:
        check_serving(lab, 2)
        for moment in [{"delay": t} for t in MOMENTS] + AFTER:
            # from 2 replicas the killed apply makes 3 pods; the next apply makes the first of them again
            outcomes.append(kill_apply(lab, five, **moment))
            out = run_lab("apply", "-f", three, "--lab", lab.name).stdout
            assert "converged in" in out, out
            check_serving(lab, 3)
            out = run_lab("apply", "-f", two, "--lab", lab.name).stdout
            assert "converged in" in out and len(json.loads(lab.get("pods", "-o", "json"))["items"]) == 2, out
    finally:
        run_lab("down", lab.name, check=False)
    assert leftovers(lab.name) == NOTHING_LEFT
    # most applies were killed before they finished (the rest finished first: exit 0)
    codes = [code for code, _ in outcomes]
    assert codes.count(-signal.SIGKILL) >= 10 and set(codes) <= {0, -signal.SIGKILL}, outcomes
