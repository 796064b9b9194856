"""The split Kubernetes promises for new connections, and how a set of answers compares with it:
counts per pod tested by chi-square goodness of fit. Pure: for a lab and a cluster alike."""

from dataclasses import dataclass, field

from lab.verify import expect, stats

ALPHA = 0.001  # reject the expected split below this p-value


@dataclass
class Distribution:
    source: str
    url: str
    requests: int
    counts: dict = field(default_factory=dict)  # pod -> answers
    failures: dict = field(default_factory=dict)  # outcome kind -> count
    seconds: float = 0.0
    expectation: expect.Expectation = None
    statistic: float = None
    dof: int = None
    p_value: float = None
    verdict: str = ""
    passed: bool = False

    def count(self, outcomes):
        """Add the probes' ``outcomes``: an answer to the pod that gave it, anything else to its kind."""
        for o in outcomes:
            if o.ok and o.pod:
                self.counts[o.pod] = self.counts.get(o.pod, 0) + 1
            else:
                kind = o.kind if not o.ok else "no pod name"
                self.failures[kind] = self.failures.get(kind, 0) + 1
        return self

    def as_dict(self):
        return {"source": self.source, "url": self.url, "requests": self.requests, "counts": self.counts,
                "failures": self.failures, "seconds": round(self.seconds, 3),
                "expected": {p: round(s * self.requests, 1) for p, s in self.expectation.shares.items()},
                "chi_square": self.statistic, "dof": self.dof, "p_value": self.p_value,
                "verdict": self.verdict, "passed": self.passed}


def judge(result):
    """Fill in the verdict (pure: from the counts and the expectation)."""
    exp = result.expectation
    answered = sum(result.counts.values())
    if result.failures:
        result.verdict = f"{sum(result.failures.values())} of {result.requests} requests failed"
    elif exp.outcome != "reached" or not exp.shares:
        result.verdict = f"no split to test: {exp.what} is expected to be {exp.outcome}"
    elif set(result.counts) - set(exp.shares):
        result.verdict = "answered by pods that should not: " + ", ".join(sorted(set(result.counts) - set(exp.shares)))
    elif exp.affinity:
        result.passed = len(result.counts) == 1
        result.verdict = ("one pod took every request (sessionAffinity: ClientIP)" if result.passed
                          else f"sessionAffinity: ClientIP, yet {len(result.counts)} pods answered")
    else:
        pods = sorted(exp.shares)
        observed = [result.counts.get(p, 0) for p in pods]
        expected = [exp.shares[p] * answered for p in pods]
        result.statistic, result.dof, result.p_value = stats.chi_square(observed, expected)
        result.passed = result.p_value >= ALPHA
        result.verdict = (f"consistent with the expected split (p = {result.p_value:.3g})" if result.passed else
                          f"not the expected split (p = {result.p_value:.3g} < {ALPHA})")
    return result


def report(result):
    """The table a student reads."""
    exp = result.expectation
    lines = [f"{result.requests} new connections from {result.source} to {result.url} in {result.seconds:.2f} s "
             f"({result.requests / max(result.seconds, 1e-9):.0f}/s)", f"target: {exp.what}", ""]
    pods = sorted(set(exp.shares) | set(result.counts))
    width = max([len(p) for p in pods] + [3])
    answered = sum(result.counts.values())
    lines.append(f"{'POD':<{width}}   {'COUNT':>7}   {'EXPECTED':>8}   SHARE")
    for p in pods:
        expected = exp.shares.get(p, 0) * answered
        lines.append(f"{p:<{width}}   {result.counts.get(p, 0):>7}   {expected:>8.1f}   "
                     f"{result.counts.get(p, 0) / max(answered, 1):.3f}")
    for kind, count in sorted(result.failures.items()):
        lines.append(f"{'(' + kind + ')':<{width}}   {count:>7}")
    if result.p_value is not None:
        lines.append(f"\nchi-square = {result.statistic:.2f}, {result.dof} degrees of freedom, "
                     f"p-value = {result.p_value:.4g}")
    lines.append(f"verdict: {'PASS' if result.passed else 'FAIL'}: {result.verdict}")
    return "\n".join(lines)
