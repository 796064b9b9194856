"""The tools a command run in a pod finds first on its PATH, by the pod's image: the host's
tools for every image, except those an image of the seed shows differently. A busybox pod gets
busybox's ``sh`` (Debian's ``busybox`` package, when installed) with the image's ``/ # `` prompt,
and the old busybox ``nslookup`` (lab.images.nslookup).

A toolset is a directory of the lab's run directory (``/run/svclab/<lab>/images/busybox``), made
on first use, whole or not at all (built beside it, then renamed), so ``lab down`` removes it.
"""

import os
import shutil
import sys

IMAGES_DIR = "images"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# the repository holding the lab package, for the tools written in Python
_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_NSLOOKUP = """#!{python} -s
# busybox's nslookup, as the seed's busybox image prints it (svclab's lab.images.nslookup)
import sys
sys.path.insert(0, {root!r})
from lab.images import nslookup
sys.exit(nslookup.main(sys.argv[1:]))
"""

# Debian builds busybox's ash with a start-up banner the busybox image has not: an interactive
# shell starts with its standard output set aside, and its ENV file gives it back
_SH = """#!/bin/sh
# busybox's sh, as the busybox image's /bin/sh
case "$*" in
    ""|-i|-l|"-i -l"|"-l -i"|-il|-li)
        if [ -t 0 ] && [ -t 1 ]; then
            exec 3>&1
            ENV={dir}/ashrc exec {busybox} sh -i "$@" >/dev/null
        fi ;;
esac
exec {busybox} sh "$@"
"""

_ASHRC = """exec 1>&3 3>&-
unset ENV
PS1='\\w \\$ '
HISTFILE={dir}/ash_history
"""


def image_name(image):
    """The repository's last part: ``busybox`` for ``docker.io/library/busybox:1.28``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def _busybox_files(directory):
    files = {"nslookup": _NSLOOKUP.format(python=sys.executable, root=_SOURCE_ROOT)}
    busybox = shutil.which("busybox")
    if busybox:
        files["sh"] = _SH.format(dir=directory, busybox=busybox)
        files["ashrc"] = _ASHRC.format(dir=directory)
    return files


TOOLSETS = {"busybox": _busybox_files}


def directory(lab_dir, images):
    """The toolset directory for a pod with ``images`` (the first image that has one), made if
    missing; None when none of them has a toolset."""
    name = next((image_name(i) for i in images if image_name(i) in TOOLSETS), None)
    if name is None:
        return None
    final = os.path.join(lab_dir, IMAGES_DIR, name)
    if os.path.isdir(final):
        return final
    os.makedirs(os.path.dirname(final), mode=0o755, exist_ok=True)
    building = f"{final}.{os.getpid()}.new"
    os.makedirs(building, mode=0o755, exist_ok=True)
    for file_name, text in TOOLSETS[name](final).items():
        path = os.path.join(building, file_name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644 if file_name == "ashrc" else 0o755)
    try:
        os.rename(building, final)
    except OSError:  # made meanwhile by another command
        shutil.rmtree(building, ignore_errors=True)
    return final


def environment(lab_dir, images, term="dumb"):
    """The environment of a command run in a pod with ``images``: the toolset first on PATH."""
    tools = directory(lab_dir, images)
    return {"PATH": f"{tools}:{DEFAULT_PATH}" if tools else DEFAULT_PATH, "HOME": "/root", "TERM": term}


def prefixed(lab_dir, images, env):
    """``env`` (a user's own, for ``lab exec``) with the images' toolset, if any, first on PATH."""
    out = dict(env)
    tools = directory(lab_dir, images)
    if tools:
        out["PATH"] = f"{tools}:{out.get('PATH') or DEFAULT_PATH}"
    return out


def command(lab_dir, images, argv):
    """``argv`` as the image would run it: a path to one of the toolset's programs in the image's
    /bin (``/bin/sh``, ``/bin/nslookup``) is the toolset's."""
    tools = directory(lab_dir, images) if argv else None
    if tools and os.path.dirname(argv[0]) in ("/bin", "/usr/bin", "/sbin", "/usr/sbin") \
            and os.path.exists(os.path.join(tools, os.path.basename(argv[0]))):
        return [os.path.join(tools, os.path.basename(argv[0])), *argv[1:]]
    return list(argv)
