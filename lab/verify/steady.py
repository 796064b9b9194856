"""Steady traffic while a lab changes: one new connection every few milliseconds from a source,
each answer (or failure) timestamped, to see which pods answered when, and how long a change
took to converge."""

import asyncio
import threading
import time
from dataclasses import dataclass

from lab.verify import probe


@dataclass(frozen=True)
class Sample:
    started: float  # time.monotonic()
    outcome: probe.ProbeOutcome


class SteadyLoad:
    """Runs in a thread of its own until ``stop()``; ``samples`` fills as it goes."""

    def __init__(self, source_netns, host, port, interval=0.01, timeout=1.0):
        self.args = (source_netns, host, port, "/", timeout)
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self):
        pending = set()
        while not self._stop.is_set():
            pending.add(asyncio.ensure_future(self._one()))
            pending = {t for t in pending if not t.done()}
            await asyncio.sleep(self.interval)
        if pending:
            await asyncio.wait(pending)

    async def _one(self):
        started = time.monotonic()
        outcome = await probe.http_get(*self.args)
        self.samples.append(Sample(started, outcome))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)

    def between(self, start, end):
        return [s for s in self.samples if start <= s.started < end]


def summary(samples, live_pods):
    """(requests, failures, answers from pods that are not live) for a window of samples."""
    failures = sum(1 for s in samples if not s.outcome.ok)
    strays = sum(1 for s in samples if s.outcome.ok and s.outcome.pod not in live_pods)
    return len(samples), failures, strays
