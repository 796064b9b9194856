"""Connections made from inside a lab's namespaces, in this process: HTTP probes, many at once,
and name resolution with the source's own resolver configuration.

Each socket is created while this thread is inside the source namespace (a socket keeps the
namespace it was made in), then driven by asyncio, so thousands of probes from several
namespaces run concurrently without a process per probe.
"""

import asyncio
import errno
import ipaddress
import os
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


def is_address(host):
    try:
        ipaddress.IPv4Address(host)
        return True
    except ValueError:
        return False


def address(cluster, netns_name, host, timeout=2.0):
    """``host`` as an IPv4 address, the way a program in that namespace gets it: a literal as it
    is, a name through the namespace's own resolver configuration (the host's resolver is never
    asked); None when the name does not resolve."""
    if is_address(host):
        return host
    found = resolve(cluster, netns_name, host, timeout)
    return found[0] if found else None


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
    if not is_address(host):  # resolved by the caller with the source's own resolver, never the host's
        return ProbeOutcome("unreachable", seconds=0.0, error=f"{host} does not resolve")
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
    """Run ``http_get`` for each (netns, host, port, path, timeout) tuple, at most ``concurrency``
    at once; the outcomes in the same order.

    Each connection is driven by the event loop's reader and writer callbacks, not a task per
    step (asyncio's tasks and ``wait_for`` cost more than the kernel's work of a connection), and
    the sockets are made a batch at a time inside their namespace. The timeout is one of no
    progress, as in ``http_get``: connecting, sending, or between two reads.
    """
    loop = asyncio.get_running_loop()
    outcomes = [None] * len(requests)
    finished = loop.create_future()
    spare = {}  # netns -> sockets made there, not yet used
    state = {"next": 0, "running": 0, "left": len(requests)}
    in_flight = {}  # fd -> _Connection

    def take_socket(netns_name):
        pool = spare.setdefault(netns_name, [])
        if not pool:
            with netns.entered(netns_name):
                pool.extend(socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(min(concurrency, 256)))
        sock = pool.pop()
        sock.setblocking(False)
        return sock

    def start_more():
        while state["running"] < concurrency and state["next"] < len(requests):
            index = state["next"]
            state["next"] += 1
            state["running"] += 1
            netns_name, host, port, path, timeout = requests[index]
            conn = _Connection(loop, index, take_socket(netns_name), host, port, path, timeout, done)
            in_flight[conn.fd] = conn
            conn.start()

    def done(conn, outcome):
        in_flight.pop(conn.fd, None)
        outcomes[conn.index] = outcome
        state["running"] -= 1
        state["left"] -= 1
        if state["left"] == 0:
            if not finished.done():
                finished.set_result(None)
        else:
            start_more()

    def sweep():
        now = time.monotonic()
        for conn in [c for c in in_flight.values() if c.deadline <= now]:
            conn.finish(ProbeOutcome("timeout", seconds=now - conn.started))
        if not finished.done():
            loop.call_later(0.05, sweep)

    if not requests:
        return []
    start_more()
    loop.call_later(0.05, sweep)
    try:
        await finished
    finally:
        for conn in list(in_flight.values()):
            conn.finish(ProbeOutcome("timeout"))
        for pool in spare.values():
            for sock in pool:
                sock.close()
    return outcomes


class _Connection:
    """One probe of ``many``: connect, send the request, read to the end, on callbacks."""

    __slots__ = ("loop", "index", "sock", "fd", "address", "request", "timeout", "on_done", "started",
                 "deadline", "chunks", "over")

    def __init__(self, loop, index, sock, host, port, path, timeout, on_done):
        self.loop, self.index, self.sock, self.fd = loop, index, sock, sock.fileno()
        self.address, self.timeout, self.on_done = (host, port), timeout, on_done
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: svclab-probe\r\n"
                        "Connection: close\r\n\r\n").encode()
        self.chunks, self.over = [], False
        self.started = time.monotonic()
        self.deadline = self.started + timeout

    def start(self):
        # a failure at once (a host name that does not resolve, a network that is unreachable) is
        # reported on the next turn of the loop: reported here, it would start the next probe from
        # inside this one, and N failing probes would nest N deep
        if not is_address(self.address[0]):  # names are resolved before, with the source's resolver
            self.loop.call_soon(self._failed, OSError(errno.EHOSTUNREACH, f"{self.address[0]} does not resolve"))
            return
        try:
            code = self.sock.connect_ex(self.address)
        except OSError as exc:
            self.loop.call_soon(self._failed, exc)
            return
        if code == 0:
            self._connected()
        elif code in (errno.EINPROGRESS, errno.EAGAIN):
            self.loop.add_writer(self.fd, self._writable)
        else:
            self.loop.call_soon(self._failed, OSError(code, os.strerror(code)))

    def _writable(self):
        self.loop.remove_writer(self.fd)
        code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._failed(OSError(code, os.strerror(code)))
        else:
            self._connected()

    def _connected(self):
        try:
            sent = self.sock.send(self.request)  # a request this small fits in the send buffer
        except OSError as exc:
            return self._failed(exc)
        if sent != len(self.request):
            return self._failed(OSError(errno.EMSGSIZE, "request not sent whole"))
        self.deadline = time.monotonic() + self.timeout
        self.loop.add_reader(self.fd, self._readable)

    def _readable(self):
        try:
            chunk = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self._failed(exc)
        if chunk:
            self.chunks.append(chunk)
            self.deadline = time.monotonic() + self.timeout
            return
        head, _, body = b"".join(self.chunks).partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else None
        self.finish(ProbeOutcome("reached", status, body.decode(errors="replace"), time.monotonic() - self.started))

    def _failed(self, exc):
        kind, error = _classify(exc)
        self.finish(ProbeOutcome(kind, seconds=time.monotonic() - self.started, error=error))

    def finish(self, outcome):
        if self.over:
            return
        self.over = True
        self.loop.remove_writer(self.fd)
        self.loop.remove_reader(self.fd)
        self.sock.close()
        self.on_done(self, outcome)


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
