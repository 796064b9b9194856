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

import time

from lab.cluster import lookup
from lab.verify import dist, expect, probe, report, urls
from lab.verify.report import CheckResult, expand, junit, placeholders  # noqa: F401 (what callers use)


def source_netns(cluster, check):
    """The namespace a check runs from: a node, host or pod name, or pod:KEY=VALUE (the first such pod)."""
    try:
        return lookup.netns_of(cluster, check.source)
    except Exception as exc:
        raise check.where.child("from").error(str(exc)) from None


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
        got, passed = report.dns_verdict(wanted, addresses)
        return CheckResult(c, f"dns {target}", wanted, got, passed, time.monotonic() - started)
    if c.distribution:
        d = dist.measure(cluster, ns, c.source, target, c.distribution, c.timeout)
        return CheckResult(c, target, "expected split", d.verdict, d.passed, d.seconds, {"distribution": d.as_dict()})
    parsed = urls.parse(target)
    host, port, path = parsed.host, parsed.port, parsed.path
    address = probe.address(cluster, ns, host, c.timeout) or host
    outcome = probe.run(probe.http_get(ns, address, port, path, c.timeout, http_host=host))
    got, passed = report.url_verdict(wanted, outcome.kind, outcome.body, outcome.describe())
    semantics = expect.expect(cluster, ns, address, port)
    return CheckResult(c, target, wanted, got, passed, time.monotonic() - started,
                  {"kubernetes": semantics.outcome, "path": semantics.what})
