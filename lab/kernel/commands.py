"""Running a program, on the host or inside one of the lab's namespaces: the one way svclab
does it. A failure is a ``CommandFailed`` naming the command, the namespace and what it printed.

Inside a namespace the program runs through ``nsenter --net`` (no fork of this process, no
Python code between fork and exec, no copy of the mount table as ``ip netns exec`` makes).
``lab exec`` and checks that run a user's command use ``ip netns exec`` instead
(``user_argv``), which also lays the namespace's /etc/netns files over /etc.
"""

import subprocess

from lab.errors import CommandFailed
from lab.kernel import netns as netns_paths
from lab.kernel import record, uts

DEFAULT_TIMEOUT = 60.0


def argv_in(netns, argv):
    """``argv`` run inside ``netns`` (or on the host when ``netns`` is None)."""
    return (netns_paths.enter_argv(netns) if netns else []) + list(argv)


def user_argv(netns, argv, lab=None):
    """``argv`` as ``ip netns exec`` runs it: with the namespace's resolv.conf and hosts files and,
    in a pod of ``lab``, the pod's hostname."""
    prefix = uts.enter_argv(record.lab_dir(lab), netns) if lab else []
    return prefix + ["ip", "netns", "exec", netns, *argv]


def run(argv, netns=None, input=None, timeout=DEFAULT_TIMEOUT, check=True):
    """Run to completion, output captured as text. ``check``: a non-zero exit, a timeout or a
    missing program raise CommandFailed; without it they come back as exit codes (124 for a
    timeout, 127 for a program that cannot run, as a shell reports them)."""
    return _run(argv, argv_in(netns, argv), netns, input, timeout, check)


def run_user(argv, netns, timeout, lab=None):
    """A user's command (a check, an exercise step) as ``lab exec`` runs it; never raises."""
    return _run(argv, user_argv(netns, argv, lab), netns, None, timeout, check=False)


def _run(argv, full, netns, input, timeout, check):
    try:
        result = subprocess.run(full, input=input, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        result = subprocess.CompletedProcess(argv, 124, "", f"timed out after {timeout:g} s")
    except OSError as exc:
        result = subprocess.CompletedProcess(argv, 127, "", str(exc))
    if check and result.returncode != 0:
        raise CommandFailed(argv, netns, result.returncode, result.stderr, result.stdout)
    return result


def start_all(jobs):
    """Start several commands at once: ``jobs`` is ``[(netns, argv, input text)]``; returns the
    running processes, to be finished by ``finish_all``."""
    running = []
    for netns, argv, text in jobs:
        proc = subprocess.Popen(argv_in(netns, argv), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        proc.stdin.write(text)  # a few hundred bytes: the pipe takes it without waiting
        proc.stdin.close()
        running.append((netns, argv, proc))
    return running


def finish_all(running):
    """Wait for every process of ``start_all``; raise CommandFailed for the first that failed."""
    failures = []
    for netns, argv, proc in running:
        err = proc.stderr.read()
        if proc.wait() != 0:
            failures.append(CommandFailed(argv, netns, proc.returncode, err))
    if failures:
        raise failures[0]
