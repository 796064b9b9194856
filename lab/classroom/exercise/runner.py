"""Exercises against a real lab: start (up, then break), actions, running the checks, progress.

Actions go through the same code as the verbs a student types (``lab apply``, ``lab delete``,
``lab exec``, and the real ``kubectl port-forward`` for a forward); files written are only the
lab's own ``/etc/netns/<netns>/`` files. Checks look at the lab (its traffic, its rules, the
control plane's objects), never at how it was changed: a fix made with kubectl, through the
lab's API server, grades as the same fix made with ``lab apply``. The
exercise's progress (which exercise, hints shown) is ``exercise.json`` in the lab's state
directory, so ``lab down`` forgets it with everything else.
"""

import json
import os
import sys
import time

from lab.classroom.exercise import catalog, hostport
from lab.classroom.exercise import grade as exercise_grade
from lab.cluster import lookup
from lab.errors import LabError
from lab.kernel import commands, etcdirs, record
from lab.kernel.files import write_atomic
from lab.kernel.record import find_running
from lab.live import changes, down, up
from lab.verify import checks, probe, report

KINDS = {"pod": "Pod", "svc": "Service", "deployment": "Deployment"}  # catalog.DELETE_KINDS -> API kind

DEFAULT_LAB = "ex"
PROGRESS = "exercise.json"


# progress -------------------------------------------------------------------------------------

def progress(lab):
    lab_record = record.Record.load(lab)
    if lab_record is None:
        return None
    try:
        with open(lab_record.path(PROGRESS)) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def save_progress(lab, data):
    write_atomic(record.Record.load(lab).path(PROGRESS), json.dumps(data, indent=1))


def running_exercises():
    """{lab: progress} for every lab that runs an exercise."""
    return {lab: p for lab in record.labs() if (p := progress(lab)) is not None}


def exercise_lab(lab=None):
    """(lab, progress) of the exercise to work on: ``lab``, $SVCLAB_LAB, or the only one running."""
    lab = (os.environ.get("SVCLAB_LAB") or None) if lab is None else lab
    if lab is not None:  # '' too: an invalid name is refused, never read as "the only one running"
        p = progress(lab)
        if p is None:
            if record.Record.load(lab) is None:
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
    if not os.path.isfile(os.path.join(p["folder"], catalog.EXERCISE_FILE)):
        raise LabError(f"the exercise folder {p['folder']} is gone; reset needs it")
    return catalog.load(p["folder"])


# start / reset --------------------------------------------------------------------------------

def start(exercise, lab=DEFAULT_LAB, out=None, hints_shown=0, resets=0):
    """Bring the exercise's scenario up as ``lab`` and break it. If the break fails, the lab goes
    down again: a half-broken lab would grade wrongly."""
    out = out or sys.stdout
    up.up(exercise.scenario, lab, out=out)
    try:
        run_actions(exercise.breaks, lab)
        save_progress(lab, {"exercise": exercise.name, "folder": exercise.folder, "title": exercise.title,
                            "started": time.time(), "hints_shown": hints_shown, "resets": resets,
                            "last_check": None})
    except BaseException:
        down.down(lab)
        raise


def reset(lab, p, out=None):
    """Down and start again from scratch; hints already shown stay shown."""
    exercise = load_running(p)
    down.down(lab)
    start(exercise, lab, out, hints_shown=p.get("hints_shown", 0), resets=p.get("resets", 0) + 1)
    return exercise


SETTLE_SECONDS = 0.5


def solve(lab, exercise):
    solution = catalog.load_solution(exercise)
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
    """One step of a break or a fix, through the library behind the verbs a student types, quietly
    (what apply and delete say would give the break away)."""
    if action.kind == "apply":
        changes.apply_file(lab, action.path)
        return
    if action.kind == "forward":
        hostport.start_forward(lab, action.target, action.namespace, action.local, action.port)
        return
    _, cluster = find_running(lab)
    if action.kind == "delete":
        name = lookup.pod_by_name(cluster, action.target).name if action.resource == "pod" else action.target
        changes.delete(lab, KINDS[action.resource], action.namespace, name)
        return
    netns_name = lookup.netns_of(cluster, action.target)
    if action.kind == "exec":
        result = commands.run_user(action.command, netns_name, timeout=30, lab=lab)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()
            raise LabError(f"exit code {result.returncode}" + (f": {tail[-1]}" if tail else ""))
        return
    lab_record = record.Record.load(lab)
    if netns_name not in lab_record.etc_dirs:  # only files the lab itself wrote, and will remove
        raise LabError(f"{action.target} has no /etc/netns files of this lab")
    etcdirs.write(netns_name, {action.file: action.text})


# checks ---------------------------------------------------------------------------------------

def grade(lab, exercise):
    _, cluster = find_running(lab)
    values = checks.placeholders(cluster)
    results = tuple(_check(cluster, values, c) for c in exercise.checks)
    return exercise_grade.Grade(exercise.name, results)


def check(lab, p):
    """Grade the running exercise and remember the result in its progress: (exercise, grade)."""
    exercise = load_running(p)
    result = grade(lab, exercise)
    p["last_check"] = {"score": result.score, "solved": result.solved}
    save_progress(lab, p)
    return exercise, result


def _check(cluster, values, c):
    started = time.monotonic()
    try:
        if c.kind == "probe":
            r = checks.run_all(cluster, [c.spec])[0]
            expected = "every request answered, evenly spread" if c.spec.distribution else r.expected or ""
            return exercise_grade.GradedCheck(c.name, r.passed, expected, r.got, r.seconds)
        if c.kind == "run":
            passed, expected, got = _run_command(cluster, values, c)
        elif c.kind == "loopback":
            passed, expected, got = _loopback(c)
        else:
            passed, expected, got = _service(cluster, c)
    except LabError as exc:  # a name that is not there (yet): the check fails, the others still run
        passed, expected, got = False, "a check that can run", str(exc)
    return exercise_grade.GradedCheck(c.name, passed, expected, got, time.monotonic() - started)


def _run_command(cluster, values, c):
    command = [checks.expand(w, values, c.where.child("run")) for w in c.command]
    wanted = checks.expand(c.expect, values, c.where.child("expect")) if c.expect else None
    result = commands.run_user(command, lookup.netns_of(cluster, c.source), c.timeout, cluster.lab)
    return report.run_verdict(result.returncode, result.stdout, result.stderr, wanted, command)


def _loopback(c):
    """What the host's 127.0.0.1:PORT answers (a student's kubectl port-forward, say)."""
    answered, got = hostport.get(c.port, c.timeout)
    return answered and got.startswith(c.expect), f"{c.expect!r} from http://127.0.0.1:{c.port}/", got


def _service(cluster, c):
    svc = cluster.service(c.namespace, c.service)
    if svc is None:
        return False, f"service {c.service}", "no such service"
    if c.field == "clusterIP":
        return svc.cluster_ip == c.value, f"clusterIP {c.value}", f"clusterIP {svc.cluster_ip}"
    if c.field == "type":
        return svc.type == c.value, f"type {c.value}", f"type {svc.type}"
    if c.field == "externalIP":
        got = f"EXTERNAL-IP {svc.lb_ips[0]}" if svc.lb_ips else "EXTERNAL-IP <pending>"
        if c.value == "assigned":
            return bool(svc.lb_ips), "an EXTERNAL-IP", got
        if c.value == "pending":
            return not svc.lb_ips, "EXTERNAL-IP <pending>", got
        return c.value in svc.lb_ips, f"EXTERNAL-IP {c.value}", got
    ready = [e for port in svc.ports[:1] for e in cluster.endpoints_for(svc, port) if e.ready]
    if c.value != "answering":
        return len(ready) == c.value, f"{c.value} ready endpoints", f"{len(ready)} ready endpoints"
    return _endpoints_answer(cluster, ready)


def _endpoints_answer(cluster, ready):
    """Every endpoint the control plane lists answers when its own node connects to it."""
    if not ready:
        return False, "every endpoint answers", "no endpoints"
    outcomes = probe.run(probe.many([(cluster.node(e.node).netns, str(e.ip), e.port, "/", 1.0) for e in ready]))
    silent = [f"{e.address} ({e.pod}): {o.kind}" for e, o in zip(ready, outcomes) if not o.ok]
    got = f"{len(ready) - len(silent)} of {len(ready)} answer" + (f"; {', '.join(silent)}" if silent else "")
    return not silent, "every endpoint answers", got
