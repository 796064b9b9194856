"""How new connections spread over pods: N requests, counted per pod, tested against the split
Kubernetes promises (chi-square goodness of fit)."""

import time

from lab.verify import expect, probe, urls
from lab.verify.split import ALPHA, Distribution, judge, report  # noqa: F401 (what callers use)


def measure(cluster, source_netns, source, url, n, timeout=2.0, concurrency=200):
    parsed = urls.parse(url)
    host, port, path = parsed.host, parsed.port, parsed.path
    started = time.monotonic()
    host = probe.address(cluster, source_netns, host, timeout) or host  # a name that does not resolve fails each probe
    outcomes = probe.run(probe.many([(source_netns, host, port, path, timeout)] * n, concurrency))
    result = Distribution(source, url, n, seconds=time.monotonic() - started,
                          expectation=expect.expect(cluster, source_netns, host, port))
    result.count(outcomes)
    judge(result)
    return result
