"""A fuzz test of the whole command line: a generated corpus (random, seeded: the seed is in every
failure; ``SVCLAB_FUZZ_SEED=N`` replays one) drives every verb of lab/cli/main.py's VERBS, each
sub-verb included, with bad arguments and bad files (random strings and numbers as option values,
names and paths as lab names, empty, huge, sparse, binary and non-UTF-8 files, devices, FIFOs,
directories, alias bombs, deep nesting, unwritable outputs), first with no lab of its own up, then
against a running lab. It fails on any traceback or internal error on stderr, an exit code other
than 0, 1 or 2, any run past its time bound, and any residue: a namespace, /run/svclab entry or
/etc/netns entry of a lab name it used, or a file left in the repository. About 30 s in all.

Arguments are chosen so that nothing valid can run long or reach what is not this test's: every lab
name it passes is invalid or this test's own (``SVCLAB_LAB`` too, for verbs given none), files given
to ``up``, ``verify`` and ``down`` are never valid scenarios, commands run by ``exec`` are harmless,
durations are short, ``bench`` always gets a bad size, ``ui`` a lab that is not up, and outputs go to a temporary folder."""

import argparse
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time

from factories import ROOT, SCENARIOS, STATE_DIR, lab_traces, netns_list, unique_lab_name
from lab.classroom.exercise import catalog
from lab.cli.main import VERBS, build_parser
from lab.errors import LabError
from lab.spec.scenario import LAB_NAME

SECONDS = 20  # one run's bound (a real matrix of the seed lab takes about 3 s)
BATCH = 3  # runs at a time

NASTY = ["", " ", "-", "--", "-x", "--bogus", "x", "..", "../x", "/", "/etc/passwd", "a" * 5000, "\n", "a\nb",
         "ü", "名前", "\u200b", "\ufeff", "$(id)", "`id`", "; true", "%s", "{node1}", "{}", "[]", "*", "~",
         "'", '"', "\\", "-1", "0", "1", "nan", "inf", "-inf", "1e309", "99999999999999999999", "9" * 5000, "²",
         "0x10", "1_000", "1e3", "10.96.0.0/12", "0.0.0.0/0", "1.2.3.4/33", "::1", "256.1.1.1", "a=b",
         "a!=b,c", "=", ",", "http://", "http://:80", "tcp://1.2.3.4:0", "http://999.1.1.1:80/x",
         "pods", "svc", "po", "ep", "no", "deploy", "pod", "config", "down", "up", "iptables", "nftables"]
KNOWN = ["client", "node1", "master", "lb", "nodeport-svc", "kube-system", "kubernetes",
         "http://192.168.179.100:30090", "192.168.179.100:30090", "10.96.0.1", "10.105.182.209"]
DURATIONS = ["-1", "nan", "inf", "x", "", "1e9", "0", "0.1", "0.2"]  # valid ones short
COUNTS = ["-1", "0", "5", "nan", "1e6", "x", "10", "100"]
PORTS = ["0", "-1", "65536", "99999", "x", "30090", "1"]
BAD_SIZES = ["", "0", "x", "-5", "100,-5", "10,,x", "99999999"]


ALPHABET = "abcxyz019-_./:=,@ \t\n" + "ÄüßΩ名前\u200b\ufeff\u202e²١" + "".join(map(chr, range(0x21, 0x7f)))


class Draw:
    """Random choices from one seeded generator."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def pick(self, items):
        return self.rng.choice(list(items))

    def one_in(self, n):
        return self.rng.randrange(n) == 0

    def text(self):
        return "".join(self.rng.choice(ALPHABET) for _ in range(self.rng.randrange(21)))

    def any(self, *pools):
        """From one of ``pools`` (lists, or None for random text)."""
        pool = self.pick(pools)
        return self.text() if pool is None else self.pick(pool)


def write_bad_files(folder):
    """The bad files: {name: path}."""
    def put(name, data):
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        return path
    bomb = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]'] + [
        f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    rng = random.Random(7)
    files = {
        "empty": put("empty.yml", b""), "blank": put("blank.yml", b"  \n\t\n"),
        "binary": put("binary.yml", bytes(rng.randrange(256) for _ in range(4096))),
        "latin-1": put("latin1.yml", "name: caf\xe9\n".encode("latin-1")),
        "bomb": put("bomb.yml", ("\n".join(bomb) + "\n").encode()),
        "maps": put("maps.yml", ("a: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n").encode()),
        "lists": put("lists.yml", ("[" * 3000 + "]" * 3000 + "\n").encode()),
        "a list": put("list.yml", b"[1, 2, 3]\n"), "a number": put("number.yml", b"42\n"),
        "two documents": put("two.yml", b"a: 1\n---\nb: 2\n"), "duplicate keys": put("dup.yml", b"a: 1\na: 2\n"),
        "tabs": put("tabs.yml", b"a:\n\t- b\n"), "unclosed": put("unclosed.yml", b"a: [1, 2\n"),
        "not a scenario": put("kind.yml", b"apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n"),
        "scenario of nothing": put("nothing.yml", b"topology: nosuch.yml\nmanifests: [nosuch.yml]\n"),
        "garbage": put("garbage.yml", "".join(rng.choice("ab:-[]{}&*!|>'\"#%@` \n\t") for _ in range(3000)).encode()),
    }
    huge = os.path.join(folder, "huge.yml")
    with open(huge, "wb") as f:
        f.truncate(16 * 2 ** 20 + 1)
    sparse = os.path.join(folder, "sparse.yml")
    with open(sparse, "wb") as f:
        f.truncate(4 * 2 ** 30)
    fifo = os.path.join(folder, "fifo.yml")
    os.mkfifo(fifo)
    os.makedirs(os.path.join(folder, "dir.yml"))
    files.update({"huge": huge, "sparse": sparse, "fifo": fifo, "dir": os.path.join(folder, "dir.yml"),
                  "device": "/dev/zero", "null": "/dev/null", "missing": os.path.join(folder, "missing.yml")})
    return files


class Fuzz:
    """What one fuzz test may pass: its names, files and outputs; and what it has run."""

    def __init__(self, folder, running=None, seed=None):
        self.folder, self.running = folder, running
        self.seed = int(os.environ.get("SVCLAB_FUZZ_SEED") or seed or random.SystemRandom().randrange(2 ** 32))
        self.draw = Draw(self.seed)
        self.files = write_bad_files(folder)
        self.prefix = unique_lab_name("fz")[:9]
        self.own = [self.prefix, self.prefix + "a", self.prefix + "b1"]  # valid, never up
        self.used = set(self.own)
        self.outputs = [os.path.join(folder, f) for f in ("o.mmd", "o.png", "o.svg", "o.xml", "o.json", "o.csv",
                                                          "o.txt", "o")] + \
            [os.path.join(folder, "no", "such", "o.png"), folder, "/dev/full", ""]
        self.verbs = itertools.cycle(self.draw.rng.sample([v for v, _ in VERBS], len(VERBS)))
        self.ran = set()

    def name(self, allow_running=True):
        """A lab name: invalid, or this test's own (valid random ones are made its own)."""
        d = self.draw
        choice = d.any(self.own + ([self.running] if self.running and allow_running else []), NASTY, None)
        if LAB_NAME.fullmatch(choice) and choice not in self.own and choice != self.running:
            choice = (self.prefix + choice)[:12]
            self.used.add(choice)
        return choice

    def value(self, dest, verb):
        """A value for ``dest`` of ``verb``: mostly bad, now and then valid, never long-running."""
        d = self.draw
        if dest == "lab":
            return self.name()
        if dest == "name" and verb in ("up", "down", "exercise", "export", "bench"):  # --name: a lab (or prefix)
            return self.name(allow_running=False)
        if dest == "target":  # lab down: names and what is not a regular file (a file names its scenario's lab)
            return self.name(allow_running=False) if d.one_in(2) else \
                self.files[d.pick(("dir", "device", "fifo", "missing"))]
        if dest in ("scenario", "filename", "files", "config", "topology"):
            seed = [os.path.join(SCENARIOS, "seed", f) for f in ("service.yml", "pod-nodeport.yml")]
            return d.any(list(self.files.values()) + (seed if verb in ("apply", "render") else []), NASTY)
        if dest in ("output", "junit", "plot", "report"):
            return d.pick(self.outputs)
        pools = {"grace": DURATIONS, "after": DURATIONS, "grace_period": DURATIONS, "timeout": DURATIONS,
                 "n": COUNTS, "port": PORTS, "sizes": BAD_SIZES}
        if dest in pools:
            return d.pick(pools[dest])
        if dest == "exercise":
            choice = d.any(NASTY, None)
            try:
                catalog.find(choice)
                return "no-such-exercise"  # a real one would bring a lab up
            except LabError:
                return choice
        if (verb, dest) in (("node", "node"), ("link", "machine"), ("delete", "name"), ("kill", "name")):
            return d.any(NASTY, None)  # never a real machine or pod: no change of the running lab
        return d.any(NASTY, KNOWN, None)

    def argv(self, verb):
        d = self.draw
        parser = next(a for a in build_parser(verb)._actions if a.dest == "command").choices[verb]
        argv = [verb]
        while True:  # probe, exercise, bench: a sub-verb first
            sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
            if sub is None:
                break
            name = d.pick(sorted(sub.choices) + ["bogus"])
            argv.append(name)
            if name == "bogus":
                return argv
            parser = sub.choices[name]
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not action.option_strings:  # a positional: usually given, sometimes missing
                # (lab down with no target means $SVCLAB_LAB, the running lab: always given)
                if d.one_in(10) and not (verb == "down" and action.dest == "target"):
                    continue
                for _ in range(2 if action.nargs in ("+", "*") and d.one_in(2) else 1):
                    argv.append(self._one(action, verb))
            elif verb == "bench" and action.dest == "sizes":  # a valid study runs for minutes
                argv += [action.option_strings[0], self.value("sizes", verb)]
            elif d.one_in(3):
                argv.append(d.pick(action.option_strings))
                if action.nargs != 0:
                    argv.append(self._one(action, verb))
        if d.one_in(10):
            argv.append(d.pick(NASTY))
        if verb == "ui":  # a valid lab ui serves until Ctrl-C: the last --lab is never a running lab
            argv += ["--lab", self.name(allow_running=False)]
        if verb == "exec" and d.one_in(2):
            argv += ["--"] + d.pick([["true"], ["false"], ["sh", "-c", "exit 3"], ["no-such-command-svclab"],
                                     ["cat", "/nonexistent"]])
        return argv

    def _one(self, action, verb):
        if action.choices and not self.draw.one_in(3):
            return self.draw.pick(action.choices)
        return self.value(action.dest, verb)

    def batch(self):
        return [self.argv(next(self.verbs)) for _ in range(BATCH)]

    def run(self, argvs):
        """Run the batch at once; a failure message for each run that broke a rule."""
        env = dict(os.environ, SVCLAB_LAB=self.running or self.own[0])
        env.pop("SVCLAB_DEBUG", None)
        procs = [(argv, time.monotonic(), subprocess.Popen([sys.executable, "-m", "lab", *argv], cwd=ROOT, env=env,
                                                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                           stderr=subprocess.PIPE, start_new_session=True))
                 for argv in argvs]
        problems = []
        for argv, started, proc in procs:
            self.ran.add(argv[0])
            try:
                err = proc.communicate(timeout=max(0.1, started + SECONDS - time.monotonic()))[1]
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the run and what it started: this test's own
                proc.communicate()
                problems.append(f"ran past {SECONDS} s: {argv!r}")
                continue
            err = err.decode(errors="replace")
            if "Traceback" in err or "internal error" in err or proc.returncode not in (0, 1, 2):
                problems.append(f"exit {proc.returncode}: {argv!r}\n{err[-3000:]}")
        return problems


def host_entries():
    etc = set(os.listdir("/etc/netns")) if os.path.isdir("/etc/netns") else set()
    state = set(os.listdir(STATE_DIR)) if os.path.isdir(STATE_DIR) else set()
    return netns_list(), state, etc


def git_status():
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                          text=True).stdout


def residue(fuzz, before, status):
    """What the fuzz left: entries named after a lab name it passed, and new files in the repository."""
    after = host_entries()
    mine = lambda entry: any(entry == n or entry.startswith(n + "-") for n in fuzz.used)  # noqa: E731
    left = {what: sorted(e for e in now - then if mine(e))
            for what, then, now in zip(("netns", "/run/svclab", "/etc/netns"), before, after)}
    left = {k: v for k, v in left.items() if v}
    if git_status() != status:
        left["repository"] = git_status()
    return left


def fuzz_cli(fuzz, batches):
    before, status = host_entries(), git_status()
    problems = []
    try:
        for _ in range(batches):
            problems += fuzz.run(fuzz.batch())
    finally:
        left = residue(fuzz, before, status)
    assert not problems, f"seed {fuzz.seed} (SVCLAB_FUZZ_SEED={fuzz.seed} replays it):\n\n" + "\n\n".join(problems)
    assert not left, (fuzz.seed, left)
    assert fuzz.ran == {v for v, _ in VERBS}, {v for v, _ in VERBS} - fuzz.ran


def test_fuzz_every_verb_without_a_lab(tmp_path):
    fuzz_cli(Fuzz(str(tmp_path)), batches=30)


def test_fuzz_every_verb_against_a_running_lab(seed_lab, tmp_path):
    fuzz = Fuzz(str(tmp_path), running=seed_lab.name)
    fuzz_cli(fuzz, batches=45)
    traces = lab_traces(seed_lab.name)  # still whole: every namespace its record lists, and only those
    with open(os.path.join(STATE_DIR, seed_lab.name, "state.json")) as f:
        assert set(traces["netns"]) == set(json.load(f)["namespaces"])
