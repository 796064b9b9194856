"""Declarative expectations in a scenario (``checks:``) and running them against a lab.

A check is one of:
  {from: client, url: "http://{node2}:30090", expect: "You've hit pod-nodeport-"}
  {from: client, url: "http://{svc:nodeport-svc}:3000", expect: unreachable}
  {from: pod:app=myapp, dns: nodeport-svc, expect: "{svc:nodeport-svc}"}
  {from: client, url: "http://{node1}:30090", distribution: 1000}
``expect`` is text the body must start with, or one of reached / refused / unreachable /
timeout (for urls) and nxdomain (for dns). Placeholders: ``{master}`` (any node or host name:
its address), ``{lb}``, ``{dns}``, ``{svc:NAME}`` / ``{svc:NS/NAME}`` (ClusterIP),
``{nodeport:NAME}`` (its first node port), ``{lbip:NAME}`` (its load-balancer address),
``{pod:NAME}`` (a pod's IP).
"""

import re
import time
from dataclasses import dataclass, field

from lab.cluster import addons, lookup
from lab.spec.checks import OUTCOMES, Check
from lab.verify import dist, expect, probe, urls

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def placeholders(cluster):
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


def expand(text, values, where):
    def one(m):
        if m.group(1) not in values:
            raise where.error(f"unknown placeholder {{{m.group(1)}}}",
                              "use a node or host name, lb, dns, svc:NAME, nodeport:NAME, lbip:NAME or pod:NAME")
        return values[m.group(1)]
    return PLACEHOLDER.sub(one, text)


def source_netns(cluster, check):
    """The namespace a check runs from: a node, host or pod name, or pod:KEY=VALUE (the first such pod)."""
    try:
        return lookup.netns_of(cluster, check.source)
    except Exception as exc:
        raise check.where.child("from").error(str(exc)) from None


@dataclass
class CheckResult:
    check: Check
    target: str
    expected: str
    got: str
    passed: bool
    seconds: float
    details: dict = field(default_factory=dict)

    def as_dict(self):
        return {"check": self.check.title, "from": self.check.source, "target": self.target,
                "expected": self.expected, "got": self.got, "passed": self.passed,
                "seconds": round(self.seconds, 3), **self.details}


def run_all(cluster, checks):
    values = placeholders(cluster)
    prepared = []
    for c in checks:  # every name is checked before anything runs
        ns = source_netns(cluster, c)
        target = expand(c.url or c.dns, values, c.where.child("url" if c.url else "dns"))
        wanted = expand(c.expect, values, c.where.child("expect")) if c.expect else None
        prepared.append((c, ns, target, wanted))
    return [_run(cluster, c, ns, target, wanted) for c, ns, target, wanted in prepared]


def _run(cluster, c, ns, target, wanted):
    started = time.monotonic()
    if c.dns:
        addresses = probe.resolve(cluster, ns, target, c.timeout)
        got = ", ".join(addresses) if addresses else "nxdomain"
        passed = (not addresses) if wanted in ("nxdomain", "unresolved") else wanted in addresses
        return CheckResult(c, f"dns {target}", wanted, got, passed, time.monotonic() - started)
    if c.distribution:
        d = dist.measure(cluster, ns, c.source, target, c.distribution, c.timeout)
        return CheckResult(c, target, "expected split", d.verdict, d.passed, d.seconds, {"distribution": d.as_dict()})
    parsed = urls.parse(target)
    host, port, path = parsed.host, parsed.port, parsed.path
    outcome = probe.run(probe.http_get(ns, host, port, path, c.timeout))
    if wanted in OUTCOMES:
        passed = (outcome.kind in ("timeout", "unreachable")) if wanted == "unreachable" else outcome.kind == wanted
    else:
        passed = outcome.ok and outcome.body.startswith(wanted)
    semantics = expect.expect(cluster, ns, host, port)
    lines = outcome.body.strip().splitlines()  # an answer may be empty (a proxy closing at once)
    got = outcome.describe() if wanted in OUTCOMES or not outcome.ok or not lines else lines[0]
    return CheckResult(c, target, wanted, got, passed, time.monotonic() - started,
                  {"kubernetes": semantics.outcome, "path": semantics.what})


def junit(results, suite="svclab"):
    from xml.sax.saxutils import escape, quoteattr
    failures = sum(not r.passed for r in results)
    total = sum(r.seconds for r in results)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<testsuite name={quoteattr(suite)} tests="{len(results)}" failures="{failures}" errors="0" '
             f'time="{total:.3f}">']
    for r in results:
        lines.append(f'  <testcase classname={quoteattr(suite)} name={quoteattr(r.check.title)} '
                     f'time="{r.seconds:.3f}">')
        if not r.passed:
            message = f"expected {r.expected}, got {r.got}"
            lines.append(f"    <failure message={quoteattr(message)}>{escape(message)}</failure>")
        lines.append("  </testcase>")
    lines.append("</testsuite>")
    return "\n".join(lines) + "\n"
