"""The kubia pod server's HTTP handling (lab.agents.web), over a real loopback socket: keep-alive
and pipelined requests, a body, HTTP/1.0, an oversized head, and the request log written before
the event loop next waits. No root: the socket is in the caller's own namespace."""

import asyncio
import io
import socket

from lab.agents import web


async def _exchange(payloads, wait_close=True):
    """Serve one pod on 127.0.0.1, send ``payloads`` on one connection; (bytes read, log text)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.setblocking(False)
    loop = asyncio.get_running_loop()
    log = web.RequestLog(loop, io.StringIO())
    server = await loop.create_server(lambda: web.WebProtocol("kubia", "pod-a", log), sock=listener)
    reader, writer = await asyncio.open_connection(*listener.getsockname())
    for payload in payloads:
        writer.write(payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.read() if wait_close else reader.read(4096), 5)
    writer.close()
    server.close()
    return data, log.out.getvalue()


def test_keep_alive_pipelined_then_close():
    requests = [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
                b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"]
    data, log = asyncio.run(_exchange([b"".join(requests)]))
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.count(b"You've hit pod-a\n") == 3
    assert data.count(b"Connection: keep-alive") == 2 and data.endswith(b"You've hit pod-a\n")
    assert log.count("pod-a: Received request from ::ffff:127.0.0.1") == 3


def test_a_request_in_pieces_and_http_1_0_closes():
    data, log = asyncio.run(_exchange([b"GET / HT", b"TP/1.0\r\n", b"\r\n"]))
    assert data.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in data
    assert log.endswith("Received request from ::ffff:127.0.0.1\n")


def test_oversized_head_is_closed_unanswered():
    data, log = asyncio.run(_exchange([b"GET / HTTP/1.1\r\nX: " + b"a" * (web.MAX_HEADER + 10)]))
    assert data == b"" and log == ""


def test_log_lines_are_flushed_once_per_turn():
    async def run():
        out = io.StringIO()
        log = web.RequestLog(asyncio.get_running_loop(), out)
        log.line("one")
        log.line("two")
        assert out.getvalue() == ""
        await asyncio.sleep(0)
        return out.getvalue()
    assert asyncio.run(run()) == "one\ntwo\n"
