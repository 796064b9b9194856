"""A check's result and the reports made of results (the table, JSON, JUnit XML), and the
placeholders of a check's text: the same for a lab and for a cluster reached through its API.
Pure."""

import re
from dataclasses import dataclass, field

from lab.cluster import addons
from lab.spec.checks import OUTCOMES
from lab.tables import table

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PLACEHOLDER_FIX = "use a node or host name, lb, dns, svc:NAME, nodeport:NAME, lbip:NAME or pod:NAME"


def expand(text, values, where):
    """``text`` with each ``{name}`` replaced by ``values[name]``; an unknown one is bad input."""
    def one(m):
        if m.group(1) not in values:
            raise where.error(f"unknown placeholder {{{m.group(1)}}}", PLACEHOLDER_FIX)
        return values[m.group(1)]
    return PLACEHOLDER.sub(one, text)


def placeholders(cluster):
    """Every placeholder's value in a lab's cluster state."""
    values = {m.name: str(m.ip) for m in cluster.nodes + cluster.hosts}
    values["dns"] = str(addons.dns_ip(cluster.service_cidr))
    if cluster.lb is not None:
        values["lb"] = str(cluster.lb.ip)
    for s in cluster.services:
        for key in ([s.name] if s.namespace == "default" else []) + [f"{s.namespace}/{s.name}"]:
            if s.cluster_ip not in (None, "None"):
                values[f"svc:{key}"] = s.cluster_ip
            node_ports = [p.node_port for p in s.ports if p.node_port]
            if node_ports:
                values[f"nodeport:{key}"] = str(node_ports[0])
            if s.lb_ips:
                values[f"lbip:{key}"] = s.lb_ips[0]
    for p in cluster.pods:
        values[f"pod:{p.name}"] = str(p.ip)
    return values


def names_in(text):
    """The placeholder names ``text`` uses."""
    return PLACEHOLDER.findall(text or "")


@dataclass
class CheckResult:
    check: object  # lab.spec.checks.Check
    target: str
    expected: str
    got: str
    passed: bool
    seconds: float
    details: dict = field(default_factory=dict)
    skipped: str = None  # why the check did not run (a cluster reached through its API)

    def as_dict(self):
        out = {"check": self.check.title, "from": self.check.source, "target": self.target,
               "expected": self.expected, "got": self.got, "passed": self.passed,
               "seconds": round(self.seconds, 3), **self.details}
        if self.skipped:
            out.update(passed=None, skipped=self.skipped)
        return out

    @property
    def verdict(self):
        return "SKIP" if self.skipped else "PASS" if self.passed else "FAIL"


def url_verdict(wanted, kind, body, described):
    """(got, passed) of a URL check whose request ended as ``kind`` (reached, refused, timeout,
    unreachable) with ``body``; ``described`` is the outcome in words."""
    if wanted in OUTCOMES:
        passed = kind in ("timeout", "unreachable") if wanted == "unreachable" else kind == wanted
    else:
        passed = kind == "reached" and body.startswith(wanted)
    lines = body.strip().splitlines()  # an answer may be empty (a proxy closing at once)
    got = described if wanted in OUTCOMES or kind != "reached" or not lines else lines[0]
    return got, passed


def dns_verdict(wanted, addresses):
    """(got, passed) of a DNS check that got ``addresses``."""
    got = ", ".join(addresses) if addresses else "nxdomain"
    return got, (not addresses) if wanted in ("nxdomain", "unresolved") else wanted in addresses


def skipped(check, target, expected, reason):
    return CheckResult(check, target, expected, f"skipped: {reason}", False, 0.0, skipped=reason)


def exit_code(results):
    """0 when every check that ran passed, 1 otherwise (skipped checks fail nothing)."""
    return 0 if all(r.passed or r.skipped for r in results) else 1


def text(results):
    rows = [[str(r.check.index + 1), r.check.source, r.target, r.expected or "", r.got, r.verdict] for r in results]
    ran = [r for r in results if not r.skipped]
    failed = sum(not r.passed for r in ran)
    summary = f"{len(ran) - failed} passed, {failed} failed"
    if len(ran) != len(results):
        summary += f", {len(results) - len(ran)} skipped"
    return table(["#", "FROM", "TARGET", "EXPECT", "GOT", "RESULT"], rows) + f"\n\n{summary}"


def junit(results, suite="svclab"):
    from xml.sax.saxutils import escape, quoteattr
    failures = sum(not r.passed and not r.skipped for r in results)
    skips = sum(bool(r.skipped) for r in results)
    total = sum(r.seconds for r in results)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<testsuite name={quoteattr(suite)} tests="{len(results)}" failures="{failures}" errors="0" '
             + (f'skipped="{skips}" ' if skips else "") + f'time="{total:.3f}">']
    for r in results:
        lines.append(f'  <testcase classname={quoteattr(suite)} name={quoteattr(r.check.title)} '
                     f'time="{r.seconds:.3f}">')
        if r.skipped:
            lines.append(f"    <skipped message={quoteattr(r.skipped)}/>")
        elif not r.passed:
            message = f"expected {r.expected}, got {r.got}"
            lines.append(f"    <failure message={quoteattr(message)}>{escape(message)}</failure>")
        lines.append("  </testcase>")
    lines.append("</testsuite>")
    return "\n".join(lines) + "\n"


def run_verdict(code, out, err, wanted, command):
    """(passed, expected, got) of a ``run:`` command that ended with ``code`` (None: it did not
    finish), on a lab (the exercise runner) and on a cluster (lab.remote) alike."""
    output = out + err
    expected = f"{wanted!r} in the output" if wanted else "exit code 0"
    if code is None:
        return False, expected, "did not finish in time"
    if code != 0:
        last = output.strip().splitlines()
        return False, expected, f"exit code {code}" + (f": {last[-1]}" if last else "")
    if wanted is None:
        return True, expected, "exit code 0"
    line = next((ln.strip() for ln in output.splitlines() if wanted in ln), None)
    if line is not None:
        return True, expected, line
    lines = output.strip().splitlines()
    return False, expected, f"not in the {len(lines)} lines of {' '.join(command)}" if lines else "no output"
