"""Checks as commands run in a pod by exec, and what their output says. Pure.

A URL check is one ``curl`` (the probe image's, or the pod's own); a distribution is one curl
over N URLs (``?svclab=[1-N]``), each a new connection (``Connection: close``); a DNS check is
``nslookup`` (bind's or busybox's output)."""

import re

from lab.verify.outcome import ProbeOutcome

MARK = "@@svclab-code "
ADDRESS = re.compile(r"^Address(?:\s+\d+)?:\s+(\d+\.\d+\.\d+\.\d+)(?:\s|#|$)")
CURL_ERROR = re.compile(r"^curl: \((\d+)\) (.*)$")
MISSING = ("executable file not found", "no such file or directory", "not found")


def curl_argv(url, timeout, verbose=True):
    """One request (``verbose``: curl's connect errors with the system's words, such as
    "Connection refused", which its own summary line no longer gives)."""
    return ["curl", "-sS", *(["-v"] if verbose else []), "-m", f"{timeout:g}", "-H", "Connection: close",
            "-w", f"\n{MARK}%{{http_code}}\n", url]


def many_url(url, n):
    """``url`` as a curl glob of ``n`` URLs."""
    return url + ("&" if "?" in url else "?") + f"svclab=[1-{n}]"


def missing_tool(code, stderr, tool):
    """Why the command did not run, when the image has not the tool (else None)."""
    text = stderr.lower()
    if code in (126, 127) and (tool in text or any(m in text for m in MISSING)):
        return f"the pod's image has no {tool} (name a probe image with {tool}, or give the pod one)"
    return None


def _kind(code, message):
    if code == 7:
        lowered = message.lower()
        if "refused" in lowered:
            return "refused", ""
        return "unreachable", message
    if code == 28:
        return "timeout", ""
    return "unreachable", message


def outcome(code, stdout, stderr, seconds=0.0):
    """The ProbeOutcome of one curl (exit code, output)."""
    body, _, tail = stdout.rpartition(f"\n{MARK}")
    status = tail.strip()
    if code in (0, 52) and tail:
        return ProbeOutcome("reached", int(status) if status.isdigit() and status != "000" else None, body,
                            seconds)
    m = next((CURL_ERROR.match(line) for line in stderr.splitlines() if CURL_ERROR.match(line)), None)
    reason = next((line.split(" failed: ", 1)[1].strip() for line in stderr.splitlines()
                   if line.startswith("* ") and " failed: " in line), None)
    kind, error = _kind(code, reason or (m.group(2) if m else stderr.strip() or f"exit code {code}"))
    return ProbeOutcome(kind, seconds=seconds, error=error)


def outcomes(stdout, stderr, n):
    """The outcomes of a curl over ``n`` URLs: each answer is its body and a code line; each
    failure also printed a ``curl: (code) ...`` line, in order."""
    parts = stdout.split(f"\n{MARK}")
    errors = [m for m in (CURL_ERROR.match(line) for line in stderr.splitlines()) if m]
    out = []
    body = parts[0]
    for part in parts[1:]:
        status, _, rest = part.partition("\n")
        if status.strip() == "000":
            m = errors.pop(0) if errors else None
            kind, error = _kind(int(m.group(1)) if m else 7, m.group(2) if m else "no answer")
            if m and m.group(1) == "52":
                out.append(ProbeOutcome("reached"))
            else:
                out.append(ProbeOutcome(kind, error=error))
        else:
            out.append(ProbeOutcome("reached", int(status) if status.strip().isdigit() else None, body))
        body = rest
    while len(out) < n:
        out.append(ProbeOutcome("unreachable", error="no answer"))
    return out[:n]


def nslookup_argv(name):
    return ["nslookup", name]


def addresses(stdout):
    """The IPv4 addresses nslookup printed for the name (those after its ``Name:`` line, not the server's)."""
    found, named = [], False
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("Name:"):
            named = True
            continue
        m = ADDRESS.match(line)
        if named and m:
            found.append(m.group(1))
    return sorted(set(found))
