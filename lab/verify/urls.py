"""URLs as checks, probes and traces take them: ``http://HOST[:PORT][/PATH]``, ``HOST:PORT`` or
``HOST``, with ``https://`` and ``tcp://`` where a caller allows them. Pure."""

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from lab.errors import LabError

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Url:
    scheme: str
    host: str
    port: int
    path: str  # with the query, "/" at least


def parse(url, schemes=("http",), ipv4=False, verb="use"):
    """``url`` read; ``ipv4``: the host must be an IPv4 address. Errors say what ``verb`` cannot do."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise LabError(f"cannot read the URL {url!r}: {exc} (use e.g. http://192.168.179.100:30090)") from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise LabError(f"cannot {verb} {url!r}: use an {allowed} URL, or HOST:PORT")
    host = parts.hostname or ""
    if not host:
        raise LabError(f"cannot {verb} the URL {url!r}: write http://HOST[:PORT][/PATH]")
    if ipv4:
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            raise LabError(f"cannot {verb} {url!r}: give the destination as an IPv4 address "
                           f"(a node IP, a ClusterIP or an external IP), e.g. http://192.168.179.100:30090") from None
    if port is None:
        if scheme not in DEFAULT_PORTS:
            raise LabError(f"cannot {verb} {url!r}: say which port, e.g. {scheme}://10.96.0.10:53")
        port = DEFAULT_PORTS[scheme]
    return Url(scheme, host, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
