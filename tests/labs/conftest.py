"""tests/labs: whole labs brought up with ``lab up`` (module-scoped fixtures), the pytest plugin's
example, classroom exercises, Mininet, and the checks that the host is left untouched.

Every test here is skipped, with the reason, when not run as root. A test that needs a tool or
package (nft, Mininet) skips itself with the reason where it is missing.
"""

from pathlib import Path

from factories import lab_fixture, skip_unless_root

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    skip_unless_root(items, HERE, "tests/labs brings whole labs up: run as root (sudo python3 -m pytest)")


seed_lab = lab_fixture("seed.yml", "s")  # the seed scenario, up once for each test module that asks
