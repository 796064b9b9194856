"""Exercises against a real lab: start (up, then break), actions, running the checks, progress.

Actions go through the same code as the verbs a student types (``lab apply``, ``lab delete``,
``lab exec``); files written are only the lab's own ``/etc/netns/<netns>/`` files. The
exercise's progress (which exercise, hints shown) is ``exercise.json`` in the lab's state
directory, so ``lab down`` forgets it with everything else.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import time
import types

from lab import (checks, cmd_changes, etcfiles, exercise_grade, exercises, lifecycle, probe, running, state)
from lab.errors import LabError

DEFAULT_LAB = "ex"
PROGRESS = "exercise.json"


# progress -------------------------------------------------------------------------------------

def progress(lab):
    record = state.Record.load(lab)
    if record is None:
        return None
    try:
        with open(record.path(PROGRESS)) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def save_progress(lab, data):
    record = state.Record.load(lab)
    path = record.path(PROGRESS)
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1)
    os.replace(path + ".tmp", path)


def running_exercises():
    """{lab: progress} for every lab that runs an exercise."""
    return {lab: p for lab in state.labs() if (p := progress(lab)) is not None}


def exercise_lab(lab=None):
    """(lab, progress) of the exercise to work on: ``lab``, $SVCLAB_LAB, or the only one running."""
    lab = lab or os.environ.get("SVCLAB_LAB")
    if lab:
        p = progress(lab)
        if p is None:
            if state.Record.load(lab) is None:
                raise LabError(f"lab {lab!r} is not up; start an exercise with: lab exercise start NAME")
            raise LabError(f"lab {lab!r} runs no exercise (it was brought up with lab up); "
                           "start one with: lab exercise start NAME")
        return lab, p
    found = running_exercises()
    if not found:
        raise LabError("no exercise is running; start one with: lab exercise start NAME (see: lab exercise list)")
    if len(found) > 1:
        raise LabError(f"several exercises are running (labs {', '.join(sorted(found))}); say which with --lab LAB")
    return next(iter(found.items()))


def load_running(p):
    """The Exercise a progress record names (from its folder, which must still be there)."""
    if not os.path.isfile(os.path.join(p["folder"], exercises.EXERCISE_FILE)):
        raise LabError(f"the exercise folder {p['folder']} is gone; reset needs it")
    return exercises.load(p["folder"])


# start / reset --------------------------------------------------------------------------------

def start(exercise, lab=DEFAULT_LAB, out=None, hints_shown=0, resets=0):
    """Bring the exercise's scenario up as ``lab`` and break it. If the break fails, the lab goes
    down again: a half-broken lab would grade wrongly."""
    out = out or sys.stdout
    lifecycle.up(exercise.scenario, lab, out=out)
    try:
        run_actions(exercise.breaks, lab)
        save_progress(lab, {"exercise": exercise.name, "folder": exercise.folder, "title": exercise.title,
                            "started": time.time(), "hints_shown": hints_shown, "resets": resets,
                            "last_check": None})
    except BaseException:
        lifecycle.down(lab)
        raise


def reset(lab, p, out=None):
    """Down and start again from scratch; hints already shown stay shown."""
    exercise = load_running(p)
    lifecycle.down(lab)
    start(exercise, lab, out, hints_shown=p.get("hints_shown", 0), resets=p.get("resets", 0) + 1)
    return exercise


SETTLE_SECONDS = 0.5


def solve(lab, exercise):
    solution = exercises.load_solution(exercise)
    run_actions(solution.actions, lab)
    # changes converge when every agent has acknowledged them, but the load balancer's
    # controller acknowledges once it has signalled nginx, before nginx's new workers run
    time.sleep(SETTLE_SECONDS)
    return solution


def next_hint(lab, p, exercise):
    """(number, total, text) of the next hint, or (None, total, None) when all were shown."""
    shown = p.get("hints_shown", 0)
    total = len(exercise.hints)
    if shown >= total:
        return None, total, None
    p["hints_shown"] = shown + 1
    save_progress(lab, p)
    return shown + 1, total, exercise.hints[shown]


# actions --------------------------------------------------------------------------------------

def run_actions(actions, lab):
    for action in actions:
        try:
            _run_action(action, lab)
        except LabError as exc:
            raise LabError(f"{action.where.file}: {action.where.path}: {action.describe()} failed: {exc}") from None


def _run_action(action, lab):
    quiet = io.StringIO()  # what apply and delete print would give the break away
    if action.kind == "apply":
        with contextlib.redirect_stdout(quiet):
            cmd_changes.run_apply(types.SimpleNamespace(filename=action.path, lab=lab))
        return
    _, cs = running.running(lab)
    if action.kind == "delete":
        name = pod_of(cs, action.target).name if action.resource == "pod" else action.target
        with contextlib.redirect_stdout(quiet):
            cmd_changes.run_delete(types.SimpleNamespace(kind=action.resource, name=name, namespace=action.namespace,
                                                         grace_period=0, lab=lab))
        return
    netns_name = running.resolve_target(cs, action.target)
    if action.kind == "exec":
        result = exec_in(netns_name, action.command, timeout=30)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()
            raise LabError(f"exit code {result.returncode}" + (f": {tail[-1]}" if tail else ""))
        return
    record = state.Record.load(lab)
    if netns_name not in record.etc_dirs:  # only files the lab itself wrote, and will remove
        raise LabError(f"{action.target} has no /etc/netns files of this lab")
    etcfiles.write(netns_name, {action.file: action.text})


def exec_in(netns_name, command, timeout):
    """A command inside a namespace as ``lab exec`` runs it (with /etc/netns files and /sys)."""
    try:
        return subprocess.run(["ip", "netns", "exec", netns_name, *command], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(command, 124, "", f"timed out after {timeout:g} s")
    except OSError as exc:
        return subprocess.CompletedProcess(command, 127, "", str(exc))


def pod_of(cs, target):
    """A pod by name, or the first pod (by name) with a label: ``pod:app=web``."""
    if target.startswith("pod:"):
        return running.labelled_pod(cs, target[4:])
    pods = [p for p in cs.pods if p.name == target]
    if len(pods) != 1:
        raise LabError(f"no pod named {target!r}" if not pods else f"several pods are named {target!r}")
    return pods[0]


# checks ---------------------------------------------------------------------------------------

def grade(lab, exercise):
    _, cs = running.running(lab)
    values = checks.placeholders(cs)
    results = tuple(_check(cs, values, c) for c in exercise.checks)
    return exercise_grade.Grade(exercise.name, results)


def _check(cs, values, c):
    started = time.monotonic()
    try:
        if c.kind == "probe":
            r = checks.run_all(cs, [c.spec])[0]
            expected = "every request answered, evenly spread" if c.spec.distribution else r.expected or ""
            return exercise_grade.CheckResult(c.name, r.passed, expected, r.got, r.seconds)
        if c.kind == "run":
            passed, expected, got = _run_command(cs, values, c)
        else:
            passed, expected, got = _service(cs, c)
    except LabError as exc:  # a name that is not there (yet): the check fails, the others still run
        passed, expected, got = False, "a check that can run", str(exc)
    return exercise_grade.CheckResult(c.name, passed, expected, got, time.monotonic() - started)


def _run_command(cs, values, c):
    command = [checks.expand(w, values, c.where.child("run")) for w in c.command]
    wanted = checks.expand(c.expect, values, c.where.child("expect")) if c.expect else None
    result = exec_in(running.resolve_target(cs, c.source), command, c.timeout)
    output = result.stdout + result.stderr
    expected = f"{wanted!r} in the output" if wanted else "exit code 0"
    if result.returncode != 0:
        last = output.strip().splitlines()
        return False, expected, f"exit code {result.returncode}" + (f": {last[-1]}" if last else "")
    if wanted is None:
        return True, expected, "exit code 0"
    line = next((ln.strip() for ln in output.splitlines() if wanted in ln), None)
    if line is not None:
        return True, expected, line
    lines = output.strip().splitlines()
    return False, expected, f"not in the {len(lines)} lines of {' '.join(command)}" if lines else "no output"


def _service(cs, c):
    svc = cs.service(c.namespace, c.service)
    if svc is None:
        return False, f"service {c.service}", "no such service"
    if c.field == "clusterIP":
        return svc.cluster_ip == c.value, f"clusterIP {c.value}", f"clusterIP {svc.cluster_ip}"
    if c.field == "externalIP":
        got = f"EXTERNAL-IP {svc.lb_ips[0]}" if svc.lb_ips else "EXTERNAL-IP <pending>"
        if c.value == "assigned":
            return bool(svc.lb_ips), "an EXTERNAL-IP", got
        if c.value == "pending":
            return not svc.lb_ips, "EXTERNAL-IP <pending>", got
        return c.value in svc.lb_ips, f"EXTERNAL-IP {c.value}", got
    ready = [e for port in svc.ports[:1] for e in cs.endpoints_for(svc, port) if e.ready]
    if c.value != "answering":
        return len(ready) == c.value, f"{c.value} ready endpoints", f"{len(ready)} ready endpoints"
    return _endpoints_answer(cs, ready)


def _endpoints_answer(cs, ready):
    """Every endpoint the control plane lists answers when its own node connects to it."""
    if not ready:
        return False, "every endpoint answers", "no endpoints"
    outcomes = probe.run(probe.many([(cs.node(e.node).netns, str(e.ip), e.port, "/", 1.0) for e in ready]))
    silent = [f"{e.address} ({e.pod}): {o.kind}" for e, o in zip(ready, outcomes) if not o.ok]
    got = f"{len(ready) - len(silent)} of {len(ready)} answer" + (f"; {', '.join(silent)}" if silent else "")
    return not silent, "every endpoint answers", got
