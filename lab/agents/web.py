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


def log_line(pod_name, text, now=None):
    """A line of the app's log, for one pod: ``<RFC 3339 time> <pod>: <text>`` (``kubectl logs``
    shows the text, and the time with ``--timestamps``)."""
    now = time.time() if now is None else now
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now))}.{int(now % 1 * 1e9):09d}Z {pod_name}: {text}"


def body_for(app, pod_name, peer):
    text = f"You've hit {pod_name}\n"
    if app == "echo":
        text += f"client address {peer[0]}:{peer[1]}\n" if peer else "client address unknown\n"
    return text.encode()


def response(body, keep_alive):
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}\r\n"
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


async def serve_client(app, pod_name, reader, writer):
    peer = writer.get_extra_info("peername")
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            length = _content_length(head)
            if length:
                await reader.readexactly(length)
            keep = wants_keep_alive(head[:-4])
            # as luksa/kubia logs it (node.js on a dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d)
            print(log_line(pod_name, f"Received request from ::ffff:{peer[0] if peer else '?'}"), flush=True)
            writer.write(response(body_for(app, pod_name, peer), keep))
            await writer.drain()
            if not keep:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def _content_length(head):
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            try:
                return int(line.split(b":", 1)[1])
            except ValueError:
                return 0
    return 0


def server_for(app):
    async def serve(pod_name, protocol, sock):
        print(log_line(pod_name, "Kubia server starting..."), flush=True)
        return await asyncio.start_server(lambda r, w: serve_client(app, pod_name, r, w), sock=sock,
                                          backlog=4096, limit=MAX_HEADER)
    return serve


def main():
    args = parse_args("web pods: You've hit <pod>", [("--spec", {"required": True}),
                                                     ("--app", {"choices": ("kubia", "echo"), "default": "kubia"})])
    server = PodServer(args.spec, registry.POD_APPS[args.app].ack_name(args.key), server_for(args.app))
    return asyncio.run(server.run(args.ready_fd))


if __name__ == "__main__":
    sys.exit(main())
