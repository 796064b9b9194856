"""tests/kernel: root and scratch network namespaces (rules loaded into one, netlink read back,
kube-proxy's health server run in one), but no whole lab.

Every test here is skipped, with the reason, when not run as root. A test that needs a tool (nft,
iptables-restore, curl) skips itself with the reason where the tool is missing.
"""

import itertools
import os
import subprocess
from pathlib import Path

import pytest

from factories import skip_unless_root

HERE = Path(__file__).parent
_scratch_ids = itertools.count()


def pytest_collection_modifyitems(config, items):
    skip_unless_root(items, HERE, "tests/kernel builds network namespaces: run as root (sudo python3 -m pytest)")


@pytest.fixture
def scratch_netns():
    """A scratch network namespace, loopback up, named ``svt-<pid>-<n>`` (unique to this process and
    test), always deleted afterwards, the test failing or not."""
    name = f"svt-{os.getpid()}-{next(_scratch_ids)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
