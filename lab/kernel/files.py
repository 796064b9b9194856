"""Files the lab writes for its agents and itself: replaced whole, never seen half-written."""

import os


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file renamed over it."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def remove_tree(path):
    """Remove a directory and what it holds, as far as possible (shutil's rmtree, without the
    imports that ``down`` would pay for it)."""
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files:
            try:
                os.unlink(os.path.join(root, name))
            except OSError:
                pass
        for name in dirs:
            try:
                os.rmdir(os.path.join(root, name))
            except OSError:  # a symlink to a directory, or not empty
                try:
                    os.unlink(os.path.join(root, name))
                except OSError:
                    pass
    try:
        os.rmdir(path)
    except OSError:
        pass
