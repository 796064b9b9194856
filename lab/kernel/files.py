"""Files the lab writes for its agents and itself: replaced whole, never seen half-written."""

import os


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file renamed over it."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
