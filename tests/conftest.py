import itertools
import os
import subprocess
import sys

import pytest

# the plugin an installed svclab registers through its pytest11 entry point (same name, so it is
# not registered twice when svclab is installed)
pytest_plugins = ["lab.pytest_plugin"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIOS = os.path.join(ROOT, "scenarios")
_counter = itertools.count()

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="builds network namespaces: run as root")


def unique_lab_name(tag="t"):
    """A lab name no other test (or user lab) uses: tag, pid and a counter, at most 12 characters."""
    return f"{tag}{os.getpid() % 100000}{next(_counter)}"[:12]


def run_lab(*args, check=True, timeout=60, input=None):
    """``python -m lab ARGS`` as a user would type it; returns the CompletedProcess."""
    result = subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=timeout, input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"lab {' '.join(args)} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def netns_list():
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


class Lab:
    """A lab brought up for a test module, and helpers to look inside it."""

    def __init__(self, scenario, name):
        self.scenario, self.name = scenario, name

    def up(self):
        return run_lab("up", self.scenario, "--name", self.name)

    def down(self):
        return run_lab("down", self.name)

    def lab(self, *args, **kw):
        return run_lab(*args, **kw)

    def get(self, *args):
        return run_lab("get", *args, "--lab", self.name).stdout

    def exec(self, target, *cmd, check=True, timeout=30):
        return run_lab("exec", target, "--lab", self.name, "--", *cmd, check=check, timeout=timeout)

    def curl(self, target, url, timeout=3):
        """The body curl prints, or None when curl fails (refused, timed out)."""
        r = self.exec(target, "curl", "-s", "-m", str(timeout), url, check=False, timeout=timeout + 10)
        return r.stdout if r.returncode == 0 else None

    def netns(self, suffix):
        return f"{self.name}-{suffix}"

    def ip_netns_exec(self, suffix, *cmd):
        return subprocess.run(["ip", "netns", "exec", self.netns(suffix), *cmd], capture_output=True, text=True,
                              timeout=30)


def lab_fixture(scenario_file, tag):
    """A module-scoped fixture: ``scenarios/<scenario_file>`` up under a unique name, down after."""
    @pytest.fixture(scope="module")
    def fixture():
        if os.geteuid() != 0:
            pytest.skip("builds network namespaces: run as root")
        lab = Lab(os.path.join(SCENARIOS, scenario_file), unique_lab_name(tag))
        lab.up()
        try:
            yield lab
        finally:
            run_lab("down", lab.name, check=False)
    return fixture


seed_lab = lab_fixture("seed.yml", "s")  # the seed scenario, for any test module that asks
