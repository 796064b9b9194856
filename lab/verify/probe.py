"""Connections made from inside a lab's namespaces, in this process: HTTP probes, many at once,
and name resolution with the source's own resolver configuration.

Each socket is created while this thread is inside the source namespace (a socket keeps the
namespace it was made in), then driven by asyncio, so thousands of probes from several
namespaces run concurrently without a process per probe.
"""

import asyncio
import errno
import socket
import time

from lab.kernel import netns
from lab.net import etcfiles
from lab.verify.outcome import HIT, ProbeOutcome  # noqa: F401 (what callers use)


def _socket_in(netns_name, kind=socket.SOCK_STREAM):
    with netns.entered(netns_name):
        sock = socket.socket(socket.AF_INET, kind)
    sock.setblocking(False)
    return sock


def _classify(exc):
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout", ""
    code = getattr(exc, "errno", None)
    if code == errno.ECONNREFUSED:
        return "refused", ""
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "unreachable", errno.errorcode.get(code, "")
    return "timeout" if code == errno.ETIMEDOUT else "unreachable", str(exc)


async def http_get(netns_name, host, port, path="/", timeout=2.0, http_host=None, connect_only=False):
    """One HTTP/1.1 request on a new connection (or just the connection); never raises for
    network failures."""
    started = time.monotonic()
    sock = _socket_in(netns_name)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
        if connect_only:
            return ProbeOutcome("reached", seconds=time.monotonic() - started)
        request = (f"GET {path} HTTP/1.1\r\nHost: {http_host or host}\r\nUser-Agent: svclab-probe\r\n"
                   "Connection: close\r\n\r\n")
        await asyncio.wait_for(loop.sock_sendall(sock, request.encode()), timeout)
        data = b""
        while True:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), timeout)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else None
        return ProbeOutcome("reached", status, body.decode(errors="replace"), time.monotonic() - started)
    except (OSError, asyncio.TimeoutError) as exc:
        kind, error = _classify(exc)
        return ProbeOutcome(kind, seconds=time.monotonic() - started, error=error)
    finally:
        sock.close()


async def many(requests, concurrency=200):
    """Run ``http_get`` for each (netns, host, port, path, timeout) tuple, at most ``concurrency`` at once."""
    gate = asyncio.Semaphore(concurrency)

    async def one(args):
        async with gate:
            return await http_get(*args)
    return await asyncio.gather(*(one(r) for r in requests))


def run(coroutine):
    return asyncio.run(coroutine)


def resolver_config(cluster, netns_name):
    """(nameservers, search list, ndots) the namespace's /etc/netns resolv.conf gives its programs."""
    text = etcfiles.files(cluster).get(netns_name, {}).get("resolv.conf", "")
    servers, search, ndots = [], [], 1
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["nameserver"]:
            servers += words[1:2]
        elif words[:1] == ["search"]:
            search = words[1:]
        elif words[:1] == ["options"]:
            ndots = next((int(w.split(":")[1]) for w in words[1:] if w.startswith("ndots:")), ndots)
    return servers, search, ndots


def resolve(cluster, netns_name, name, timeout=2.0):
    """A records for ``name`` as a program in that namespace would get them (search list, ndots)."""
    import dns.exception
    import dns.resolver

    servers, search, ndots = resolver_config(cluster, netns_name)
    if not servers:
        return []
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = servers
    resolver.search = [dns.name.from_text(s) for s in search]
    resolver.use_search_by_default = True
    resolver.ndots = ndots
    resolver.lifetime = resolver.timeout = timeout
    with netns.entered(netns_name):
        try:
            answer = resolver.resolve(name, "A", search=True)
        except (dns.exception.DNSException, OSError):
            return []
    return sorted(r.address for r in answer)
