"""The ``checks:`` section of a scenario: its shape, read and validated (run by lab.checks)."""

from dataclasses import dataclass

from lab.spec.fields import Field

OUTCOMES = ("reached", "refused", "unreachable", "timeout")
CHECK_FIELDS = {"name", "from", "url", "dns", "expect", "distribution", "timeout"}


@dataclass(frozen=True)
class Check:
    index: int
    source: str
    url: str = None
    dns: str = None
    expect: str = None
    distribution: int = None
    timeout: float = 2.0
    name: str = None
    where: Field = None

    @property
    def title(self):
        return self.name or f"{self.source} -> {self.url or 'dns ' + self.dns}"


def parse(f):
    """The ``checks:`` section of a scenario (shape only; names are checked against the lab)."""
    out = []
    for i, item in enumerate(f.list()):
        item.mapping(allowed=CHECK_FIELDS, required=("from",))
        has_url, has_dns = item.has("url"), item.has("dns")
        if has_url == has_dns:
            raise item.error("a check has either url or dns", "e.g. {from: client, url: 'http://{node1}:30090', "
                             "expect: \"You've hit\"}")
        expected = item.child("expect").str() if item.has("expect") else None
        n = item.child("distribution").int(10, 100000) if item.has("distribution") else None
        if n is None and expected is None:
            raise item.error("a check needs expect (or distribution: N)")
        if has_dns and n is not None:
            raise item.child("distribution").error("distribution applies to url checks")
        timeout = item.child("timeout").value if item.has("timeout") else 2.0
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0.1 <= timeout <= 30:
            raise item.child("timeout").error(f"{timeout!r} is not a timeout in seconds", "use 0.1 to 30")
        out.append(Check(i, item.child("from").str(), item.child("url").str() if has_url else None,
                         item.child("dns").str() if has_dns else None, expected, n, float(timeout),
                         item.child("name").str() if item.has("name") else None, item))
    return tuple(out)
