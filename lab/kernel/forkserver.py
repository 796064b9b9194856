"""A fork server for the lab's Python agents: one process that has imported their code forks
each agent into its network namespace, where a new interpreter per agent would pay Python's
start-up and the agent's imports again (50-150 ms of CPU each, several agents on two cores).

``up`` starts it before the lab has anything else and while ``up`` has no thread: the server
stays single-threaded all its life (fork is only safe there) and, while ``up`` runs, dies with
it (PR_SET_PDEATHSIG). Once the lab is up, ``up`` hands it over to the lab (``detach``): it moves
into one of the lab's namespaces (``ip netns pids`` and ``down`` find it there; the record lists
it too), leaves ``up``'s session, and serves the same requests on a socket in the lab's state
directory, so a live change (``lab apply``, or the multi-threaded API server, which must not
fork itself) gets a new agent in a few milliseconds rather than a new interpreter's 80-150 ms.
It lives until ``down`` kills it; if ``up`` closes its socket without handing it over, it exits.

For each request it enters the agent's namespace and forks there, so the agent is in one of the
lab's namespaces from its first instruction (``down`` finds it through ``ip netns pids`` before
its PID is recorded). The child then becomes what ``python3 -m MODULE`` run as ``argv0`` would be: a session of its own, only its
own fds, default signal handlers, its name (PR_SET_NAME: ps and ss) and its command line
(PR_SET_MM_MAP: netstat shows argv[0]'s basename, and the lab finds ``--lab NAME`` there).
Where the kernel refuses to move the command line, the child execs the interpreter instead:
the slow path, with the same result.
"""

import contextlib
import ctypes
import fcntl
import importlib
import json
import os
import select
import signal
import socket
import sys
import traceback

from lab.kernel import netns

SOCKET_NAME = "forkserver.sock"  # in the lab's state directory, once up has handed the server over

PR_SET_NAME, PR_SET_PDEATHSIG, PR_SET_MM, PR_SET_MM_MAP = 15, 1, 35, 14
_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.sbrk.restype, _libc.sbrk.argtypes = ctypes.c_void_p, [ctypes.c_long]
_keep = []  # what must outlive the call that made it: the new command line, the old stdio objects


class _MmMap(ctypes.Structure):  # struct prctl_mm_map, linux/prctl.h
    _fields_ = [(n, ctypes.c_uint64) for n in ("start_code", "end_code", "start_data", "end_data", "start_brk",
                                               "brk", "start_stack", "arg_start", "arg_end", "env_start",
                                               "env_end")] + [("auxv", ctypes.c_void_p), ("auxv_size", ctypes.c_uint32),
                                                              ("exe_fd", ctypes.c_uint32)]


def set_name(argv):
    """This process's name (``comm``, 15 bytes) and command line become ``argv``'s; False when the
    kernel refuses the command line."""
    name = ctypes.create_string_buffer(os.path.basename(argv[0]).encode()[:15])
    _libc.prctl(PR_SET_NAME, ctypes.addressof(name), 0, 0, 0)
    raw = b"\0".join(a.encode() for a in argv) + b"\0"
    line = ctypes.create_string_buffer(raw, len(raw))
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()

    def field(n):  # proc(5) numbers the fields from 1; the split starts at the 3rd
        return int(fields[n - 3])

    mm = _MmMap(start_code=field(26), end_code=field(27), start_stack=field(28), start_data=field(45),
                end_data=field(46), start_brk=field(47), brk=_libc.sbrk(0), arg_start=ctypes.addressof(line),
                arg_end=ctypes.addressof(line) + len(raw), env_start=field(50), env_end=field(51), auxv=None,
                auxv_size=0, exe_fd=0xFFFFFFFF)
    if _libc.prctl(PR_SET_MM, PR_SET_MM_MAP, ctypes.addressof(mm), ctypes.sizeof(mm), 0) != 0:
        return False
    _keep.append(line)
    return True


# the client, in ``up`` -------------------------------------------------------------------------

class ForkServer:
    """``up``'s end: requests go out at once, each PID is read back when it is first needed
    (replies come in request order), so ``up`` goes on building while the server imports."""

    def __init__(self, pid, sock):
        self.pid, self.sock = pid, sock
        self.pending = []  # [callback(pid or None, error or None)], oldest first
        self.alive = True

    @classmethod
    def start(cls, lab, preload=()):
        """Fork the server (call with no thread running); it imports ``preload`` while idle."""
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                ours.close()
                code = _serve(theirs, lab, list(preload), parent)
            finally:
                os._exit(code)
        theirs.close()
        return cls(pid, ours)

    def submit(self, argv, module, netns_name, fds, targets, env, on_reply):
        """Ask for ``argv`` (``[interpreter named argv0, "-m", module, ...]``) in ``netns_name``;
        ``fds`` are sent along and become the child's ``targets`` fd numbers (its stdout and stderr
        first). ``on_reply(pid, error)`` is called when the answer is read. False if the server is gone."""
        if not self.alive:
            return False
        request = json.dumps({"argv": argv, "module": module, "netns": netns_name, "targets": targets, "env": env})
        try:
            socket.send_fds(self.sock, [request.encode()], fds)
        except OSError:
            self.alive = False
            return False
        self.pending.append(on_reply)
        return True

    def settle(self, count=None):
        """Read the replies to the oldest ``count`` requests (all of them by default)."""
        for _ in range(len(self.pending) if count is None else count):
            on_reply = self.pending.pop(0)
            try:
                reply = json.loads(self.sock.recv(65536) or b"null")
            except OSError:
                reply = None
            if reply is None:
                self.alive = False
                on_reply(None, "the fork server exited")
            else:
                on_reply(reply.get("pid"), reply.get("error"))

    @classmethod
    def connect(cls, path):
        """A client of a lab's detached server (from any process, threads or not); None if there
        is none listening at ``path``."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            return None
        return cls(None, sock)

    def detach(self, path, netns_name):
        """Hand the server over to the lab: it forks once more (so it is no child of ``up``'s),
        moves into ``netns_name``, leaves ``up``'s session and death signal, and listens at
        ``path``. Its new PID, or None. It exits when this socket closes unless ``confirm`` came
        first: the caller records the PID in between, so a killed ``up`` leaves no server unrecorded."""
        self.settle()
        try:
            self.sock.send(json.dumps({"detach": {"path": path, "netns": netns_name}}).encode())
            reply = json.loads(self.sock.recv(65536) or b"null")
        except OSError:
            reply = None
        return reply.get("pid") if reply else None

    def confirm(self):
        with contextlib.suppress(OSError):
            self.sock.send(json.dumps({"confirm": True}).encode())

    def close(self):
        """Read what is still owed and close; a server started here (not detached) then exits,
        and is reaped."""
        self.settle()
        self.sock.close()
        if self.pid is None:
            return
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


# the server ------------------------------------------------------------------------------------

def _serve(sock, lab, preload, parent):
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # up died before the line above
        return 0
    set_name(["svclab-forkserver", "--lab", lab])
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # a child that dies before the server exits is reaped
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is up's to handle; it closes the socket
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    clients, listener, confirmed = [sock], None, False
    while True:
        waiting = clients + ([listener] if listener else [])
        if preload and not select.select(waiting, [], [], 0)[0]:
            _import(preload.pop(0))
            continue
        for ready in select.select(waiting, [], [])[0]:
            if ready is listener:
                try:
                    clients.append(listener.accept()[0])
                except OSError:
                    pass
                continue
            try:
                message, fds, _, _ = socket.recv_fds(ready, 65536, 64)
            except OSError:
                message, fds = b"", []
            if not message:
                clients.remove(ready)
                ready.close()
                if ready is sock and not confirmed:  # up is done (or killed) and never handed it over
                    return 0
                continue
            request = json.loads(message)
            if "confirm" in request:
                confirmed = True
                continue
            try:
                if "detach" in request:
                    if os.fork() != 0:
                        os._exit(0)  # up reaps this one; the child goes on as the lab's server
                    listener, home = _detach(request["detach"], home, {c.fileno() for c in clients})
                    reply = {"pid": os.getpid(), "listening": request["detach"]["path"]}
                else:
                    reply = {"pid": _fork(request, fds, ready, home)}
            except OSError as exc:
                reply = {"error": str(exc)}
            finally:
                for fd in fds:
                    os.close(fd)
            try:
                ready.send(json.dumps(reply).encode())
            except OSError:
                pass


def _detach(request, home, keep):
    """Become the lab's: into its namespace ``request["netns"]``, out of up's session, death
    signal and terminal, holding no fd of up's but ``keep``; listening at ``request["path"]``
    (root only). (listener, new home fd)."""
    target = os.open(netns.path(request["netns"]), os.O_RDONLY)
    netns.setns_fd(target)
    os.close(home)
    _libc.prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)
    os.setsid()
    os.chdir("/")
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    for fd in [int(n) for n in os.listdir("/proc/self/fd")]:
        if fd > 2 and fd not in keep | {target}:
            with contextlib.suppress(OSError):
                os.close(fd)
    path = request["path"]
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    old_mask = os.umask(0o077)
    try:
        listener.bind(path)
    finally:
        os.umask(old_mask)
    listener.listen(16)
    return listener, target


def _import(module):
    try:
        importlib.import_module(module)
    except Exception:  # the child imports it again and reports what fails
        pass


def _fork(request, fds, sock, home):
    """Fork the requested agent inside its namespace; its PID."""
    if not request["module"].startswith("lab.agents.") and request["module"] != "lab.api.daemon":
        raise OSError(f"not an agent of the lab: {request['module']}")
    _import(request["module"])
    target = os.open(netns.path(request["netns"]), os.O_RDONLY) if request["netns"] else None
    try:
        if target is not None:
            netns.setns_fd(target)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(request, fds, sock)
            finally:
                os._exit(code)
        return pid
    finally:
        if target is not None:
            netns.setns_fd(home)
            os.close(target)


def _child(request, fds, sock):
    """Become the agent, run its ``main()``; the exit code."""
    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
    # as a new interpreter starts: Ctrl-C raises KeyboardInterrupt, a broken pipe is an error, not a signal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    signal.set_wakeup_fd(-1)
    os.setsid()
    sock.close()
    _place_fds(fds, request["targets"])
    os.chdir("/")
    argv = request["argv"]
    if not set_name(argv):
        os.execve(argv[0], argv, request["env"])
    _keep.extend((sys.stdin, sys.stdout, sys.stderr))  # never finalised: their buffers are the server's
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)
    sys.argv = [argv[0]] + argv[3:]
    try:
        code = importlib.import_module(request["module"]).main()
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        traceback.print_exc()
        code = 1
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    return code or 0


def _place_fds(fds, targets):
    """Stdin from /dev/null, ``fds[i]`` as fd ``targets[i]``, every other fd closed."""
    wanted = [(0, os.open("/dev/null", os.O_RDONLY))] + list(zip(targets, fds))
    top = max([t for t, _ in wanted] + [f for _, f in wanted]) + 1
    staged = [(t, fcntl.fcntl(f, fcntl.F_DUPFD, top)) for t, f in wanted]  # above every target: no clobbering
    for t, f in staged:
        os.dup2(f, t)
    keep = {t for t, _ in staged}
    for fd in [int(n) for n in os.listdir("/proc/self/fd")]:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
