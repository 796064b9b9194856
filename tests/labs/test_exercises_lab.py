"""Classroom exercises on real labs: every exercise starts broken (some check fails) and its
reference fix makes every check pass; the CLI's list, start, check, hint, reset and solve work end
to end; a break that fails takes its lab down. The exercise files themselves: tests/unit/test_exercises.py."""

import csv
import io
import json

import pytest

from factories import exercise_copy, exercise_folders, run_lab, spoil, unique_lab_name
from lab.classroom.exercise import runner, catalog
from lab.live import down
from lab.kernel import record
from lab.errors import LabError

FOLDERS, NAMES = exercise_folders()


@pytest.mark.parametrize("folder", FOLDERS, ids=NAMES)
def test_broken_then_fixed(folder):
    ex = catalog.load(folder)
    lab = unique_lab_name("x")
    try:
        runner.start(ex, lab, out=io.StringIO())
        broken = runner.grade(lab, ex)
        assert not broken.solved, f"{ex.name}: every check passes before the fix"
        runner.solve(lab, ex)
        fixed = runner.grade(lab, ex)
        failed = [f"{r.name}: expected {r.expected}, got {r.got}" for r in fixed.results if not r.passed]
        assert fixed.solved, f"{ex.name}: after the reference fix: {failed}"
    finally:
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
