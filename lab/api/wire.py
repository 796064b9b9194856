"""HTTP/1.1 below the API, as Go's net/http serves kube-apiserver: a deadline for each request's
line and headers (a client that dribbles them is cut off, as ReadHeaderTimeout does), a deadline
for its body, request bodies by Content-Length or chunked, never more than kube's 3 MiB, plain
``400 Bad Request`` answers to what is not HTTP, and a bound on the connections served at once.
"""

import io
import socket
import threading
import time

from lab.api import status

MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's limit for a request body
HEADER_TIMEOUT = 10.0  # the request line and headers, from the first byte (or the connection) on
IDLE_TIMEOUT = 30.0  # a kept-alive connection waiting for its next request
BODY_TIMEOUT = 10.0  # a request's whole body, once its headers are in
WRITE_TIMEOUT = 60.0  # any one send of an answer
MAX_CONNECTIONS = 512  # served at once (each has a thread); beyond, new connections are closed
MAX_CHUNK_LINE = 1024
DRAIN = 1024 * 1024  # of a body over the limit, read and dropped so that its sender reads the 413


class Deadline:
    """When the current read must be done by (None: no limit), and the first-byte rule: a request
    awaited on a kept-alive connection gets HEADER_TIMEOUT once its first byte is in."""

    def __init__(self):
        self.at, self.awaiting = None, False

    def start(self, seconds, awaiting=False):
        self.at, self.awaiting = time.monotonic() + seconds, awaiting

    def clear(self):
        self.at, self.awaiting = None, False


class DeadlineReader(io.RawIOBase):
    """A socket's bytes, each read bounded by what is left of the connection's deadline."""

    def __init__(self, sock, deadline):
        super().__init__()
        self.sock, self.deadline = sock, deadline

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.deadline.at is not None:
            left = self.deadline.at - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request took too long")
            self.sock.settimeout(left)
        n = self.sock.recv_into(buffer)
        if n and self.deadline.awaiting:
            self.deadline.start(HEADER_TIMEOUT)
        return n


def reader(sock, deadline, size=65536):
    return io.BufferedReader(DeadlineReader(sock, deadline), size)


def content_length(headers):
    """The body's length (0 without one); 400 for a value that is not one."""
    text = headers.get("Content-Length")
    if text is None:
        return 0
    if not text.strip().isdigit():
        raise status.bad_request(f"invalid Content-Length {text!r}")
    return int(text)


def read_body(rfile, headers):
    """The request's body: by ``Transfer-Encoding: chunked`` or Content-Length, at most MAX_BODY
    (413 beyond: kube's limitedReadBody)."""
    encoding = headers.get("Transfer-Encoding", "").strip().lower()
    if encoding and headers.get("Content-Length") is not None:  # a request smuggler's: refused, as Go does
        raise status.bad_request("http: message cannot contain both Content-Length and Transfer-Encoding")
    if encoding:
        if encoding != "chunked":
            raise status.ApiError(501, "", f"unsupported transfer encoding: {encoding!r}")
        return _chunked(rfile)
    n = content_length(headers)
    if n > MAX_BODY:  # as kube's limitedReadBody, which reads the limit and one more byte before it answers
        left = min(n, MAX_BODY + DRAIN)
        while left > 0 and rfile.read(min(left, 65536)):
            left -= 65536
        raise status.too_large(MAX_BODY)
    data = rfile.read(n) if n else b""
    if len(data) != n:
        raise status.bad_request("unexpected EOF")
    return data


def _chunked(rfile):
    body = bytearray()
    while True:
        line = rfile.readline(MAX_CHUNK_LINE + 1)
        if len(line) > MAX_CHUNK_LINE or not line.endswith(b"\n"):
            raise status.bad_request("malformed chunked encoding")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise status.bad_request("malformed chunked encoding") from None
        if size < 0:
            raise status.bad_request("malformed chunked encoding")
        if size == 0:
            break
        if len(body) + size > MAX_BODY:
            raise status.too_large(MAX_BODY)
        chunk = rfile.read(size)
        if len(chunk) != size or rfile.read(2) != b"\r\n":
            raise status.bad_request("unexpected EOF")
        body += chunk
    for _ in range(100):  # trailers, up to the empty line
        line = rfile.readline(MAX_CHUNK_LINE + 1)
        if line in (b"\r\n", b"\n", b""):
            return bytes(body)
        if len(line) > MAX_CHUNK_LINE:
            break
    raise status.bad_request("malformed chunked encoding")


def has_body(headers):
    return bool(headers.get("Transfer-Encoding")) or (headers.get("Content-Length") or "0").strip() not in ("", "0")


def plain_error(code, message):
    """Go's net/http answer to a request it cannot read: the code and text, and close."""
    text = f"{code} {message}".encode("utf-8", "replace")
    return (f"HTTP/1.1 {code} {message}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
            f"Content-Length: {len(text)}\r\n\r\n").encode("latin-1", "replace") + text


class Slots:
    """The connections being served; a connection beyond ``limit`` is closed unanswered."""

    def __init__(self, limit=MAX_CONNECTIONS):
        self.free = threading.BoundedSemaphore(limit)
        self.refused = 0

    def take(self):
        ok = self.free.acquire(blocking=False)
        if not ok:
            self.refused += 1
        return ok

    def give_back(self):
        self.free.release()


def close_quietly(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
