"""A command run in a pod for ``kubectl exec``: in the pod's network and UTS namespaces with its
/etc files (as ``lab exec`` runs it) and its image's toolset first on PATH (lab.images.toolsets),
on a pseudo-terminal (``-t``) or on pipes, in a session of its own, so that everything it started
can be found and killed when the client goes away."""

import fcntl
import os
import pty
import signal
import struct
import subprocess
import termios
import threading

from lab.images import containers, toolsets
from lab.kernel import commands, record


def _controlling_terminal():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Session:
    """``argv`` running in ``netns`` of ``lab``. ``on_output(stream, data)`` receives its output
    ("stdout", "stderr"; on a tty everything is stdout) until ``wait()`` returns its exit code."""

    def __init__(self, lab, netns, argv, tty, stdin, on_output, image="", mark=None):
        self.tty, self.on_output = tty, on_output
        lab_dir = record.lab_dir(lab)
        full = commands.user_argv(netns, toolsets.command(lab_dir, [image], argv), lab)
        env = toolsets.environment(lab_dir, [image], "xterm" if tty else "dumb")
        if mark:  # the pod's own name: what it leaves behind goes with the pod (lab.images.containers)
            env |= containers.mark(lab, mark)
        self._pumps = []
        if tty:
            master, slave = pty.openpty()
            self.master = master
            self.process = subprocess.Popen(full, stdin=slave, stdout=slave, stderr=slave, env=env, cwd="/",
                                            preexec_fn=_controlling_terminal, close_fds=True)
            os.close(slave)
            self._pump(lambda: os.read(master, 65536), "stdout")
            self.stdin = None
        else:
            self.master = None
            self.process = subprocess.Popen(full, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd="/",
                                            start_new_session=True, close_fds=True)
            self.stdin = self.process.stdin
            self._pump(lambda: os.read(self.process.stdout.fileno(), 65536), "stdout")
            self._pump(lambda: os.read(self.process.stderr.fileno(), 65536), "stderr")

    def _pump(self, read, stream):
        def run():
            while True:
                try:
                    data = read()
                except OSError:  # a pty's master reads EIO once the last process closed it
                    return
                if not data:
                    return
                self.on_output(stream, data)
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self._pumps.append(thread)

    def write(self, data):
        try:
            if self.master is not None:
                os.write(self.master, data)
            elif self.stdin is not None:
                self.stdin.write(data)
                self.stdin.flush()
        except (OSError, ValueError):
            pass

    def close_stdin(self):
        if self.master is not None:
            self.write(b"\x04")  # end of input on a terminal: Ctrl-D
        elif self.stdin is not None:
            try:
                self.stdin.close()
            except OSError:
                pass

    def resize(self, width, height):
        if self.master is not None:
            try:
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
            except OSError:
                pass

    def wait(self):
        """The exit code, once the command and its output are done."""
        code = self.process.wait()
        for thread in self._pumps:
            thread.join(timeout=2 if self.master is not None else 10)
        self._close_fds()
        return code if code >= 0 else 128 - code

    def _close_fds(self):
        if self.master is not None:
            try:
                os.close(self.master)
            except OSError:
                pass
            self.master = None
        for f in (self.process.stdout, self.process.stderr):
            if f:
                f.close()

    def kill(self):
        """Kill the command and everything in its session (the client went away)."""
        for pid in session_members(self.process.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def session_members(sid):
    """PIDs whose session is ``sid`` (the command's own and all it started)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 3 and fields[3] == str(sid):
            out.append(int(entry))
    return out
