"""The pods' HTTP servers, for every pod of one app on one node.

``kubia`` answers every request with ``You've hit <pod name>``, as the luksa/kubia image does;
``echo`` adds the client address it saw (to show SNAT, or its absence). One asyncio process
holds a listening socket inside each pod's namespace (about 1.5 KiB per pod, where a process
per pod costs 10 MiB), so ``ss -tlnp`` in a pod shows the listener, owned by this process.
"""

import asyncio
import sys
import time

from lab.agents import registry
from lab.agents.podserver import PodServer
from lab.agents.protocol import parse_args

MAX_HEADER = 16384


_second = [None, ""]  # the second the last log line was stamped in, and its text


def log_line(pod_name, text, now=None):
    """A line of the app's log, for one pod: ``<RFC 3339 time> <pod>: <text>`` (``kubectl logs``
    shows the text, and the time with ``--timestamps``)."""
    now = time.time() if now is None else now
    second = int(now)
    if _second[0] != second:
        _second[:] = second, time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(second))
    return f"{_second[1]}.{int(now % 1 * 1e9):09d}Z {pod_name}: {text}"


def body_for(app, pod_name, peer):
    text = f"You've hit {pod_name}\n"
    if app == "echo":
        text += f"client address {peer[0]}:{peer[1]}\n" if peer else "client address unknown\n"
    return text.encode()


_date = [None, ""]  # the second the Date header was made for, and it


def _http_date():
    second = int(time.time())
    if _date[0] != second:
        _date[:] = second, time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime(second))
    return _date[1]


def response(body, keep_alive):
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            f"Date: {_http_date()}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
    return head.encode() + body


def wants_keep_alive(request_head):
    lines = request_head.split(b"\r\n")
    version = lines[0].rsplit(b" ", 1)[-1].upper() if lines else b""
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower()] = v.strip().lower()
    connection = headers.get(b"connection", b"")
    if version == b"HTTP/1.0":
        return connection == b"keep-alive"
    return connection != b"close"


class RequestLog:
    """The app's log lines, written out once per turn of the event loop rather than one write per
    line: a line is in the file before the loop next waits, so ``kubectl logs -f`` (which follows
    the file) sees it as promptly, and a burst of connections costs one write."""

    def __init__(self, loop, out=None):
        self.loop, self.out, self.pending = loop, out, []

    def line(self, text):
        if not self.pending:
            self.loop.call_soon(self.flush)
        self.pending.append(text)

    def flush(self):
        out = self.out or sys.stdout
        if self.pending:
            out.write("\n".join(self.pending) + "\n")
            self.pending.clear()
        out.flush()


class WebProtocol(asyncio.Protocol):
    """One client connection: requests read as they arrive (keep-alive and pipelining included),
    each answered at once, on the event loop's callbacks (no task nor stream per connection)."""

    def __init__(self, app, pod_name, log):
        self.app, self.pod_name, self.log = app, pod_name, log
        self.buffer = b""
        self.transport = self.peer = None

    def connection_made(self, transport):
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        # as luksa/kubia logs it (node.js on a dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d)
        self.received = f"Received request from ::ffff:{self.peer[0] if self.peer else '?'}"

    def data_received(self, data):
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER:
                    self._close()
                return
            if end + 4 > MAX_HEADER:
                return self._close()
            head = self.buffer[:end + 4]
            length = _content_length(head)
            if length < 0:
                return self._close()
            if len(self.buffer) < end + 4 + length:
                return  # the body is still coming
            self.buffer = self.buffer[end + 4 + length:]
            keep = wants_keep_alive(head[:-4])
            self.log.line(log_line(self.pod_name, self.received))
            self.transport.write(response(body_for(self.app, self.pod_name, self.peer), keep))
            if not keep:
                self._close()

    def eof_received(self):
        self._close()

    def connection_lost(self, exc):
        self.transport = None

    def _close(self):
        if self.transport is not None:
            self.transport.close()  # after what was written has gone out
            self.transport = None


def _content_length(head):
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            try:
                return int(line.split(b":", 1)[1])
            except ValueError:
                return 0
    return 0


def server_for(app):
    logs = {}

    async def serve(pod_name, protocol, sock):
        loop = asyncio.get_running_loop()
        log = logs.get(loop) or logs.setdefault(loop, RequestLog(loop))
        log.line(log_line(pod_name, "Kubia server starting..."))
        log.flush()
        return await loop.create_server(lambda: WebProtocol(app, pod_name, log), sock=sock, backlog=4096)
    return serve


def main():
    args = parse_args("web pods: You've hit <pod>", [("--spec", {"required": True}),
                                                     ("--app", {"choices": ("kubia", "echo"), "default": "kubia"})])
    server = PodServer(args.spec, registry.POD_APPS[args.app].ack_name(args.key), server_for(args.app))
    return asyncio.run(server.run(args.ready_fd))


if __name__ == "__main__":
    sys.exit(main())
