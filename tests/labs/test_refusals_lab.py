"""What a running lab refuses, in one line with exit code 2, before anything acts: numbers out of
range (nan, inf, negative), input files that are not bounded YAML (devices, FIFOs, huge, alias bombs,
deep nesting), a manifest whose value the cluster cannot place (named by its own file), a --junit
report it cannot write, and any verb that needs root run as another user. After each, the lab is as
it was (namespaces, processes, record) and still answers."""

import json
import os
import subprocess
import sys
import time

from factories import (ROOT, SCENARIOS, assert_refused, lab_traces, needs_tools, run_lab, seed_files,
                       unique_lab_name, write_files)
from lab.cli.main import VERBS

NODE1 = "192.168.179.100:30090"


def serving(lab):
    body = lab.curl("client", NODE1, timeout=2)
    return bool(body) and body.startswith("You've hit pod-nodeport-")


def pod_names(lab):
    return sorted(p["metadata"]["name"] for p in json.loads(lab.get("pods", "-o", "json"))["items"])


def test_numbers_are_checked_before_anything_acts(seed_lab):
    pod = pod_names(seed_lab)[0]
    before = lab_traces(seed_lab.name)
    runs = [["node", "down", "node1", "--grace", value] for value in ("-1", "nan", "inf", "1e9", "x")]
    runs += [["kill", "pod", pod, "--after", value] for value in ("inf", "-0.5", "nan")]
    runs += [["delete", "pod", pod, "--grace-period", value] for value in ("inf", "-1")]
    runs += [["probe", "nodeport", "client", "node1", value] for value in ("99999", "0", "30090.5")]
    runs += [["matrix", "--timeout", value] for value in ("nan", "inf", "-1", "0")]
    runs += [["dist", "client", f"http://{NODE1}", "-n", value] for value in ("5", "inf", "1e6")]
    for argv in runs:
        started = time.monotonic()
        r = run_lab(*argv, "--lab", seed_lab.name, check=False)
        assert_refused(r, "argument ")
        assert time.monotonic() - started < 5, argv  # parsed, not slept on
    assert pod in pod_names(seed_lab)
    assert lab_traces(seed_lab.name) == before
    assert serving(seed_lab)


def bad_files(tmp_path):
    """{what: path}: a device, a FIFO, a 4 GiB sparse file, an alias bomb (a billion values, also in
    a Deployment's pod template), 5,000 nested mappings and 3,000 nested lists."""
    fifo = tmp_path / "fifo.yml"
    os.mkfifo(fifo)
    sparse = tmp_path / "sparse.yml"
    with open(sparse, "wb") as f:
        f.truncate(4 * 2 ** 30)
    bomb = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    bomb += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    (tmp_path / "bomb.yml").write_text("\n".join(bomb) + "\n")
    template = open(os.path.join(SCENARIOS, "seed", "pod-nodeport.yml")).read().replace(
        "    spec:\n", "      annotations:\n" + "".join(f"        {line}\n" for line in bomb) + "    spec:\n")
    (tmp_path / "bomb-template.yml").write_text(template)
    (tmp_path / "maps.yml").write_text("a: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n")
    (tmp_path / "lists.yml").write_text("a: " + "[" * 3000 + "1" + "]" * 3000 + "\n")
    return {"device": "/dev/zero", "fifo": str(fifo), "sparse": str(sparse), "bomb": str(tmp_path / "bomb.yml"),
            "bomb in a template": str(tmp_path / "bomb-template.yml"), "maps": str(tmp_path / "maps.yml"),
            "lists": str(tmp_path / "lists.yml")}


REFUSAL = {"device": "is not a regular file", "fifo": "is not a regular file", "sparse": "over svclab's limit",
           "bomb": "number over 1,000,000", "bomb in a template": "number over 1,000,000",
           "maps": "nest deeper than 100", "lists": "nest deeper than 100"}


def test_apply_refuses_unbounded_files_and_changes_nothing(seed_lab, tmp_path):
    files = bad_files(tmp_path)
    before = lab_traces(seed_lab.name)
    for what, path in files.items():
        started = time.monotonic()
        r = run_lab("apply", "-f", path, "--lab", seed_lab.name, check=False, timeout=20)
        assert_refused(r, path, REFUSAL[what])
        assert time.monotonic() - started < 5, what
    assert lab_traces(seed_lab.name) == before
    assert serving(seed_lab)


def test_a_build_error_names_the_applied_file(seed_lab, tmp_path):
    """``spec.nodeName: nosuch`` is found while the cluster is built: the error names the file
    applied (not the scenario the lab came up from), and nothing changes."""
    path = tmp_path / "stray.yml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: stray}\n"
                    "spec: {nodeName: nosuch, containers: [{name: c, image: luksa/kubia}]}\n")
    before = lab_traces(seed_lab.name)
    r = run_lab("apply", "-f", str(path), "--lab", seed_lab.name, check=False)
    assert_refused(r, f"{path}: spec.nodeName: no node named 'nosuch'")
    assert "seed.yml" not in r.stderr
    assert lab_traces(seed_lab.name) == before


def cheap_scenario(tmp_path):
    """The seed scenario with two quick checks (not its 2,000-connection distribution)."""
    files = seed_files()
    files["scenario.yml"]["checks"] = files["scenario.yml"]["checks"][:2]
    return write_files(files, str(tmp_path))


def test_verify_junit_it_cannot_write(seed_lab, tmp_path):
    scenario = cheap_scenario(tmp_path)
    good = tmp_path / "report.xml"
    run_lab("verify", scenario, "--lab", seed_lab.name, "--junit", str(good))
    assert good.read_text().startswith("<?xml") and 'failures="0"' in good.read_text()
    for target, said in ((tmp_path / "no" / "such" / "dir" / "r.xml", "No such file or directory"),
                         (tmp_path, "Is a directory"), ("/dev/full", "No space left on device")):
        r = run_lab("verify", scenario, "--lab", seed_lab.name, "--junit", str(target), check=False)
        assert_refused(r, "--junit", said)
    assert not (tmp_path / "no").exists()


# another user ----------------------------------------------------------------------------------

NO_ROOT = {"render", "export", "doctor"}  # these run as any user


def root_verbs(lab, tmp_path):
    """{what: argv} for every verb that needs root (exercise, probe and bench: a sub-verb each)."""
    seed, service = os.path.join(SCENARIOS, "seed.yml"), os.path.join(SCENARIOS, "seed", "service.yml")
    on = ["--lab", lab.name]
    return {
        "up": ["up", seed, "--name", unique_lab_name("n")], "down": ["down", lab.name], "status": ["status"],
        "status -o json": ["status", "-o", "json"], "get": ["get", "pods"], "get --lab": ["get", "pods", *on],
        "describe": ["describe", "svc", "nodeport-svc", *on], "exec": ["exec", "client", *on, "--", "true"],
        "shell": ["shell", "master", *on], "kubeconfig": ["kubeconfig", *on],
        "apply": ["apply", "-f", service, *on], "delete": ["delete", "pod", "x", *on],
        "kill": ["kill", "pod", "x", *on], "node": ["node", "down", "node1", "--grace", "0", *on],
        "link": ["link", "client", "down", *on], "events": ["events", *on], "lb": ["lb", "config", *on],
        "verify": ["verify", seed, *on], "matrix": ["matrix", *on], "dist": ["dist", "client", NODE1, *on],
        "probe": ["probe", "nodeport", "client", "node1", "30090", *on],
        "trace": ["trace", "client", f"http://{NODE1}", *on], "explain": ["explain", "svc", "nodeport-svc", *on],
        "exercise": ["exercise", "list"], "exercise check": ["exercise", "check", *on],
        "exercise start": ["exercise", "start", "1", "--name", unique_lab_name("n")],
        "diagram": ["diagram", *on], "mininet-cli": ["mininet-cli", *on], "bench": ["bench", "proxy", "--sizes", "10"],
    }


@needs_tools("runuser", why="runs the CLI as nobody")
def test_every_verb_that_needs_root_says_so_to_another_user(seed_lab, tmp_path):
    runs = root_verbs(seed_lab, tmp_path)
    assert {argv[0] for argv in runs.values()} | NO_ROOT == {verb for verb, _ in VERBS}
    before = lab_traces(seed_lab.name)
    procs = {what: subprocess.Popen(["runuser", "-u", "nobody", "--", sys.executable, "-m", "lab", *argv], cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for what, argv in runs.items()}
    for what, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        r = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        assert_refused(r, "needs root: run it with sudo")
        assert "No labs are up" not in out and "not up" not in err, (what, out, err)
    assert lab_traces(seed_lab.name) == before
    assert serving(seed_lab)
