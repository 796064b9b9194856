"""``lab exercise list|start|task|check|hint|reset|solve``: classroom exercises on a real lab."""

import json
import os
import sys

from lab.classroom.exercise import catalog, runner
from lab.classroom.exercise import grade as exercise_grade
from lab.errors import InputError, LabError
from lab.kernel import record
from lab.tables import table

PROG = "sudo python3 -m lab"


def add_arguments(ex):
    ex.description = "Exercises: a broken or half-built cluster to repair, graded by real checks."
    acts = ex.add_subparsers(dest="action", metavar="ACTION")
    acts.required = True

    ls = acts.add_parser("list", help="the exercises, and which are running")
    ls.add_argument("-o", "--output", choices=("wide",), help="wide: with each exercise's summary")

    st = acts.add_parser("start", help="bring an exercise's lab up, break it, and print the task")
    st.add_argument("exercise", help="name (selector-no-endpoints), folder name (01-...), number or folder path")
    st.add_argument("--name", default=runner.DEFAULT_LAB,
                    help=f"lab name (default {runner.DEFAULT_LAB})")

    t = acts.add_parser("task", help="print the running exercise's task again")
    t.add_argument("--lab")

    ck = acts.add_parser("check", help="grade the running exercise: exit 0 all pass, 1 some fail, 2 bad input")
    ck.add_argument("--lab")
    ck.add_argument("-o", "--output", choices=("text", "json"), default="text")
    ck.add_argument("--report", metavar="FILE", help="teachers: append the result to FILE.json or FILE.csv")
    ck.add_argument("--student", help="who is graded, for --report (default: the sudo user)")

    h = acts.add_parser("hint", help="the next hint (one at a time)")
    h.add_argument("--lab")

    r = acts.add_parser("reset", help="take the exercise's lab down and start it again, broken (hints stay shown)")
    r.add_argument("--lab")

    so = acts.add_parser("solve", help="teachers: apply the exercise's reference fix")
    so.add_argument("--lab")


def run(args):
    return {"list": _list, "start": _start, "task": _task, "check": _check, "hint": _hint, "reset": _reset,
            "solve": _solve}[args.action](args)


def _list(args):
    folders = catalog.folders()
    if not folders:
        raise LabError(f"no exercises in {catalog.ROOT}")
    running = {}
    for lab, p in runner.running_exercises().items():
        running.setdefault(p.get("exercise"), []).append((lab, p))
    rows = []
    for folder in folders:
        name = os.path.basename(folder)
        try:
            exercise = catalog.load(folder)
            title, summary = exercise.title, exercise.summary
        except InputError as exc:
            title, summary = f"(invalid: {exc})", ""
        status = "-"
        if name in running:
            status = "; ".join(_status(lab, p) for lab, p in running[name])
        rows.append([name, title, status] + ([summary] if args.output == "wide" else []))
    print(table(["NAME", "TITLE", "STATUS"] + (["SUMMARY"] if args.output == "wide" else []), rows))
    return 0


def _status(lab, p):
    last = p.get("last_check")
    if not last:
        return f"running (lab {lab})"
    return f"running (lab {lab}), last check {last['score']}" + (", solved" if last["solved"] else "")


def _start(args):
    exercise = catalog.load(catalog.find(args.exercise))
    if record.Record.load(args.name) is not None:
        running = (runner.progress(args.name) or {}).get("exercise")
        what = f"with exercise {running}" if running else "(brought up with lab up)"
        raise LabError(f"lab {args.name!r} is already up {what}: {PROG} exercise reset{_lab_flag(args.name)} starts "
                       f"it over, {PROG} down {args.name} ends it, or start this one with --name OTHER")
    print(f"Starting exercise {exercise.name}: {exercise.title}")
    runner.start(exercise, args.name)
    print()
    _print_task(exercise, args.name)
    return 0


def _print_task(exercise, lab):
    print(catalog.task_text(exercise).rstrip())
    print()
    lab_flag = _lab_flag(lab)
    print(f"Lab {lab!r} is up. Look around: {PROG} get pods -o wide{lab_flag}, {PROG} get svc{lab_flag}, "
          f"{PROG} exec NODE-OR-POD{lab_flag} -- COMMAND")
    print(f"kubectl: sudo KUBECONFIG=$({PROG} kubeconfig{lab_flag}) kubectl get pods,svc -o wide "
          f"(or inside the lab: {PROG} shell master{lab_flag})")
    print(f"Check your work: {PROG} exercise check{lab_flag}    "
          f"Stuck? {PROG} exercise hint{lab_flag}    Start over: {PROG} exercise reset{lab_flag}")


def _lab_flag(lab):
    return "" if lab == runner.DEFAULT_LAB else f" --lab {lab}"


def _task(args):
    lab, p = runner.exercise_lab(args.lab)
    _print_task(runner.load_running(p), lab)
    return 0


def _check(args):
    if args.student and not args.report:
        raise LabError("--student names who is graded in a --report; add --report FILE.json or FILE.csv")
    if args.report:
        exercise_grade.report_format(args.report)  # a bad file name fails before the checks run
    lab, p = runner.exercise_lab(args.lab)
    exercise, grade = runner.check(lab, p)
    if args.output == "json":
        print(json.dumps({**grade.as_dict(), "lab": lab, "hints_used": p.get("hints_shown", 0)}, indent=2))
    else:
        print(exercise_grade.render(grade, exercise.title))
        if not grade.solved and p.get("hints_shown", 0) < len(exercise.hints):
            print(f"Stuck? {PROG} exercise hint{_lab_flag(lab)}")
    if args.report:
        student = args.student or os.environ.get("SUDO_USER") or os.environ.get("USER") or "unknown"
        entry = exercise_grade.record(grade, student, lab, p.get("hints_shown", 0))
        exercise_grade.append_report(args.report, entry)
        print(f"Result recorded in {args.report} for {student}.", file=sys.stderr)
    return grade.exit_code


def _hint(args):
    lab, p = runner.exercise_lab(args.lab)
    exercise = runner.load_running(p)
    number, total, text = runner.next_hint(lab, p, exercise)
    if number is None:
        print(f"No more hints: you have seen all {total}. {PROG} exercise task prints the task again.")
        return 0
    print(f"Hint {number}/{total}: {text}")
    return 0


def _reset(args):
    lab, p = runner.exercise_lab(args.lab)
    exercise = runner.reset(lab, p)
    print(f"Exercise {exercise.name} is back to its broken start in lab {lab!r} "
          f"(hints shown so far: {p.get('hints_shown', 0)}).")
    return 0


def _solve(args):
    lab, p = runner.exercise_lab(args.lab)
    exercise = runner.load_running(p)
    solution = runner.solve(lab, exercise)
    print(f"Applied the reference fix of {exercise.name}: {solution.description}")
    return 0
