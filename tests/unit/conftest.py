"""tests/unit: no root, no network namespaces, no subprocess that needs root; milliseconds each.

Runs as any user: ``python3 -m pytest tests/unit``. Nothing is skipped here for want of root; a test
that needs an optional tool or package (Graphviz's dot, matplotlib, jsonschema, hypothesis) skips
itself with the reason.
"""

import os


def _writable(path):
    return os.access(path, os.W_OK) if os.path.exists(path) else _writable(os.path.dirname(path))


try:
    from hypothesis import settings
    from hypothesis.database import InMemoryExampleDatabase
except ImportError:  # test_input_properties skips itself
    pass
else:
    # a user who cannot write the checkout (nobody, say): hypothesis keeps its examples in memory,
    # as it would anyway, without warning that .hypothesis/ is unusable
    if not _writable(os.path.join(os.getcwd(), ".hypothesis", "examples")):
        settings.register_profile("read-only-checkout", database=InMemoryExampleDatabase())
        settings.load_profile("read-only-checkout")
