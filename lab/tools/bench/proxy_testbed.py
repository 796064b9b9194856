"""The proxy scaling study, the side effects: testbeds in namespaces, rule loads, timed connects.

Everything lives in namespaces named ``<prefix>-node|pod0|pod1|client``, listed in a svclab
state record (lab ``<prefix>``) before they are created, so ``lab down <prefix>`` removes them
even after a crash; the study removes them itself when it ends, however it ends. The endpoint
"pods" are listening sockets this process holds in the pod namespaces: the kernel completes the
handshake, so connect() time does not depend on a server being scheduled; the accept queues are
drained between connections.
"""

import gc
import os
import shutil
import socket
import struct
import sys
import time

from lab.errors import LabError
from lab.kernel import commands, netns
from lab.kernel.netns import listen_in
from lab.kernel.record import Record, locked
from lab.proxy import modes as proxy_modes
from lab.proxy import nftables
from lab.tools.bench import proxy_study as study

EMPTY_TABLES = "*mangle\nCOMMIT\n*filter\nCOMMIT\n*nat\nCOMMIT\n"
SO_LINGER_RST = struct.pack("ii", 1, 0)
CLOSED_PORT = 9  # nothing listens there in the node


def check_host(modes):
    if os.geteuid() != 0:
        raise LabError("the scaling study builds network namespaces and needs root: run it with sudo")
    tools = ["ip"] + [tool for mode in modes for tool in proxy_modes.MODES[mode].tools]
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise LabError(f"missing tools: {', '.join(missing)} (install them with: sudo ./setup)")
    if not os.path.isdir("/proc/sys/net/bridge"):
        raise LabError("the kernel's br_netfilter module is not loaded (pod traffic would bypass the node's "
                       "rules): sudo modprobe br_netfilter")


def default_prefix():
    return f"bproxy{os.getpid() % 100000}"


class Study:
    """The study's state record; testbeds come and go inside it."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.names = study.names(prefix)

    def __enter__(self):
        with locked():
            if Record.load(self.prefix) is not None:
                raise LabError(f"a lab named {self.prefix!r} is up; choose another --name or run: "
                               f"lab down {self.prefix}")
            clash = sorted(set(self.names.all) & netns.existing())
            if clash:
                raise LabError(f"network namespace {clash[0]} already exists; choose another --name")
            self.record = Record.create(self.prefix, os.path.abspath(__file__))
            self.record.set_phase("measuring")  # what `lab status` shows meanwhile
        return self

    def __exit__(self, *exc):
        netns.delete(self.names.all)
        self.record.remove()

    def testbed(self, mode):
        return Testbed(self.record, self.names, mode)


class Testbed:
    """One node with its pods and client, freshly built; its rules are loaded and cleared by runs."""

    def __init__(self, record, names, mode):
        self.record, self.names, self.mode = record, names, mode
        self.listeners = []

    def __enter__(self):
        self.record.add_namespaces(self.names.all)
        netns.create(self.names.all)
        try:
            from lab.kernel import dataplane
            with dataplane.Dataplane() as dp:
                dp.build(study.topology_plan(self.names, self.mode))
            self.listeners = [listen_in(ns, study.TARGET_PORT) for ns in self.names.pods]
            self._wait_for_pods()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for sock in self.listeners:
            sock.close()
        netns.delete(self.names.all)
        self.record.forget(self.names.all)

    def _wait_for_pods(self, timeout=30.0):
        """Until the client reaches both pods and the node itself: a new veth or bridge drops
        packets until the kernel has processed its carrier change (a second, or longer when
        other namespaces are busy with the rtnl lock), and a SYN lost there would spoil a
        measurement. The node answers a connect to a closed port of its own with a RST."""
        probes = [((str(ip), study.TARGET_PORT), None) for ip in study.ENDPOINT_IPS]
        self.wait_until_answered(probes + [((str(study.GATEWAY), CLOSED_PORT), ConnectionRefusedError)], timeout)

    def wait_until_answered(self, probes, timeout=30.0):
        """Connect from the client to each (address, expected error) until it answers so."""
        deadline = time.monotonic() + timeout
        with netns.entered(self.names.client):
            for address, expected in probes:
                while not _answers(address, expected):
                    if time.monotonic() > deadline:
                        raise LabError(f"{self.names.client} cannot reach {address[0]}:{address[1]} "
                                       f"after {timeout:.0f} s")
        self.drain()

    def run(self, argv, text, what):
        """Run a tool in the node with ``text`` on stdin; its wall time in seconds."""
        began = time.perf_counter()
        commands.run(argv, self.names.node, input=text, timeout=600)
        return time.perf_counter() - began

    def load(self, rules, restore=proxy_modes.IPTABLES.load):
        """kube-proxy's first sync in an empty node: the timed load, in seconds."""
        if rules.mode == "iptables":
            self.run(proxy_modes.IPTABLES.load, rules.bootstrap, "iptables-restore (kube-proxy's jump chains)")
            return self.run(restore, rules.text, "iptables-restore")
        return self.run(proxy_modes.NFTABLES.load, rules.text, "nft -f")

    def load_flushing(self, rules):
        """The same iptables text restored without --noflush (the tables are replaced whole, which
        also drops the jump chains): not what kube-proxy does, timed for comparison, then cleared."""
        took = self.load(rules, proxy_modes.IPTABLES.replace)  # without --noflush: the tables named are emptied
        self.clear()
        return took

    def clear(self):
        """Back to a node with no rules; the time it took, in seconds."""
        if self.mode == "iptables":
            return self.run(proxy_modes.IPTABLES.replace, EMPTY_TABLES, "iptables-restore (flush)")
        return self.run(["nft", "delete", "table", *nftables.TABLE.split()], "", "nft delete table")

    def drain(self):
        for listener in self.listeners:
            while True:
                try:
                    conn, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    break
                conn.close()

    def connect_times(self, targets, count, warmup):
        """{target: [ns, …]}: new connections from the client pod, round-robin over the targets."""
        samples = {t: [] for t in targets}
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            with netns.entered(self.names.client):
                for i in range(warmup + count):
                    for target, address in targets.items():
                        took = self._connect_once(address)
                        if i >= warmup:
                            samples[target].append(took)
        finally:
            if gc_was_enabled:
                gc.enable()
        return samples

    def _connect_once(self, address):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)  # a lost SYN fails in ~3 s, not 2 min
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, SO_LINGER_RST)
            began = time.perf_counter_ns()
            try:
                sock.connect(address)
            except OSError as exc:
                raise LabError(f"connect from {self.names.client} to {address[0]}:{address[1]} failed: {exc}")
            return time.perf_counter_ns() - began
        finally:
            sock.close()  # SO_LINGER 0: RST, no TIME_WAIT on either side
            self.drain()


def _answers(address, expected=None):
    """True if a connect to ``address`` succeeds, or fails with ``expected``, within 0.2 s."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(0.2)
    try:
        sock.connect(address)
        return expected is None
    except OSError as exc:
        return expected is not None and isinstance(exc, expected)
    finally:
        sock.close()


def _measure(bed, targets, options):
    # the first SYN through rules just loaded is now and then lost (seen about once in 20 testbeds
    # on a busy host, not understood): each target must answer once before anything is timed
    bed.wait_until_answered([(address, None) for address in targets.values()])
    samples = bed.connect_times(targets, options.connections, options.warmup)
    return {t: study.latency(s) for t, s in samples.items()}


def run(options, prefix=None, progress=None):
    """The whole study: [scaling_study.StudyResult], the no-rules baseline first."""
    progress = progress or (lambda text: print(text, file=sys.stderr, flush=True))
    check_host(options.modes)
    results = []
    with Study(prefix or default_prefix()) as st:
        progress(f"scaling study: namespaces {st.prefix}-*, state record {st.record.path()} "
                 f"(after a crash: lab down {st.prefix})")
        if options.baseline:
            results.append(_baseline(st, options, progress))
        for size in options.sizes:
            for mode in options.modes:
                results.append(_one(st, size, mode, options, progress))
    return results


def _baseline(st, options, progress):
    result = study.StudyResult(size=0, mode="none")
    with st.testbed("iptables") as bed:
        direct = {"direct": (str(study.ENDPOINT_IPS[0]), study.TARGET_PORT)}
        for _ in range(options.runs):
            result.runs.append(_measure(bed, direct, options))
    progress(f"  no rules: pod direct {_brief(result, 'direct')}")
    return result


def _one(st, size, mode, options, progress):
    cluster = study.cluster_state(size, mode, st.names)
    rendered_at = time.perf_counter()
    rules = study.ruleset(cluster)
    render_s = time.perf_counter() - rendered_at
    result = study.StudyResult(size=size, mode=mode, rules=rules.rules, chains=rules.chains, elements=rules.elements)
    targets = study.targets(cluster)
    with st.testbed(mode) as bed:
        for run_index in range(options.runs):
            unload_s = bed.clear() if run_index else None
            flushing_s = bed.load_flushing(rules) if mode == "iptables" else None
            load_s = bed.load(rules)
            run = {"load_s": round(load_s, 4), "render_s": round(render_s, 3)}
            if unload_s is not None:
                run["unload_s"] = round(unload_s, 4)
            if flushing_s is not None:
                run["load_flush_s"] = round(flushing_s, 4)
            run.update(_measure(bed, targets, options))
            result.runs.append(run)
            progress(f"  S={size} {mode} run {run_index + 1}/{options.runs}: load {load_s:.3f} s, "
                     f"last service {run['last']['median_us']:.0f}/{run['last']['p99_us']:.0f} µs")
    return result


def _brief(result, target):
    s = result.summary()[target]
    return f"{s['median_us']['median']:.0f}/{s['p99_us']['median']:.0f} µs (median/p99)"
