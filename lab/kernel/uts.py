"""A machine's or pod's hostname: a UTS namespace for each, kept alive (as ``ip netns`` keeps a network
namespace) by a bind mount of the namespace on a file in the lab's run directory,
``/run/svclab/<lab>/uts/<netns>``. Commands a user runs there enter it with nsenter.

Namespaces are made in a thread of their own (``unshare`` moves only the calling thread), and
each file is recorded before it is mounted, so ``down`` unmounts exactly these.
"""

import ctypes
import os
import threading

CLONE_NEWUTS = 0x04000000
MS_BIND = 0x1000
MNT_DETACH = 0x2
_libc = ctypes.CDLL(None, use_errno=True)


def path(lab_dir, netns_name):
    return os.path.join(lab_dir, "uts", netns_name)


def enter_argv(lab_dir, netns_name):
    """The nsenter prefix that puts a command in the namespace's hostname (none where it has none)."""
    file = path(lab_dir, netns_name)
    return ["nsenter", f"--uts={file}"] if os.path.exists(file) else []


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def create(lab_dir, hostnames):
    """``{netns: hostname}``: a UTS namespace with that hostname for each, bound to its file."""
    if not hostnames:
        return
    os.makedirs(os.path.join(lab_dir, "uts"), mode=0o700, exist_ok=True)
    failures = []

    def work():
        try:
            for netns_name, hostname in hostnames.items():
                target = path(lab_dir, netns_name)
                open(target, "w").close()
                _check(_libc.unshare(CLONE_NEWUTS), "unshare")
                name = hostname.encode()
                _check(_libc.sethostname(name, len(name)), "sethostname")
                _check(_libc.mount(b"/proc/thread-self/ns/uts", target.encode(), None, MS_BIND, None), "mount")
        except OSError as exc:
            failures.append(exc)

    thread = threading.Thread(target=work, name="uts-namespaces")
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


def remove(lab_dir, netns_names):
    """Unmount and delete the files of ``netns_names`` (those that exist)."""
    for netns_name in netns_names:
        target = path(lab_dir, netns_name)
        if os.path.exists(target):
            _libc.umount2(target.encode(), MNT_DETACH)
            try:
                os.unlink(target)
            except OSError:
                pass
