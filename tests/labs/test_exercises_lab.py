"""Classroom exercises on real labs: every exercise starts broken (some check fails) and its
reference fix makes every check pass; then, reset, most are solved again with the real kubectl
alone, from the host, as TASK.md tells the student (edit, patch, apply, scale, delete,
port-forward), and grade passed: the checks look at the lab, not at how it was changed. The CLI's
list, start, check, hint, reset and solve work end to end; a break that fails takes its lab down.
The exercise files themselves: tests/unit/test_exercises.py."""

import csv
import io
import json
import os
import select
import socket
import subprocess
import time

import pytest

from factories import exercise_copy, exercise_folders, needs_tools, run_lab, spoil, unique_lab_name
from lab.classroom.exercise import runner, catalog
from lab.live import down
from lab.kernel import record
from lab.errors import LabError

FOLDERS, NAMES = exercise_folders()
KUBECTL_SECONDS = 60  # one kubectl command, at most
SETTLE_SECONDS = 10  # a fix made through the API, until every check passes (the load balancer's nginx reloads)
HEADLESS_DB = """apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: peer, port: 8080, targetPort: peer}]
"""


class Kubectl:
    """The real kubectl on the host, with the lab's kubeconfig as ``lab kubeconfig`` prints it (the
    student's ``sudo KUBECONFIG=$(sudo python3 -m lab kubeconfig) kubectl``); the port-forwards it
    started end with ``close``."""

    def __init__(self, lab, tmp_path):
        self.env = dict(os.environ, KUBECONFIG=run_lab("kubeconfig", "--lab", lab).stdout.strip())
        self.env.pop("KUBE_EDITOR", None)
        self.tmp_path, self.forwards = tmp_path, []

    def __call__(self, *args, input=None, check=True, env=None):
        r = subprocess.run(["kubectl", "--request-timeout=30s", *args], env=dict(self.env, **(env or {})),
                           input=input, capture_output=True, text=True, timeout=KUBECTL_SECONDS)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {r.returncode}: {r.stderr}")
        return r

    def edit(self, what, sed):
        """``kubectl edit WHAT`` with EDITOR a script that runs ``sed -i SED`` on the file."""
        editor = self.tmp_path / "editor.sh"
        editor.write_text(f"#!/bin/sh\nexec sed -i '{sed}' \"$1\"\n")
        editor.chmod(0o755)
        return self("edit", what, env={"EDITOR": str(editor)})

    def port_forward(self, what, ports):
        """``kubectl port-forward WHAT PORTS``, left running; returns once it listens."""
        proc = subprocess.Popen(["kubectl", "port-forward", what, ports], env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.forwards.append(proc)
        deadline = time.monotonic() + KUBECTL_SECONDS
        line = ""
        while not line.startswith("Forwarding from"):
            left = deadline - time.monotonic()
            assert left > 0 and proc.poll() is None, f"kubectl port-forward {what} {ports}: {line!r}"
            if select.select([proc.stdout], [], [], min(left, 1.0))[0]:
                line = proc.stdout.readline()
        return proc

    def close(self):
        for proc in self.forwards:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def loopback_port(ex):
    return next(c.port for c in ex.checks if c.kind == "loopback")


# the fixes a student types, kubectl alone ---------------------------------------------------------

def selector_no_endpoints(k, ex):  # a JSON patch: the selector loses the label no pod has
    k("patch", "svc", "web", "--type=json", "-p", '[{"op": "remove", "path": "/spec/selector/tier"}]')


def wrong_target_port(k, ex):  # kubectl edit: the defaulted targetPort (the Service's port) becomes the pods' port name
    k.edit("svc/api", "s/targetPort: 80$/targetPort: http/")


def loadbalancer_pending(k, ex):
    k("delete", "svc", "promo")


def seed_reproduce(k, ex):
    k("apply", "-f", os.path.join(ex.folder, "solution", "service.yml"))


def statefulset_peers(k, ex):
    # the two edits a student tries first are refused, as kube-apiserver refuses them
    r = k("patch", "svc", "db-svc", "-p", '{"spec": {"clusterIP": "None"}}', check=False)
    assert r.returncode == 1 and r.stderr.strip() == ('The Service "db-svc" is invalid: spec.clusterIPs[0]: Invalid '
                                                      'value: []string{"None"}: may not change once set'), r.stderr
    r = k("patch", "statefulset", "db", "-p", '{"spec": {"serviceName": "db-svc"}}', check=False)
    assert r.returncode == 1 and "spec: Forbidden: updates to statefulset spec for fields other than" in r.stderr
    k("apply", "-f", "-", input=HEADLESS_DB)


def port_forward_clusterip(k, ex):
    port = loopback_port(ex)
    r = k("port-forward", "svc/admin", f"{port}:80", check=False)  # what the student sees first
    assert r.returncode == 1 and "does not have a named port 'console'" in r.stderr, r.stderr
    k("patch", "svc", "admin", "-p", '{"spec": {"ports": [{"port": 80, "targetPort": "http"}]}}')
    k.port_forward("svc/admin", f"{port}:80")


def scaled_to_zero(k, ex):
    k("scale", "deployment", "web", "--replicas=3")


# seven of the twelve (03 and 04 are repaired on a node, which the API does not reach; 05, 07 and 08
# have kubectl fixes too, left out to keep the suite short: kubectl delete pod, kubectl scale)
KUBECTL_FIXES = {f.__name__.replace("_", "-"): f for f in (
    selector_no_endpoints, wrong_target_port, loadbalancer_pending, seed_reproduce, statefulset_peers,
    port_forward_clusterip, scaled_to_zero)}


def uses_kubectl(folder):
    ex = catalog.load(folder)
    return ex.short in KUBECTL_FIXES or any(c.kind == "loopback" for c in ex.checks)


EXERCISES = [pytest.param(f, id=n, marks=needs_tools("kubectl", why="kubectl fixes and port-forwards")
                          if uses_kubectl(f) else ()) for f, n in zip(FOLDERS, NAMES)]


def on_a_free_port(folder, tmp_path):
    """The exercise itself, or, when a check reads a port of the host's loopback (shared with
    everything else on this machine), a copy of it that uses a port nobody holds."""
    ex = catalog.load(folder)
    if not any(c.kind == "loopback" for c in ex.checks):
        return ex
    port = loopback_port(ex)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    copy = exercise_copy(tmp_path, folder, ex.name)
    spoil(copy, f"loopback: {port}", f"loopback: {free}")
    fix = copy / "solution" / "fix.yml"
    fix.write_text(fix.read_text().replace(f"local: {port}", f"local: {free}"))
    return catalog.load(copy)


def failures(grade):
    return [f"{r.name}: expected {r.expected}, got {r.got}" for r in grade.results if not r.passed]


def solved_within(lab, ex, seconds):
    """The grade once every check passes, or the last one after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        grade = runner.grade(lab, ex)
        if grade.solved or time.monotonic() > deadline:
            return grade
        time.sleep(0.5)


@pytest.mark.parametrize("folder", EXERCISES)
def test_broken_then_fixed(folder, tmp_path):
    ex = on_a_free_port(folder, tmp_path)
    lab = unique_lab_name("x")
    k = None
    try:
        runner.start(ex, lab, out=io.StringIO())
        broken = runner.grade(lab, ex)
        assert not broken.solved, f"{ex.name}: every check passes before the fix"
        runner.solve(lab, ex)
        fixed = runner.grade(lab, ex)
        assert fixed.solved, f"{ex.name}: after the reference fix: {failures(fixed)}"
        if ex.short in KUBECTL_FIXES:
            runner.reset(lab, runner.progress(lab), out=io.StringIO())
            assert not runner.grade(lab, ex).solved, f"{ex.name}: every check passes after reset"
            k = Kubectl(lab, tmp_path)
            KUBECTL_FIXES[ex.short](k, ex)
            fixed = solved_within(lab, ex, SETTLE_SECONDS)
            assert fixed.solved, f"{ex.name}: after the fix with kubectl alone: {failures(fixed)}"
    finally:
        if k is not None:
            k.close()
        down.down(lab)
    assert record.Record.load(lab) is None


def test_cli_session(tmp_path):
    """What a student and a teacher type: start, check, hint, report, reset, solve, list."""
    lab = unique_lab_name("x")
    ex = catalog.load(FOLDERS[0])
    try:
        r = run_lab("exercise", "start", ex.name, "--name", lab)
        assert ex.title in r.stdout and "You are done when" in r.stdout and f"--lab {lab}" in r.stdout
        assert "break" not in r.stdout.lower()  # what the break did is not shown
        assert f"sudo KUBECONFIG=$(sudo python3 -m lab kubeconfig --lab {lab}) kubectl get pods" in r.stdout
        listed = run_lab("exercise", "list").stdout
        assert f"running (lab {lab})" in next(line for line in listed.splitlines() if line.startswith(ex.name))

        r = run_lab("exercise", "check", "--lab", lab, check=False)
        assert r.returncode == 1 and "  FAIL  " in r.stdout and "Score: " in r.stdout
        report_json, report_csv = str(tmp_path / "class.json"), str(tmp_path / "class.csv")
        r = run_lab("exercise", "check", "--lab", lab, "-o", "json", "--report", report_json, "--student", "ana",
                    check=False)
        doc = json.loads(r.stdout)
        assert r.returncode == 1 and doc["solved"] is False and doc["total"] == len(ex.checks)

        for i in range(len(ex.hints)):
            r = run_lab("exercise", "hint", "--lab", lab)
            assert r.stdout.strip() == f"Hint {i + 1}/{len(ex.hints)}: {ex.hints[i]}"
        assert "No more hints" in run_lab("exercise", "hint", "--lab", lab).stdout
        solution = catalog.load_solution(ex)
        assert all(solution.description not in h for h in ex.hints)

        assert "Applied the reference fix" in run_lab("exercise", "solve", "--lab", lab).stdout
        r = run_lab("exercise", "check", "--lab", lab, "--report", report_csv, "--student", "ana")
        assert "Score: {0}/{0}".format(len(ex.checks)) in r.stdout
        assert "last check" in run_lab("exercise", "list").stdout
        assert ex.summary in run_lab("exercise", "list", "-o", "wide").stdout

        r = run_lab("exercise", "reset", "--lab", lab)
        assert f"hints shown so far: {len(ex.hints)}" in r.stdout
        assert run_lab("exercise", "check", "--lab", lab, check=False).returncode == 1  # broken again
        assert "No more hints" in run_lab("exercise", "hint", "--lab", lab).stdout  # hints stay shown
        assert ex.title in run_lab("exercise", "task", "--lab", lab).stdout

        entries = json.load(open(report_json))
        assert len(entries) == 1 and entries[0]["student"] == "ana" and entries[0]["hints_used"] == 0
        rows = list(csv.DictReader(open(report_csv)))
        assert rows[0]["solved"] == "True" and rows[0]["hints_used"] == str(len(ex.hints))
    finally:
        run_lab("down", lab, check=False)
    r = run_lab("exercise", "hint", "--lab", lab, check=False)
    assert r.returncode == 2 and "is not up" in r.stderr


def test_a_failing_break_takes_the_lab_down(tmp_path):
    ex_dir = exercise_copy(tmp_path)
    spoil(ex_dir, "  - apply: break/service.yml", "  - {exec: {target: node1, command: ['false']}}")
    ex = catalog.load(ex_dir)
    lab = unique_lab_name("x")
    with pytest.raises(LabError, match=r"break\[0\]: exec on node1: false failed: exit code 1"):
        runner.start(ex, lab, out=io.StringIO())
    assert record.Record.load(lab) is None
