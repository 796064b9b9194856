"""Named network namespaces: create, enter (per thread), list, find their processes, delete.

Only names handed in by the caller are touched; nothing is matched by pattern.
"""

import contextlib
import ctypes
import os
import socket

from lab.errors import CommandFailed

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def path(name):
    return os.path.join(NETNS_DIR, name)


def enter_argv(name):
    """The command prefix that runs a program inside ``name``: nsenter enters the namespace and
    execs the program in the same process (no fork, and no Python code between fork and exec)."""
    return ["nsenter", f"--net={path(name)}"]


def setns_fd(fd):
    """Move the calling thread into the network namespace behind ``fd``."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def entered(name):
    """Run the body in namespace ``name`` (this thread only), then come back."""
    return entered_path(path(name))


@contextlib.contextmanager
def entered_path(ns_path):
    """Run the body in the namespace file ``ns_path`` (``/proc/self/fd/N`` for an open one)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(ns_path, os.O_RDONLY)
    try:
        setns_fd(target)
        try:
            yield
        finally:
            setns_fd(home)
    finally:
        os.close(target)
        os.close(home)


def existing():
    try:
        return set(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return set()


def _ip_batch(lines, force=False):
    if not lines:
        return
    import subprocess  # only to make namespaces
    cmd = ["ip"] + (["-force"] if force else []) + ["-batch", "-"]
    result = subprocess.run(cmd, input="\n".join(lines) + "\n", text=True, capture_output=True)
    if result.returncode != 0 and not force:
        raise CommandFailed(cmd, None, result.returncode, result.stderr)


def create(names):
    """Create named namespaces with one ``ip -batch`` (0.5 ms each, against 2.5 ms for ``ip netns add``)."""
    _ip_batch([f"netns add {n}" for n in names])


def delete(names):
    """Delete those of ``names`` that exist, as ``ip netns delete`` does (detach the bind mount,
    remove the file) without starting ``ip``; the kernel frees them asynchronously."""
    present = existing()
    for name in names:
        if name in present:
            _libc.umount2(path(name).encode(), MNT_DETACH)
            try:
                os.unlink(path(name))
            except OSError:
                pass


def pids(name):
    """PIDs of processes whose network namespace is ``name`` (what ``ip netns pids`` reports)."""
    try:
        st = os.stat(path(name))
    except FileNotFoundError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ns = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (ns.st_dev, ns.st_ino) == (st.st_dev, st.st_ino):
            found.append(int(entry))
    return found


def write_sysctl(key, value):
    """Write a sysctl in the current thread's network namespace; False if it does not exist."""
    try:
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(str(value))
        return True
    except FileNotFoundError:
        return False


def neighbour_limit():
    """The host kernel's ARP table limit (``gc_thresh3``), shared by every namespace; only read."""
    try:
        with open("/proc/sys/net/ipv4/neigh/default/gc_thresh3") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1024

def listen_in(netns_name, port, kind=socket.SOCK_STREAM, address="0.0.0.0"):
    """A socket bound (and listening, for TCP) in another namespace; it stays bound to that namespace."""
    with entered(netns_name):
        sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    if kind == socket.SOCK_STREAM:
        sock.listen(4096)
    sock.setblocking(False)
    return sock
