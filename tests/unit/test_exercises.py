"""Classroom exercises: the exercise files are validated strictly, the teacher's report is written as
JSON or CSV, and the CLI refuses bad input. Every exercise broken then fixed on a real lab, and the
CLI's list, start, check, hint, reset and solve end to end: tests/labs/test_exercises_lab.py."""

import csv
import json
import os
import shutil

import pytest

from factories import exercise_copy, exercise_folders, run_lab, spoil
from lab.classroom.exercise import grade, catalog
from lab.errors import InputError, LabError

FOLDERS, NAMES = exercise_folders()


# the exercise files -----------------------------------------------------------------------------

def test_the_classroom_set():
    assert len(FOLDERS) >= 12
    topics = ("selector-no-endpoints", "wrong-target-port", "node-forwarding-off", "hairpin-off", "dns-resolv-conf",
              "loadbalancer-pending", "local-policy-no-pod", "stale-endpoint", "seed-reproduce", "statefulset-peers",
              "port-forward-clusterip", "scaled-to-zero")
    for topic in topics:
        assert any(n.endswith(topic) for n in NAMES), topic


@pytest.mark.parametrize("folder", FOLDERS, ids=NAMES)
def test_every_task_says_kubectl_may_fix_it(folder):
    """The student reads how to reach the lab with kubectl (inside the lab and from the host) and
    that the grade looks at the lab, not at the tool that changed it."""
    task = " ".join(catalog.task_text(catalog.load(folder)).split())
    assert "`lab shell master`" in task and "sudo KUBECONFIG=$(sudo python3 -m lab kubeconfig) kubectl" in task
    assert "`lab exercise check` looks at the lab, not at how you changed it" in task
    assert "lab apply -f FILE" in task or "lab exec node1 --" in task or "lab delete" in task


@pytest.mark.parametrize("folder", FOLDERS, ids=NAMES)
def test_every_exercise_is_valid(folder):
    ex = catalog.load(folder, deep=True)
    assert ex.title and ex.summary and ex.hints and ex.checks
    assert len({c.name for c in ex.checks}) == len(ex.checks)
    solution = catalog.load_solution(ex)
    assert solution.actions and solution.description
    task = catalog.task_text(ex)
    assert task.startswith("# ") and "You are done when" in task
    hints = " ".join(ex.hints)
    assert solution.description not in hints


def test_finding_exercises_by_name_number_or_folder():
    first = FOLDERS[0]
    base = os.path.basename(first)
    assert catalog.find(base) == first
    assert catalog.find(base.split("-", 1)[1]) == first
    assert catalog.find("1") == first == catalog.find("01")
    assert catalog.find(first) == first
    with pytest.raises(LabError, match="no exercise named 'nosuch'"):
        catalog.find("nosuch")


@pytest.fixture
def ex_dir(tmp_path):
    """A copy of the first exercise to spoil, one field at a time."""
    return exercise_copy(tmp_path)


@pytest.mark.parametrize("old,new,message", [
    ("title:", "titel:", "titel: unknown field (allowed here: break, checks, hints, scenario, summary, title)"),
    ("scenario: scenario.yml", "scenario: nosuch.yml", "scenario: 'nosuch.yml': file not found"),
    ("  - apply: break/service.yml", "  - {apply: break/service.yml, delete: {kind: pod, name: x}}",
     "break[0]: an action has exactly one of: apply, delete, exec, write"),
    ("  - apply: break/service.yml", "  - {reboot: node1}", "break[0].reboot: unknown field"),
    ("  - apply: break/service.yml", "  - {delete: {kind: node, name: node1}}",
     "break[0].delete.kind: cannot delete a 'node' (use pod, service or deployment)"),
    ("  - apply: break/service.yml", "  - {write: {target: node1, file: passwd, text: x}}",
     "break[0].write.file: 'passwd' is not allowed (use one of: resolv.conf, hosts)"),
    ("  - apply: break/service.yml", "  - {exec: {target: node1, command: []}}", "break[0].exec.command: the command is empty"),
    ("  - apply: break/service.yml", "  - {exec: {target: 'Node 1', command: [true]}}",
     "break[0].exec.target: 'Node 1' is not a valid target"),
    ("{name: \"web has both pods as endpoints\", service: web, endpoints: 2}",
     "{name: \"web has both pods as endpoints\", service: web, endpoints: 2, clusterIP: 10.96.0.9}",
     "a service check has exactly one of: clusterIP, externalIP, endpoints"),
    ("{name: \"web has both pods as endpoints\", service: web, endpoints: 2}",
     "{name: \"web has both pods as endpoints\", service: web, endpoints: many}", "endpoints: expected an integer"),
    ("{name: \"web has both pods as endpoints\", service: web, endpoints: 2}", "{service: web, endpoints: 2}",
     "checks[3]: a check needs a name"),
    ("{name: \"web has both pods as endpoints\", service: web, endpoints: 2}",
     "{name: \"web has both pods as endpoints\", from: client, url: 'http://{node1}:30080'}",
     "checks[3]: a check needs expect"),
    ("{name: \"web has both pods as endpoints\", service: web, endpoints: 2}",
     "{name: \"a node reaches web's ClusterIP\", service: web, endpoints: 2}", "two checks are named"),
    ("hints:", "hints: []\nold_hints:", "old_hints: unknown field"),
    ("  - apply: break/service.yml", "  - {forward: {service: web, local: 80, port: 80}}",
     "break[0].forward.local: 80 is out of range"),
    ("  - apply: break/service.yml", "  - {forward: {service: web, port: 80}}",
     "break[0].forward.local: is required"),
    ("  - apply: break/service.yml", "  - {forward: {service: Web!, local: 9090, port: 80}}",
     "break[0].forward.service: 'Web!' is not a valid service name"),
    ("{name: \"web has both pods as endpoints\", service: web, endpoints: 2}",
     "{name: \"web has both pods as endpoints\", loopback: 9090}", "checks[3].expect: is required"),
    ("{name: \"web has both pods as endpoints\", service: web, endpoints: 2}",
     "{name: \"web has both pods as endpoints\", loopback: 99999, expect: x}",
     "checks[3].loopback: 99999 is out of range"),
    ("{name: \"web has both pods as endpoints\", service: web, endpoints: 2}",
     "{name: \"web has both pods as endpoints\", service: web, type: Headless}",
     "checks[3].type: 'Headless' is not allowed (use one of: ClusterIP, NodePort, LoadBalancer, ExternalName)"),
])
def test_exercise_file_errors(ex_dir, old, new, message):
    spoil(ex_dir, old, new)
    with pytest.raises(InputError) as err:
        catalog.load(ex_dir, deep=True)
    assert message in str(err.value) and str(ex_dir / "exercise.yml") in str(err.value)
    assert "\n" not in str(err.value)


def test_forward_actions_and_loopback_checks(ex_dir):
    spoil(ex_dir, "  - apply: break/service.yml", "  - {forward: {service: web, local: 9090, port: 80}}")
    spoil(ex_dir, "{name: \"web has both pods as endpoints\", service: web, endpoints: 2}",
          "{name: \"web has both pods as endpoints\", loopback: 9090, expect: \"You've hit web-\"}")
    resolves = "{name: \"web's name resolves in the cluster\", from: \"pod:app=web\", dns: web, expect: \"{svc:web}\"}"
    spoil(ex_dir, resolves, "{name: \"web is headless\", service: web, clusterIP: None}")
    ex = catalog.load(ex_dir)
    forward = ex.breaks[0]
    assert (forward.kind, forward.target, forward.namespace, forward.local, forward.port) == \
        ("forward", "web", "default", 9090, 80)
    assert forward.describe() == "kubectl port-forward svc/web 9090:80"
    loopback, headless = ex.checks[3], ex.checks[4]
    assert (loopback.kind, loopback.port, loopback.expect, loopback.timeout) == \
        ("loopback", 9090, "You've hit web-", 2.0)
    assert (headless.kind, headless.field, headless.value) == ("service", "clusterIP", "None")


def test_missing_task_break_and_bad_manifest(ex_dir):
    (ex_dir / "break" / "service.yml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
                                                   "spec: {ports: [{port: 80, colour: red}]}\n")
    with pytest.raises(InputError, match=r"service.yml: spec.ports\[0\].colour: unknown field"):
        catalog.load(ex_dir)
    spoil(ex_dir, "break:\n  - apply: break/service.yml\n", "")
    with pytest.raises(InputError, match="no break: field"):
        catalog.load(ex_dir)
    spoil(ex_dir, "checks:", "break: []\nchecks:")
    assert catalog.load(ex_dir).breaks == ()
    (ex_dir / "TASK.md").unlink()
    with pytest.raises(InputError, match="TASK.md: file not found"):
        catalog.load(ex_dir)


def test_bad_solution_file(ex_dir):
    (ex_dir / "solution" / "fix.yml").write_text("description: x\nactions: [{apply: nosuch.yml}]\n")
    with pytest.raises(InputError, match=r"fix.yml: actions\[0\].apply: 'nosuch.yml': file not found"):
        catalog.load(ex_dir, deep=True)
    shutil.rmtree(ex_dir / "solution")
    ex = catalog.load(ex_dir, deep=True)  # students may get exercises without the reference fix
    with pytest.raises(LabError, match="has no reference fix"):
        catalog.load_solution(ex)


# grading and reports --------------------------------------------------------------------------

def _grade(*passed):
    return grade.Grade("01-x", tuple(grade.GradedCheck(f"check {i}", p, "ok", "ok" if p else "bad")
                                             for i, p in enumerate(passed)))


def test_grade_model():
    g = _grade(True, False, True)
    assert (g.score, g.solved, g.exit_code) == ("2/3", False, 1)
    assert _grade(True, True).exit_code == 0
    text = grade.render(g, "Title")
    assert "  FAIL  check 1" in text and "expected ok, got bad" in text and "Score: 2/3" in text
    assert "solved" in grade.render(_grade(True), "Title")


def test_reports_json_and_csv(tmp_path):
    entry = grade.record(_grade(True, False), "ana", "ex", 2)
    assert entry["score"] == "1/2" and entry["hints_used"] == 2 and entry["student"] == "ana"
    path = str(tmp_path / "class.json")
    grade.append_report(path, entry)
    grade.append_report(path, grade.record(_grade(True, True), "ben", "ex", 0))
    entries = json.load(open(path))
    assert [e["student"] for e in entries] == ["ana", "ben"] and entries[1]["solved"] is True
    path = str(tmp_path / "class.csv")
    grade.append_report(path, entry)
    grade.append_report(path, entry)
    rows = list(csv.reader(open(path)))
    assert rows[0] == grade.CSV_COLUMNS and len(rows) == 3
    assert dict(zip(rows[0], rows[1]))["failed"] == "check 1"


def test_report_errors(tmp_path):
    with pytest.raises(LabError, match="name a .json or .csv file"):
        grade.report_format("results.txt")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(LabError, match="not a JSON report"):
        grade.append_report(str(bad), {})
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(LabError, match="not the report's header"):
        grade.append_report(str(other), grade.record(_grade(True), "x", "ex", 0))
    assert other.read_text() == "a,b\n1,2\n"


def test_cli_bad_input_is_one_line_exit_2(tmp_path):
    r = run_lab("exercise", "start", "nosuch", check=False)
    assert r.returncode == 2 and r.stderr.startswith("error: no exercise named 'nosuch'") and "Traceback" not in r.stderr
    r = run_lab("exercise", "check", "--lab", "nolab12345", check=False)
    assert r.returncode == 2 and "lab 'nolab12345' is not up" in r.stderr
    r = run_lab("exercise", "check", "--report", str(tmp_path / "r.txt"), check=False)
    assert r.returncode == 2 and "name a .json or .csv file" in r.stderr
    r = run_lab("exercise", "check", "--student", "ana", check=False)
    assert r.returncode == 2 and "--student names who is graded in a --report" in r.stderr
