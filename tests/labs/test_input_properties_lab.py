"""Malformed and adversarial scenarios through the CLI, as root (``lab up``): exit code 2, one line
on stderr, and nothing created (no namespace, no lab record, no process). The loader's properties,
thrown at it by hypothesis, are tests/unit/test_input_properties.py."""

import copy
import os
import subprocess

import pytest

from factories import get_path, netns_of, run_lab, seed_files, unique_lab_name, write_files
from lab.kernel import record

SEED = seed_files()


def _processes_with(marker):
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if marker in line]


CLI_CASES = [
    ("shell in the lab name", None, None, "k8s;touch /tmp/svclab-pwned"),  # given with --name
    ("node name with a path", "topology.yml", ("nodes", 1, "name"), "../node1"),
    ("duplicate node address", "topology.yml", ("nodes", 2, "ip"), "192.168.179.99"),
    ("huge replicas", "pod-nodeport.yml", ("spec", "replicas"), 2 ** 63),
    ("nodePort out of range", "service.yml", ("spec", "ports", 0, "nodePort"), 70000),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_rejects_with_exit_2_and_creates_nothing(case, tmp_path):
    _, file, path, value = case
    files = copy.deepcopy(SEED)
    name = unique_lab_name("p")
    if file is None:
        name = value
    else:
        get_path(files[file], path[:-1])[path[-1]] = value
    scenario_path = write_files(files, str(tmp_path))
    try:
        r = run_lab("up", scenario_path, "--name", name, check=False)
    finally:
        if name in record.labs():  # came up after all: take it down before failing
            run_lab("down", name, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert str(tmp_path) in r.stderr or "command line: --name" in r.stderr
    assert not netns_of(name)
    assert name not in record.labs() and not os.path.exists(os.path.join(record.ROOT, name))
    assert not _processes_with(f"--lab {name}")
    assert not os.path.exists("/tmp/svclab-pwned")
