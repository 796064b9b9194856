"""What ``lab up`` says while it works: phases with counts on a terminal (one line each,
updated in place), nothing when its output is piped, and where the time went (``--timings``)."""

import contextlib
import time


class Progress:
    def __init__(self, out, interactive=None):
        self.out = out
        self.interactive = out.isatty() if interactive is None else interactive
        self.tick = "✓" if (getattr(out, "encoding", "") or "").lower().startswith("utf") else "+"
        self.phases = []  # (name, seconds)
        self._current = None

    def say(self, text):
        if self.interactive:
            print(text, file=self.out, flush=True)

    @contextlib.contextmanager
    def phase(self, name):
        """Time a step; on a terminal show it as under way until it ends."""
        self._current = name
        self._show(f"   {name} …")
        started = time.monotonic()
        try:
            yield self
        finally:
            self.took(name, time.monotonic() - started)
            self._current = None
            self._show("")

    def took(self, name, seconds):
        """Record a phase timed elsewhere."""
        self.phases.append((name, seconds))

    def count(self, done, total):
        """Within a phase: ``done`` of ``total`` items so far."""
        if self._current:
            self._show(f"   {self._current} {done}/{total}")

    def done(self, text):
        self._show("")
        self.say(f" {self.tick} {text}")

    def _show(self, text):
        if self.interactive:
            print(f"\r\033[K{text}", end="", file=self.out, flush=True)

    def timings(self):
        """A table of the phases in the order they ran, with their share of the total."""
        total = sum(s for _, s in self.phases) or 1e-9
        width = max((len(n) for n, _ in self.phases), default=5)
        lines = [f"{'phase':<{width}}  seconds  share"]
        lines += [f"{name:<{width}}  {seconds:7.3f}  {100 * seconds / total:4.0f}%" for name, seconds in self.phases]
        lines.append(f"{'total':<{width}}  {total:7.3f}")
        return "\n".join(lines)
