"""Starting the lab's daemons inside namespaces, waiting for them, and stopping exactly them."""

import contextlib
import os
import select
import signal
import sys
import threading
import time

from lab.errors import InternalError
from lab.kernel import netns

LAB_MARKER = "--lab"  # every daemon carries ``--lab NAME`` on its command line


class Daemon:
    """A started daemon and the pipe on which it reports ``ok`` (or an error) once serving. A
    forked one learns its PID when the fork server's reply is read (``settle``)."""

    def __init__(self, name, ready_fd, proc=None, server=None):
        self.name, self.ready_fd, self.proc, self.server = name, ready_fd, proc, server
        self._pid, self.error = (proc.pid if proc else None), None

    @property
    def pid(self):
        if self._pid is None and self.error is None and self.server is not None:
            self.server.settle()
        return self._pid


_fork_server = None  # lab.kernel.forkserver.ForkServer while ``forking`` runs


@contextlib.contextmanager
def forking(lab, preload):
    """Within the body, ``spawn`` forks daemons from a fork server that has imported ``preload``
    (modules), instead of starting an interpreter for each. Only from a process with no other
    thread (forking one with threads is unsafe): elsewhere ``spawn`` starts interpreters."""
    global _fork_server
    if _fork_server is not None or threading.active_count() > 1:
        yield None
        return
    from lab.kernel import forkserver
    _fork_server = server = forkserver.ForkServer.start(lab, preload)
    try:
        yield server
    finally:
        _fork_server = None
        server.close()


def spawn(argv0, module, args, netns_name, log_path, lab, bin_dir, pass_fds=(), on_pid=None):
    """Run ``python -m module`` as ``argv0`` (the name ps, netstat and ss show) in ``netns_name``
    (None: the host's namespace), with ``pass_fds`` open in it too; ``on_pid(pid)`` once its PID
    is known (at once, unless a fork server started it: then when ``wait_ready`` looks).

    The name comes from a symlink to the Python interpreter called ``argv0`` in ``bin_dir``:
    netstat shows the basename of argv[0] and ss the executable's name, and an absolute
    symlink still lets Python find its standard library. A forked daemon sets the same name and
    command line itself.
    """
    import subprocess  # not for down, which only signals
    executable = _named_interpreter(bin_dir, argv0)
    ready_r, ready_w = os.pipe()
    argv = [executable, "-m", module, LAB_MARKER, lab, "--ready-fd", str(ready_w)] + list(args)
    log = open(log_path, "ab")
    try:
        daemon = _fork(argv0, argv, module, netns_name, log, ready_r, ready_w, pass_fds, on_pid,
                       os.path.dirname(bin_dir))
        if daemon is None:
            # no preexec function: Python can vfork instead of copying this (large) process per daemon
            proc = subprocess.Popen((netns.enter_argv(netns_name) if netns_name else []) + argv,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    pass_fds=(ready_w, *pass_fds), start_new_session=True, env=_child_env(), cwd="/")
            daemon = Daemon(argv0, ready_r, proc=proc)
            if on_pid:
                on_pid(proc.pid)
    finally:
        os.close(ready_w)
        log.close()
    return daemon


def _fork(argv0, argv, module, netns_name, log, ready_r, ready_w, pass_fds, on_pid, lab_dir):
    """The daemon, asked of ``up``'s fork server, or else of the one ``up`` handed over to the lab
    (listening in ``lab_dir``); None when there is none (or it is gone)."""
    server, own = _fork_server, False
    if server is None:
        from lab.kernel import forkserver
        server, own = forkserver.ForkServer.connect(os.path.join(lab_dir, forkserver.SOCKET_NAME)), True
        if server is None:
            return None
    daemon = Daemon(argv0, ready_r, server=server)

    def on_reply(pid, error):
        daemon._pid, daemon.error = pid, error
        if pid and on_pid:
            on_pid(pid)

    fds = [log.fileno(), log.fileno(), ready_w, *pass_fds]
    submitted = server.submit(argv, module, netns_name, fds, [1, 2, ready_w, *pass_fds], _child_env(), on_reply)
    if own:
        server.close()  # the PID is read back now: this connection is for this daemon only
        if daemon.error is not None:
            return None  # not started: an interpreter instead
    return daemon if submitted else None


def spawn_command(argv, netns_name, log_path):
    """Run a program (nginx) in ``netns_name``, in a session of its own, logging to ``log_path``."""
    import subprocess
    ns_fd = os.open(netns.path(netns_name), os.O_RDONLY)
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: netns.setns_fd(ns_fd), start_new_session=True, cwd="/")
    finally:
        os.close(ns_fd)
        log.close()


def spawn_program(argv, log_path, env):
    """Run ``argv`` (a user's command, already prefixed to enter its namespaces) in a session of
    its own, from /, logging to ``log_path``; not waited for."""
    import subprocess
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd="/", env=env, close_fds=True)
    finally:
        log.close()


def _named_interpreter(bin_dir, name):
    os.makedirs(bin_dir, exist_ok=True)
    link = os.path.join(bin_dir, name)
    if not os.path.islink(link):
        os.symlink(os.path.realpath(sys.executable), link)
    return link


def _child_env():
    """The parent's module search path, so the child imports the same ``lab`` and packages."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def wait_ready(daemons, timeout=15.0):
    """Wait until every daemon has reported; raise with the first error or silence."""
    for d in daemons:
        if d.pid is None:
            _close_all(daemons)
            raise InternalError(f"{d.name} did not start: {d.error}")
    pending = {d.ready_fd: d for d in daemons}
    buffers = {fd: b"" for fd in pending}
    deadline = time.monotonic() + timeout
    try:
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                names = ", ".join(sorted({d.name for d in pending.values()}))
                raise InternalError(f"timed out waiting for {names} to start")
            ready, _, _ = select.select(list(pending), [], [], left)
            for fd in ready:
                chunk = os.read(fd, 4096)
                buffers[fd] += chunk
                if chunk and not buffers[fd].endswith(b"\n"):
                    continue
                daemon = pending.pop(fd)
                message = buffers[fd].decode(errors="replace").strip()
                if message != "ok":
                    raise InternalError(f"{daemon.name} (pid {daemon.pid}) failed: {message or 'exited'}")
    finally:
        _close_all(daemons)


def _close_all(daemons):
    for d in daemons:
        try:
            os.close(d.ready_fd)
        except OSError:
            pass


def report_ready(fd, message="ok"):
    """Called by a daemon: tell the parent it is serving (or why it is not). A parent that is gone
    (killed while it waited) is no reason to stop serving: the next change finds the daemon."""
    try:
        os.write(fd, (message.replace("\n", " ") + "\n").encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def is_lab_process(pid, lab, lab_dir=None):
    """True if ``pid`` is still one of this lab's daemons (a recorded PID may have been reused):
    its command line carries ``--lab NAME``, or names a path in the lab's state directory."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    marker, name = LAB_MARKER.encode(), lab.encode()
    if any(a == marker and b == name for a, b in zip(argv, argv[1:])):
        return True
    prefix = (lab_dir.rstrip("/") + "/").encode() if lab_dir else None
    # nginx rewrites its command line into one string ("nginx: master process ... -p <dir>"): each
    # word counts, and an option's value too (a container command's ``nsenter --uts=<dir>/uts/...``)
    return prefix is not None and any(word.startswith(prefix) or word.partition(b"=")[2].startswith(prefix)
                                      for a in argv for word in a.split())


def carrying(entries):
    """PIDs whose environment (as it was at their start, inherited by what they start) holds one
    of ``entries`` (``VARIABLE=value``): a pod's processes, where no namespace of its own tells
    them apart. One pass over /proc, however many entries."""
    wanted = {e.encode() for e in entries}
    found = []
    if not wanted:
        return found
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if wanted.intersection(f.read().split(b"\0")):
                    found.append(int(name))
        except OSError:
            continue
    return found


def _send(pids, sig):
    """Signal each; the ones that were still there."""
    alive = set()
    for pid in pids:
        try:
            os.kill(pid, sig)
            alive.add(pid)
        except ProcessLookupError:
            pass
    return alive


def kill_now(pids):
    """SIGKILL, then wait until each is gone."""
    for pid in _send(pids, signal.SIGKILL):
        _reap_wait(pid)


def stop(pids, grace=1.0):
    """SIGTERM, then SIGKILL whatever is left after ``grace`` seconds."""
    alive = _send(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            if not _exists(pid):
                alive.discard(pid)
        if alive:
            time.sleep(0.01)
    kill_now(alive)


def _exists(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def _reap_wait(pid, timeout=1.0):
    deadline = time.monotonic() + timeout
    while _exists(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
