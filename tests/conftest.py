"""The suite's root conftest: tests/unit (no root), tests/kernel (root, scratch namespaces) and
tests/labs (root, whole labs) each have their own conftest with their skips and fixtures.

Being the top conftest (a folder without __init__.py, pytest's default "prepend" import mode),
this file puts tests/ on sys.path: every test module imports its shared factories with
``from factories import ...``.
"""

# the plugin an installed svclab registers through its pytest11 entry point (same name, so it is
# not registered twice when svclab is installed); it must be named in the rootdir's conftest
pytest_plugins = ["lab.pytest_plugin"]
