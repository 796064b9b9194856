"""The pods' HTTP server: what the luksa/kubia image does, for every pod of one node.

``kubia`` answers every request with ``You've hit <pod name>``. One asyncio process holds a
listening socket inside each pod's namespace (about 1.5 KiB per pod, where a process per pod
costs 10 MiB), so ``ss -tlnp`` in a pod shows the listener, owned by this ``kubia`` process.
"""

import asyncio
import json
import signal
import sys
import time

from lab.agents.common import listen_in, parse_args
from lab.processes import report_ready

MAX_HEADER = 16384


def response(pod_name, keep_alive):
    body = f"You've hit {pod_name}\n".encode()
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


async def serve_client(pod_name, reader, writer):
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
            print(f"{pod_name}: Received request from {peer[0] if peer else '?'}", flush=True)
            writer.write(response(pod_name, keep))
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


async def main_async(spec, ready_fd):
    servers = []
    try:
        for pod in spec["pods"]:
            for port in pod["ports"]:
                sock = listen_in(pod["netns"], port)
                handler = (lambda name: lambda r, w: serve_client(name, r, w))(pod["name"])
                servers.append(await asyncio.start_server(handler, sock=sock, backlog=4096, limit=MAX_HEADER))
    except OSError as exc:
        report_ready(ready_fd, f"cannot listen: {exc}")
        return 1
    report_ready(ready_fd)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()
    return 0


def main():
    args = parse_args("kubia: You've hit <pod>", [("--spec", {"required": True})])
    with open(args.spec) as f:
        spec = json.load(f)
    return asyncio.run(main_async(spec, args.ready_fd))


if __name__ == "__main__":
    sys.exit(main())
