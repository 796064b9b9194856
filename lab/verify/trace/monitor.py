"""Tracing one new connection with the kernel's own netfilter trace, in the lab's namespaces.

How it works (every step bounded in time, and undone in ``finally``):

1. take the lab's trace lock (one trace at a time per lab: the TRACE rules are shared);
2. open the probe socket inside FROM's namespace, with a DSCP value of its own in the TOS
   byte (the one mark that survives NAT and forwarding into the next namespace) and a source
   port the kernel picks;
3. start ``xtables-monitor --trace`` in FROM's namespace and every node's, and wait until each
   has joined the kernel's trace group;
4. insert ``-j TRACE`` rules in the raw table (PREROUTING everywhere, OUTPUT in FROM's namespace
   with the source port too), matching only a SYN carrying that DSCP value;
5. connect once (and ask for ``/`` when the URL is http), collect the events;
6. delete the TRACE rules (and the raw table, where lab trace created it), stop the monitors.

Reading the events and laying out the report is lab.verify.trace.analysis.
"""


import fcntl
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import threading
import time

from lab.errors import LabError
from lab.kernel import commands, netns
from lab.verify.trace import analysis

CONNECT_TIMEOUT = 3.0  # the probe's connect (a SYN is resent after 1 s)
ANSWER_TIMEOUT = 2.0  # reading the HTTP answer
MONITOR_READY_TIMEOUT = 3.0
DRAIN_QUIET = 0.3  # the monitors are done when silent this long...
DRAIN_MAX = 2.0  # ...or after this long
COMMAND_TIMEOUT = 10.0  # iptables-restore, iptables-save, nft
LOCK_TIMEOUT = 15.0

NFNL_GROUP_TRACE = 1 << (9 - 1)  # NFNLGRP_NFTRACE, as /proc/net/netlink shows the groups bitmap
NETLINK_NETFILTER = 12
# DSCP values with a meaning of their own (class selectors, AF classes, EF, VOICE-ADMIT) are avoided
_DSCP_TAKEN = {0, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 44, 46, 48, 56}
DSCP_CHOICES = [d for d in range(1, 64) if d not in _DSCP_TAKEN]


def need_tools():
    for tool in ("xtables-monitor", "iptables-restore", "iptables-save", "nft"):
        if shutil.which(tool) is None:
            raise LabError(f"lab trace needs {tool}, which is not installed "
                           f"(sudo ./setup, or apt-get install iptables nftables)")


class terminate_cleanly:
    """While tracing, SIGTERM and SIGHUP unwind like Ctrl-C does, so the TRACE rules still come out."""

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __enter__(self):
        self.saved = {}
        for sig in self.SIGNALS:
            try:
                self.saved[sig] = signal.signal(sig, self._raise)
            except ValueError:  # not the main thread: leave the handlers alone
                pass
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        return False


# the lock --------------------------------------------------------------------------------------

class trace_lock:
    """flock on the lab's state directory (no file left behind): one trace per lab at a time."""

    def __init__(self, path, lab):
        self.path, self.lab, self.fd = path, lab, None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDONLY)
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    raise LabError(f"another lab trace is running in lab {self.lab!r}; try again in a moment")
                time.sleep(0.05)

    def __exit__(self, *exc):
        os.close(self.fd)
        return False


# the whole side-effecting part ----------------------------------------------------------------

def collect(source_netns, namespaces, ip, port, scheme, path, url):
    """Trace one connection: returns ({netns: monitor output}, probe result, dscp, notes)."""
    dscp = random.choice(DSCP_CHOICES)
    notes = []
    sock, sport = open_probe_socket(source_netns, dscp)
    monitors, installed = [], []
    try:
        try:
            for ns in namespaces:
                remove_trace_rules(ns)  # leftovers of a trace that was killed
            for ns in namespaces:
                monitors.append(Monitor(ns))
            wait_monitors_ready(monitors)
            for ns in namespaces:
                created = install_trace_rules(ns, dscp, sport if ns == source_netns else None,
                                              output=(ns == source_netns))
                installed.append((ns, created))
            probe = send_probe(sock, ip, port, scheme, path, url)
            drain(monitors)
        finally:
            problems = []
            for ns, created in installed:
                try:
                    remove_trace_rules(ns, drop_raw_table=created)
                except (LabError, OSError, subprocess.SubprocessError) as exc:
                    problems.append(f"{ns}: {exc}")
            for m in monitors:
                m.stop()
            if problems:
                notes.append("could not remove every TRACE rule: " + "; ".join(problems))
    finally:
        sock.close()
    outputs = {m.netns: m.text() for m in monitors}
    for m in monitors:
        if m.stderr_text().strip():
            notes.append(f"xtables-monitor in {m.netns}: {m.stderr_text().strip().splitlines()[-1]}")
    probe["sport"] = sport
    probe["dst"], probe["dport"] = ip, port
    probe["dscp"] = dscp
    return outputs, probe, dscp, notes


def run_in(netns_name, argv, input=None, timeout=COMMAND_TIMEOUT):
    """A command to completion inside ``netns_name``, within ``timeout``."""
    result = commands.run(argv, netns_name, input=input, timeout=timeout, check=False)
    if result.returncode == 124:
        raise LabError(f"{argv[0]} in {netns_name} did not finish within {timeout:.0f} s")
    return result


def _rule(chain, dscp, sport=None):
    match = f"-p tcp -m dscp --dscp {dscp:#04x} -m tcp"
    if sport is not None:
        match += f" --sport {sport}"
    return f"{chain} {match} --tcp-flags SYN,ACK SYN -m comment --comment {analysis.TRACE_COMMENT} -j TRACE"


def raw_table_exists(ns):
    return run_in(ns, ["nft", "list", "table", "ip", "raw"]).returncode == 0


def install_trace_rules(ns, dscp, sport=None, output=False):
    """Insert the TRACE rules in ``ns``'s raw table, first in their chains. True if lab trace
    created the raw table (so that removing the rules can remove it again)."""
    created = not raw_table_exists(ns)
    lines = ["*raw", "-I " + _rule("PREROUTING 1", dscp)]
    if output:
        lines.append("-I " + _rule("OUTPUT 1", dscp, sport))
    lines.append("COMMIT")
    result = run_in(ns, ["iptables-restore", "--noflush"], input="\n".join(lines) + "\n")
    if result.returncode != 0:
        if created:
            _drop_raw_table_if_empty(ns)
        raise LabError(f"cannot add the TRACE rule in {ns}: {result.stderr.strip()}")
    return created


def trace_rules(ns):
    """The ``-A`` lines of lab trace's TRACE rules now in ``ns``'s raw table."""
    result = run_in(ns, ["iptables-save", "-t", "raw"])
    return [line for line in result.stdout.splitlines()
            if line.startswith("-A ") and f"--comment {analysis.TRACE_COMMENT}" in line and "-j TRACE" in line]


def remove_trace_rules(ns, drop_raw_table=False):
    """Delete every TRACE rule lab trace put in ``ns``; then the raw table, if we made it and it is empty."""
    rules = trace_rules(ns)
    if rules:
        body = "\n".join("-D " + line[3:] for line in rules)
        result = run_in(ns, ["iptables-restore", "--noflush"], input=f"*raw\n{body}\nCOMMIT\n")
        if result.returncode != 0:
            raise LabError(f"cannot delete the TRACE rules in {ns}: {result.stderr.strip()}")
    if drop_raw_table:
        _drop_raw_table_if_empty(ns)


def _drop_raw_table_if_empty(ns):
    saved = run_in(ns, ["iptables-save", "-t", "raw"]).stdout
    if not any(line.startswith("-A ") for line in saved.splitlines()) and raw_table_exists(ns):
        run_in(ns, ["nft", "delete", "table", "ip", "raw"])


# the monitors -----------------------------------------------------------------------------------

class Monitor:
    """``xtables-monitor --trace -4`` running in one namespace; its lines read by a thread."""

    def __init__(self, ns):
        self.netns = ns
        self.lines, self.err = [], []
        self.last = time.monotonic()
        ns_fd = os.open(netns.path(ns), os.O_RDONLY)
        try:
            self.proc = subprocess.Popen(["xtables-monitor", "--trace", "-4"], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                         preexec_fn=lambda: netns.setns_fd(ns_fd), start_new_session=True)
        finally:
            os.close(ns_fd)
        self.threads = [threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
                        threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True)]
        for t in self.threads:
            t.start()

    def _read(self, stream, into):
        for line in stream:
            into.append(line)
            self.last = time.monotonic()

    def subscribed(self):
        """True once the process holds a netfilter netlink socket in the trace group."""
        try:
            inodes = set()
            for fd in os.listdir(f"/proc/{self.proc.pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{self.proc.pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
            with open(f"/proc/{self.proc.pid}/net/netlink") as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if (len(cols) >= 10 and cols[1] == str(NETLINK_NETFILTER) and cols[9] in inodes
                            and int(cols[3], 16) & NFNL_GROUP_TRACE):
                        return True
        except (OSError, ValueError, StopIteration):
            pass
        return False

    def text(self):
        return "".join(self.lines)

    def stderr_text(self):
        return "".join(self.err)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=1.0)
        for t in self.threads:
            t.join(timeout=1.0)
        for stream in (self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass


def wait_monitors_ready(monitors, timeout=MONITOR_READY_TIMEOUT):
    deadline = time.monotonic() + timeout
    pending = list(monitors)
    while pending:
        for m in list(pending):
            if m.proc.poll() is not None:
                time.sleep(0.05)
                raise LabError(f"xtables-monitor --trace exited in {m.netns}: "
                               f"{m.stderr_text().strip() or 'exit code %s' % m.proc.returncode}")
            if m.subscribed():
                pending.remove(m)
        if pending and time.monotonic() > deadline:
            raise LabError(f"xtables-monitor --trace did not start within {timeout:.0f} s in {pending[0].netns}")
        if pending:
            time.sleep(0.01)


def drain(monitors, quiet=DRAIN_QUIET, most=DRAIN_MAX):
    """Wait until no monitor has printed anything for ``quiet`` seconds since the probe ended
    (the kernel queues the events at once, the monitors print them a moment later), at most ``most``."""
    start = time.monotonic()
    while time.monotonic() - start < most:
        if time.monotonic() - max([start] + [m.last for m in monitors]) >= quiet:
            return
        time.sleep(0.05)


# the probe --------------------------------------------------------------------------------------

def open_probe_socket(source_netns, dscp):
    """A TCP socket made inside ``source_netns`` (it stays there), TOS carrying ``dscp``, bound to
    a port the kernel picks; returns (socket, source port)."""
    with netns.entered(source_netns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, analysis.tos_of(dscp))
        sock.bind(("0.0.0.0", 0))
    except OSError:
        sock.close()
        raise
    return sock, sock.getsockname()[1]


def send_probe(sock, ip, port, scheme, path, url):
    """Connect once; for http, ask for ``path`` and keep the answer's first body line."""
    probe = {"result": None, "src": None, "answer": None}
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect((ip, port))
    except socket.timeout:
        probe["result"] = f"no answer within {CONNECT_TIMEOUT:.0f} s (the SYN was dropped or went nowhere)"
        return probe
    except ConnectionRefusedError:
        probe["result"] = "refused (an RST or ICMP port unreachable came back)"
        return probe
    except OSError as exc:
        probe["result"] = f"failed: {exc.strerror or exc}"
        return probe
    probe["result"] = "established"
    probe["src"] = sock.getsockname()[0]
    if scheme == "http":
        probe["answer"] = _http_answer(sock, ip, port, path)
    return probe


def _http_answer(sock, ip, port, path):
    host = ip if port == 80 else f"{ip}:{port}"
    try:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: lab-trace\r\n\r\n".encode())
        data, deadline = b"", time.monotonic() + ANSWER_TIMEOUT
        while len(data) < 65536:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        return f"(no answer: {exc.strerror or exc})"
    text = data.decode(errors="replace")
    head, _, body = text.partition("\r\n\r\n")
    status = head.splitlines()[0] if head else ""
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    if not status:
        return None
    return f"{first}" if first and " 200 " in status + " " else (f"{status}: {first}" if first else status)
