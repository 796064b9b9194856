"""Labs never touch each other. Two seed labs whose names are prefixes of each other (``<tag>q`` and
``<tag>qx``) side by side: every verb on one leaves the other's namespaces, the processes in them
(``ip netns pids``), its record, /etc/netns files and UTS mounts exactly as they were, and the
other still answers on its NodePort. A lab name is 1-12 lower-case letters and digits; ``lab down``
and every ``--lab`` take only such names (never a path, never '' for "the only lab up"); a record,
even a planted one, counts only namespaces and processes that are its lab's own; and a live change
refuses to make a namespace (or /etc/netns entry) that exists and is not its lab's.

Invalid names run with ``SVCLAB_LAB`` set to this module's first lab: a verb that fell back to
"the lab you mean" would act on it (and fail the test), never on a lab someone else has up."""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from factories import (NOTHING_LEFT, ROOT, SCENARIOS, Lab, assert_refused, lab_traces, leftovers, netns_list, run_lab,
                       seed_files, unique_lab_name, write_files)
from lab.cli.main import VERBS, build_parser
from lab.kernel import record

SEED = os.path.join(SCENARIOS, "seed.yml")
NODE_PORT = "192.168.179.100:30090"


@pytest.fixture(scope="module")
def pair():
    """(short, long): two seed labs, the first's name a prefix of the second's."""
    base = unique_lab_name("i")[:10]
    short, long = Lab(SEED, base + "q"), Lab(SEED, base + "qx")
    try:
        short.up()
        long.up()
        yield short, long
    finally:
        for lab in (short, long):
            run_lab("down", lab.name, check=False)


def answers(lab):
    body = lab.curl("client", NODE_PORT, timeout=2)
    return bool(body) and body.startswith("You've hit pod-nodeport-")


def pods(lab):
    return sorted(p["metadata"]["name"] for p in json.loads(lab.get("pods", "-o", "json"))["items"])


def intact(other, before):
    """``other`` is as ``before`` and still answers."""
    after = lab_traces(other.name)
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert answers(other)


# every verb on one lab, the other untouched ---------------------------------------------------

def scaled(tmp_path, replicas):
    text = open(os.path.join(SCENARIOS, "seed", "pod-nodeport.yml")).read()
    path = tmp_path / f"scale{replicas}.yml"
    path.write_text(text.replace("replicas: 2", f"replicas: {replicas}"))
    return str(path)


def cheap_checks(tmp_path):
    """The seed scenario with its first two checks only (no 2,000-connection distribution)."""
    files = seed_files()
    files["scenario.yml"]["checks"] = files["scenario.yml"]["checks"][:2]
    return write_files(files, str(tmp_path))


# (name, argv for lab L in tmp_path, the exit codes it may give)
VERB_RUNS = [
    ("get pods", lambda L, t: ["get", "pods", "-o", "wide"], {0}),
    ("get svc", lambda L, t: ["get", "svc", "-o", "json"], {0}),
    ("get endpoints", lambda L, t: ["get", "ep"], {0}),
    ("describe", lambda L, t: ["describe", "svc", "nodeport-svc"], {0}),
    ("exec", lambda L, t: ["exec", "client", "--", "curl", "-s", "-m", "2", NODE_PORT], {0}),
    ("apply scale 3", lambda L, t: ["apply", "-f", scaled(t, 3)], {0}),
    ("apply scale 2", lambda L, t: ["apply", "-f", scaled(t, 2)], {0}),
    ("delete pod", lambda L, t: ["delete", "pod", pods(L)[0]], {0}),
    ("delete pod with a grace period", lambda L, t: ["delete", "pod", pods(L)[-1], "--grace-period", "0.2"], {0}),
    ("kill pod", lambda L, t: ["kill", "pod", pods(L)[0], "--after", "0.1"], {0}),
    ("node down", lambda L, t: ["node", "down", "node1", "--grace", "0.1"], {0}),
    ("node up", lambda L, t: ["node", "up", "node1"], {0}),
    ("link down", lambda L, t: ["link", "node2", "down"], {0}),
    ("link up", lambda L, t: ["link", "node2", "up"], {0}),
    ("events", lambda L, t: ["events"], {0}),
    ("explain svc", lambda L, t: ["explain", "svc", "nodeport-svc"], {0}),
    ("explain pod", lambda L, t: ["explain", "pod", pods(L)[0]], {0}),
    ("matrix", lambda L, t: ["matrix", "--timeout", "0.3"], {0, 1}),
    ("verify", lambda L, t: ["verify", cheap_checks(t)], {0}),
    ("diagram", lambda L, t: ["diagram"], {0}),
    ("lb config", lambda L, t: ["lb", "config"], {2}),  # the seed runs no nginx: refused, one line
]


@pytest.mark.parametrize("name, argv, codes", VERB_RUNS, ids=[v[0] for v in VERB_RUNS])
def test_a_verb_on_the_short_named_lab_leaves_the_other_alone(pair, tmp_path, name, argv, codes):
    short, long = pair
    before = lab_traces(long.name)
    argv = argv(short, tmp_path)
    split = argv.index("--") if "--" in argv else len(argv)  # exec: options before its command
    r = run_lab(*argv[:split], "--lab", short.name, *argv[split:], check=False, timeout=60)
    assert r.returncode in codes and "Traceback" not in r.stderr, (r.returncode, r.stdout, r.stderr)
    intact(long, before)


def test_the_short_named_lab_changed_and_still_serves(pair):
    short, _ = pair
    assert len(pods(short)) == 2 and answers(short)
    assert "NodeNotReady" in short.lab("events", "--lab", short.name).stdout


def test_status_lists_both_as_they_are(pair):
    short, long = pair
    before = lab_traces(long.name)
    rows = {r["lab"]: r for r in json.loads(run_lab("status", "-o", "json").stdout)}
    for lab in (short, long):
        row, present = rows[lab.name], len(lab_traces(lab.name)["netns"])
        assert row["phase"] == "up" and row["namespaces_present"] == row["namespaces"] == present, row
        assert row["daemons_running"] == row["daemons"] > 0, row
    intact(long, before)


LONG_RUNS = [
    ("apply", lambda L, t: ["apply", "-f", scaled(t, 3)]),
    ("delete pod", lambda L, t: ["delete", "pod", pods(L)[0]]),
    ("node down", lambda L, t: ["node", "down", "node2", "--grace", "0.1"]),
    ("node up", lambda L, t: ["node", "up", "node2"]),
]


@pytest.mark.parametrize("name, argv", LONG_RUNS, ids=[v[0] for v in LONG_RUNS])
def test_a_verb_on_the_long_named_lab_leaves_the_short_one_alone(pair, tmp_path, name, argv):
    short, long = pair
    before = lab_traces(short.name)
    run_lab(*argv(long, tmp_path), "--lab", long.name)
    intact(short, before)


# a namespace the lab does not own -------------------------------------------------------------

POD = """apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: other}}}}
spec: {{containers: [{{name: c, image: luksa/kubia, ports: [{{containerPort: 8080}}]}}]}}
"""


@pytest.fixture(scope="module")
def foreign(pair):
    """A namespace ``<short>-x-client`` (ip netns add) and a directory /etc/netns/<short>-y-client,
    neither the short-named lab's: made here, removed at the end of the module."""
    short, _ = pair
    made = short.netns("x-client"), os.path.join("/etc/netns", short.netns("y-client"))
    subprocess.run(["ip", "netns", "add", made[0]], check=True)
    try:
        os.makedirs(made[1])
        yield made
    finally:
        subprocess.run(["ip", "netns", "delete", made[0]], check=False)
        shutil.rmtree(made[1], ignore_errors=True)


def test_apply_refuses_a_pod_whose_namespace_exists_and_is_not_the_labs(pair, foreign, tmp_path):
    """The original bug: lab L applying pod x-client while a namespace L-x-client exists that L
    does not own (or an /etc/netns entry L-y-client): refused in one line naming it, nothing recorded."""
    short, long = pair
    before = lab_traces(long.name)
    for pod, taken in (("x-client", f"network namespace {foreign[0]} already exists"),
                       ("y-client", f"{foreign[1]} already exists")):
        path = tmp_path / f"{pod}.yml"
        path.write_text(POD.format(name=pod))
        assert_refused(run_lab("apply", "-f", str(path), "--lab", short.name, check=False), taken)
        state = json.load(open(os.path.join(record.ROOT, short.name, "state.json")))
        assert short.netns(pod) not in state["namespaces"] + state["etc_dirs"] + state.get("uts", [])
        assert pod not in short.get("pods")
    assert answers(short)
    intact(long, before)


def test_up_refuses_when_a_namespace_it_would_make_exists():
    name = unique_lab_name("u")
    taken = f"{name}-node1"
    subprocess.run(["ip", "netns", "add", taken], check=True)
    try:
        assert_refused(run_lab("up", SEED, "--name", name, check=False),
                       f"network namespace {taken} already exists and is not this lab's")
        assert leftovers(name) == dict(NOTHING_LEFT, netns=[taken])
    finally:
        subprocess.run(["ip", "netns", "delete", taken], check=False)


# names, never paths ---------------------------------------------------------------------------

def test_up_refuses_a_name_with_a_dash_and_creates_nothing():
    base = unique_lab_name("r")[:8]
    assert_refused(run_lab("up", SEED, "--name", base + "-x", check=False), f"'{base}-x' is not a valid lab name")
    assert leftovers(base) == NOTHING_LEFT and leftovers(base + "-x") == NOTHING_LEFT


# the --lab argv of every verb that takes one (a new verb with --lab must be added here)
LAB_VERBS = {
    "get": ["get", "pods"], "describe": ["describe", "svc", "nodeport-svc"], "exec": ["exec", "client"],
    "shell": ["shell", "master"], "kubeconfig": ["kubeconfig"],
    "apply": ["apply", "-f", os.path.join(SCENARIOS, "seed", "service.yml")], "delete": ["delete", "pod", "x"],
    "kill": ["kill", "pod", "x"], "node": ["node", "down", "node1", "--grace", "0"],
    "link": ["link", "client", "down"], "events": ["events"], "lb": ["lb", "config"],
    "verify": ["verify", SEED], "matrix": ["matrix"], "dist": ["dist", "client", "http://" + NODE_PORT],
    "probe nodeport": ["probe", "nodeport", "client", "node1", "30090"],
    "probe clusterip": ["probe", "clusterip", "client", "10.96.0.1"],
    "trace": ["trace", "client", "http://" + NODE_PORT], "explain": ["explain", "svc", "nodeport-svc"],
    "diagram": ["diagram"], "mininet-cli": ["mininet-cli"],
    **{f"exercise {a}": ["exercise", a] for a in ("task", "check", "hint", "reset", "solve")},
}
BAD_NAMES = ["", "../x", "a-b"]  # "" is no name (not "the only lab up"), a path, another lab's namespace prefix


def _takes_lab(parser):
    """The verb (and sub-verb) names under ``parser`` that have a --lab option."""
    found = set()
    for action in parser._actions:
        if "--lab" in getattr(action, "option_strings", ()):
            found.add("")
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= {f"{name} {n}".strip() for n in _takes_lab(sub)}
    return found


def test_every_verb_with_a_lab_option_is_listed():
    found = set()
    for verb, _ in VERBS:
        verb_parser = next(a for a in build_parser(verb)._actions if a.dest == "command").choices[verb]
        found |= {f"{verb} {n}".strip() for n in _takes_lab(verb_parser)}
    assert found == set(LAB_VERBS)


@pytest.mark.parametrize("verb", sorted(LAB_VERBS))
def test_every_lab_option_refuses_an_invalid_name(pair, verb):
    short, long = pair
    befores = {lab.name: lab_traces(lab.name) for lab in pair}
    env = dict(os.environ, SVCLAB_LAB=short.name)
    runs = [subprocess.Popen([sys.executable, "-m", "lab", *LAB_VERBS[verb], "--lab", bad]
                             + (["--", "true"] if verb == "exec" else []), cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for bad in BAD_NAMES]
    for proc in runs:
        out, err = proc.communicate(timeout=60)
        r = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        assert_refused(r)
        # mininet-cli says first when Mininet is missing
        assert "is not a valid lab name" in r.stderr or (verb == "mininet-cli" and "Mininet" in r.stderr), r.stderr
    assert {lab.name: lab_traces(lab.name) for lab in pair} == befores


def _planted(folder, namespaces, pids=None):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "state.json"), "w") as f:
        json.dump({"lab": os.path.basename(folder), "phase": "up", "namespaces": namespaces,
                   "etc_dirs": namespaces, "uts": namespaces, "pids": pids or {}, "created": 0}, f)


def test_down_takes_names_never_paths(pair, tmp_path):
    """``lab down ../../tmp/x`` and ``lab down /abs/dir`` (each a directory with a planted record
    naming a namespace made here) are refused; so are '', ./lab, lab/ and 5,000 characters, with a
    lab up that a fallback to "the only lab" would take down."""
    short, long = pair
    own = unique_lab_name("o")[:10] + "-own"
    relative = f"/tmp/{unique_lab_name('pl')}"
    folders = [relative, str(tmp_path / "abs")]
    subprocess.run(["ip", "netns", "add", own], check=True)
    try:
        for folder in folders:
            _planted(folder, [own])
        befores = {lab.name: lab_traces(lab.name) for lab in pair}
        for target in ["../.." + relative, folders[1], "", "./lab", "lab/", "a" * 5000, "..", "/"]:
            assert_refused(run_lab("down", target, check=False, env={"SVCLAB_LAB": short.name}),
                           "is not a valid lab name")
        assert_refused(run_lab("down", "--name", "../x", check=False), "is not a valid lab name")
        assert own in netns_list()
        for folder in folders:
            assert json.load(open(os.path.join(folder, "state.json")))["namespaces"] == [own]
        assert {lab.name: lab_traces(lab.name) for lab in pair} == befores
    finally:
        subprocess.run(["ip", "netns", "delete", own], check=False)
        shutil.rmtree(relative, ignore_errors=True)


def test_a_planted_record_takes_nothing_of_another_lab(pair):
    """/run/svclab/<a valid name>/state.json listing the other lab's namespaces, /etc/netns entries
    and UTS files, a process started here and the other lab's kube-proxy: ``lab down`` of that name
    removes the planted record only."""
    short, long = pair
    name = unique_lab_name("pl")
    folder = os.path.join(record.ROOT, name)
    theirs = lab_traces(long.name)["netns"]
    sleeper = subprocess.Popen(["sleep", "60"])
    kube_proxy = json.load(open(os.path.join(record.ROOT, long.name, "state.json")))["pids"]["kube-proxy/node1"]
    try:
        _planted(folder, theirs + ["../" + long.netns("node1"), name + "-../../x"],
                 {"kube-proxy/node1": kube_proxy, "sleep": sleeper.pid, "init": 1})
        before = lab_traces(long.name)
        r = run_lab("down", name)
        assert f"Lab {name!r} is down." in r.stdout
        assert sleeper.poll() is None  # still running
        assert not os.path.exists(folder)
        intact(long, before)
    finally:
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()
        shutil.rmtree(folder, ignore_errors=True)


# down, last ----------------------------------------------------------------------------------

def test_down_of_the_short_named_lab_leaves_the_other_and_foreign_namespaces(pair, foreign):
    short, long = pair
    before = lab_traces(long.name)
    assert "is down" in run_lab("down", short.name).stdout
    assert foreign[0] in netns_list() and os.path.isdir(foreign[1])  # made by hand: not the lab's
    assert leftovers(short.name) == dict(NOTHING_LEFT, netns=[foreign[0]], etc=[os.path.basename(foreign[1])])
    intact(long, before)
    run_lab("down", long.name)
    assert leftovers(long.name) == NOTHING_LEFT
