"""How one HTTP request ended: reached (with its status and body), refused, timeout or
unreachable, and which pod said "You've hit". Pure."""

import re
from dataclasses import dataclass

HIT = re.compile(r"You've hit (\S+)")


@dataclass(frozen=True)
class ProbeOutcome:
    kind: str  # reached, refused, timeout, unreachable
    status: int = None
    body: str = ""
    seconds: float = 0.0
    error: str = ""

    @property
    def pod(self):
        m = HIT.search(self.body)
        return m.group(1) if m else None

    @property
    def ok(self):
        return self.kind == "reached"

    def describe(self):
        if self.kind == "reached":
            return f"reached {self.pod}" if self.pod else f"reached (HTTP {self.status})"
        return self.kind + (f" ({self.error})" if self.error else "")
