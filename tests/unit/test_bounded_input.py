"""Input is bounded: an input file is a regular file of at most 16 MiB, read once; its YAML aliases
expand to at most 1,000,000 values; mappings and lists nest at most 100 deep (lab/spec/yamlfiles.py).
A device, a FIFO, a 4 GiB sparse file, an alias bomb (also in a pod template, also inline in a
scenario), 5,000 nested mappings and 3,000 nested lists each get one line and exit code 2, quickly
and in bounded memory, from ``up``, ``apply -f``, ``render``, ``diagram``, ``export`` and
``verify``: as a file given on the command line, and as a file a scenario names.

No root: every verb reads its files before it looks for a lab or needs root."""

import os
import resource
import subprocess
import sys
import time

import pytest

from factories import ROOT, SCENARIOS, STATE_DIR, TOPOLOGY, unique_lab_name
from lab.errors import InputError
from lab.spec import yamlfiles

MEMORY = 1024 * 2 ** 20  # address space for one run: a bomb expanded would need far more
SECONDS = 5

BOMB = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]'] + [
    f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]  # 10^9 values
DEPLOYMENT = open(os.path.join(SCENARIOS, "seed", "pod-nodeport.yml")).read()


def make_files(folder):
    """{what: (path, what the one line says)}."""
    fifo = os.path.join(folder, "fifo.yml")
    os.mkfifo(fifo)
    sparse = os.path.join(folder, "sparse.yml")
    with open(sparse, "wb") as f:
        f.truncate(4 * 2 ** 30)
    texts = {
        "bomb.yml": "\n".join(BOMB) + "\n",
        "bomb-template.yml": DEPLOYMENT.replace(
            "    spec:\n", "      annotations:\n" + "".join(f"        {line}\n" for line in BOMB) + "    spec:\n"),
        "maps.yml": "a: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
        "lists.yml": "a: " + "[" * 3000 + "1" + "]" * 3000 + "\n",
    }
    for name, text in texts.items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
    at = lambda name: os.path.join(folder, name)  # noqa: E731
    return {"device": ("/dev/zero", "is not a regular file"), "fifo": (fifo, "is not a regular file"),
            "sparse": (sparse, "is 4294967296 bytes, over svclab's limit of 16 MiB"),
            "bomb": (at("bomb.yml"), "with every YAML alias expanded, number over 1,000,000"),
            "bomb in a template": (at("bomb-template.yml"), "with every YAML alias expanded, number over 1,000,000"),
            "maps": (at("maps.yml"), "mappings and lists nest deeper than 100 levels"),
            "lists": (at("lists.yml"), "mappings and lists nest deeper than 100 levels")}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_files(str(tmp_path_factory.mktemp("bounded")))


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def run_all(argvs):
    """Run ``lab ARGV`` for each (two at a time), each in 1 GiB of address space; [(result, seconds)]."""
    out = []
    for start in range(0, len(argvs), 2):
        began = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-m", "lab", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, preexec_fn=_limited)
                 for argv in argvs[start:start + 2]]
        for proc in procs:
            try:
                stdout, stderr = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
            out.append((subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr),
                        time.monotonic() - began))
    return out


def check_refused(argvs, said):
    for argv, (r, seconds), words in zip(argvs, run_all(argvs), said):
        where = " ".join(argv)
        assert r.returncode == 2, f"{where}: exit {r.returncode}: {r.stderr[-500:]}"
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, \
            f"{where}: {r.stderr[-500:]}"
        for word in words:
            assert word in r.stderr, f"{where}: {word!r} not in {r.stderr}"
        assert seconds < SECONDS, f"{where}: {seconds:.1f} s"


def verbs(path, lab):
    return [["up", path, "--name", lab], ["apply", "-f", path, "--lab", lab], ["render", "iptables", path],
            ["diagram", path], ["export", path], ["verify", path]]


def test_every_verb_refuses_each_file_given_to_it(files):
    lab = unique_lab_name("bnd")  # never up: apply reads its file before it looks for the lab
    argvs, said = [], []
    for path, words in files.values():
        for argv in verbs(path, lab):
            argvs.append(argv)
            said.append((path, words))
    check_refused(argvs, said)
    assert not os.path.exists(os.path.join(STATE_DIR, lab))


def test_every_verb_refuses_each_file_a_scenario_names(files, tmp_path):
    """The same files named as the scenario's topology (or a manifest), for ``up`` and ``verify``
    (``diagram`` and ``export`` load scenarios the same way): the one line says which field of the
    scenario named the file."""
    lab = unique_lab_name("bnd")
    argvs, said = [], []
    for what, (path, words) in files.items():
        where = "manifests[0]" if what == "bomb in a template" else "topology"
        text = (f"topology: {TOPOLOGY}\nmanifests: [{path}]\n" if where != "topology"
                else f"topology: {path}\nmanifests: []\n")
        scenario_path = tmp_path / f"{what.replace(' ', '-')}.yml"
        scenario_path.write_text(text)
        expected = [f"named by {scenario_path}: {where}", path, words] if what not in ("device", "fifo") \
            else [f"{scenario_path}: {where}: {path!r} is not a regular file"]
        for argv in (["up", str(scenario_path), "--name", lab], ["verify", str(scenario_path)]):
            argvs.append(argv)
            said.append(expected)
    check_refused(argvs, said)


def test_a_bomb_inline_in_a_scenario(tmp_path):
    path = tmp_path / "scenario.yml"
    path.write_text("\n".join(BOMB) + f"\ntopology: {TOPOLOGY}\nmanifests:\n  - *a8\n")
    check_refused([["diagram", str(path)], ["up", str(path), "--name", unique_lab_name("bnd")]],
                  [[str(path), "number over 1,000,000"]] * 2)


# the limits, exactly -------------------------------------------------------------------------

def test_nesting_is_allowed_to_100_levels():
    yamlfiles.parse_documents("[" * 100 + "1" + "]" * 100, "f.yml")
    yamlfiles.parse_documents("{a: " * 99 + "[1]" + "}" * 99, "f.yml")
    yamlfiles.parse_documents("- " * 100 + "x", "f.yml")
    for text in ("[" * 101 + "1" + "]" * 101, "{a: " * 100 + "[1]" + "}" * 100, "- " * 101 + "x"):
        with pytest.raises(InputError, match="nest deeper than 100 levels"):
            yamlfiles.parse_documents(text, "f.yml")


def test_values_are_allowed_to_a_million_with_aliases_expanded():
    # a list of 999 scalars (1,000 values with itself) named 999 times, 999 scalars more, and the
    # outer list: exactly 1,000,000 values
    inner = "&a [" + ",".join(["x"] * 999) + "]"
    text = lambda extra: "- " + inner + "\n" + "- *a\n" * 998 + "- x\n" * (999 + extra)  # noqa: E731
    assert len(yamlfiles.parse_documents(text(0), "f.yml")[0]) == 999 + 999
    with pytest.raises(InputError, match="number over 1,000,000"):
        yamlfiles.parse_documents(text(1), "f.yml")


def test_a_file_is_allowed_to_16_mib(tmp_path):
    limit = 16 * 2 ** 20
    exact, over = tmp_path / "exact.yml", tmp_path / "over.yml"
    exact.write_text("# " + "x" * (limit - 3) + "\n")
    over.write_text("# " + "x" * (limit - 2) + "\n")
    assert os.path.getsize(exact) == limit and yamlfiles.read_text(str(exact)).startswith("# x")
    with pytest.raises(InputError, match="over svclab's limit of 16 MiB"):
        yamlfiles.read_text(str(over))

