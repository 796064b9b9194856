"""Grading an exercise: per-check results, a score, and the teacher's report (JSON or CSV).

Everything here is pure except ``append_report``, which adds one record to a report file.
"""

import csv
import datetime
import fcntl
import io
import json
import os
from dataclasses import dataclass

from lab.errors import LabError

CSV_COLUMNS = ["time", "student", "exercise", "lab", "passed", "total", "score", "solved", "hints_used", "failed"]


@dataclass(frozen=True)
class GradedCheck:
    name: str
    passed: bool
    expected: str
    got: str
    seconds: float = 0.0

    def as_dict(self):
        return {"name": self.name, "passed": self.passed, "expected": self.expected, "got": self.got,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Grade:
    exercise: str
    results: tuple

    @property
    def passed(self):
        return sum(r.passed for r in self.results)

    @property
    def total(self):
        return len(self.results)

    @property
    def score(self):
        return f"{self.passed}/{self.total}"

    @property
    def solved(self):
        return self.total > 0 and self.passed == self.total

    @property
    def exit_code(self):
        return 0 if self.solved else 1

    def as_dict(self):
        return {"exercise": self.exercise, "score": self.score, "passed": self.passed, "total": self.total,
                "solved": self.solved, "checks": [r.as_dict() for r in self.results]}


def render(grade, title):
    """The lines a student reads after ``lab exercise check``."""
    width = max([len(r.name) for r in grade.results] + [10])
    lines = [f"Exercise {grade.exercise}: {title}", ""]
    for r in grade.results:
        detail = _short(r.got) if r.passed else f"expected {_short(r.expected)}, got {_short(r.got)}"
        lines.append(f"  {'PASS' if r.passed else 'FAIL'}  {r.name:<{width}}  {detail}")
    lines += ["", f"Score: {grade.score}" + ("  -- solved!" if grade.solved else "")]
    return "\n".join(lines)


def _short(text, width=90):
    return text if len(text) <= width else text[:width - 3] + "..."


def record(grade, student, lab, hints_used, when=None):
    """One report entry: who, which exercise, the score and what failed."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return {"time": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "student": student, "exercise": grade.exercise, "lab": lab,
            "passed": grade.passed, "total": grade.total, "score": grade.score, "solved": grade.solved,
            "hints_used": hints_used, "checks": [{"name": r.name, "passed": r.passed, "got": r.got}
                                                 for r in grade.results]}


def csv_row(entry):
    failed = "; ".join(c["name"] for c in entry["checks"] if not c["passed"])
    return [entry[c] for c in CSV_COLUMNS[:-1]] + [failed]


def report_format(path):
    """json or csv, from the report file's name."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".json", ".csv"):
        raise LabError(f"--report {path}: name a .json or .csv file (e.g. --report results.csv)")
    return ext[1:]


def append_report(path, entry):
    """Add ``entry`` to the report at ``path`` (created if missing). A JSON report is a list of
    entries; a CSV report one row per entry under a header. Locked, so a class can share a file."""
    kind = report_format(path)
    try:
        f = open(path, "a+", newline="", encoding="utf-8")
    except OSError as exc:
        raise LabError(f"--report {path}: cannot write it: {exc.strerror}") from None
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read()
        if kind == "json":
            entries = _json_entries(path, text) + [entry]
            f.seek(0)
            f.truncate()
            f.write(json.dumps(entries, indent=2) + "\n")
        else:
            _check_csv_header(path, text)
            out = io.StringIO()
            writer = csv.writer(out)
            if not text.strip():
                writer.writerow(CSV_COLUMNS)
            writer.writerow(csv_row(entry))
            f.write(out.getvalue())


def _json_entries(path, text):
    if not text.strip():
        return []
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabError(f"--report {path}: not a JSON report (line {exc.lineno}: {exc.msg}); "
                       "name a new file or one lab exercise check wrote") from None
    if not isinstance(entries, list):
        raise LabError(f"--report {path}: a report is a JSON list of results; name a new file")
    return entries


def _check_csv_header(path, text):
    if text.strip() and next(csv.reader(io.StringIO(text)), None) != CSV_COLUMNS:
        raise LabError(f"--report {path}: its first line is not the report's header "
                       f"({','.join(CSV_COLUMNS)}); name a new file")
