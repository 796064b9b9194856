"""RFC 6455 WebSocket framing on an upgraded connection, as the Kubernetes channel protocols use
it (``v5.channel.k8s.io``, ``v4.channel.k8s.io``): the handshake answer and whole messages in and
out. Text and binary messages are read alike (the Python client sends text frames)."""

import base64
import hashlib
import struct
import threading

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 16 * 1024 * 1024  # a stdin message larger than this is a broken client


class ProtocolError(Exception):
    pass


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def choose(offered, supported):
    """The first of ``supported`` that the client offered (``Sec-WebSocket-Protocol``), or None."""
    offers = [p.strip() for p in (offered or "").split(",") if p.strip()]
    return next((p for p in supported if p in offers), None)


def handshake_headers(key, protocol):
    return [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept_key(key)),
            ("Sec-WebSocket-Protocol", protocol)]


class Connection:
    """Messages over ``rfile``/``wfile`` (the server side: the client's frames are masked)."""

    def __init__(self, rfile, wfile):
        self.rfile, self.wfile = rfile, wfile
        self._send_lock = threading.Lock()
        self.closed = False

    def _read_exact(self, n):
        data = self.rfile.read(n)
        if data is None or len(data) != n:
            raise EOFError("the connection closed")
        return data

    def _frame(self):
        b1, b2 = self._read_exact(2)
        fin, opcode, masked, length = b1 & 0x80, b1 & 0x0F, b2 & 0x80, b2 & 0x7F
        if length == 126:
            length = struct.unpack(">H", self._read_exact(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self._read_exact(8))[0]
        if length > MAX_MESSAGE:
            raise ProtocolError(f"a frame of {length} bytes")
        mask = self._read_exact(4) if masked else None
        payload = self._read_exact(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bool(fin), opcode, payload

    def receive(self):
        """The next data message's bytes; None when the client closed. Pings are answered."""
        parts, total = [], 0
        while True:
            fin, opcode, payload = self._frame()
            if opcode == OP_CLOSE:
                self.close()
                return None
            if opcode == OP_PING:
                self._send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode not in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
                raise ProtocolError(f"opcode {opcode}")
            parts.append(payload)
            total += len(payload)
            if total > MAX_MESSAGE:
                raise ProtocolError("message too large")
            if fin:
                return b"".join(parts)

    def _send_frame(self, opcode, payload):
        n = len(payload)
        if n < 126:
            header = struct.pack(">BB", 0x80 | opcode, n)
        elif n < 1 << 16:
            header = struct.pack(">BBH", 0x80 | opcode, 126, n)
        else:
            header = struct.pack(">BBQ", 0x80 | opcode, 127, n)
        with self._send_lock:
            if self.closed and opcode != OP_CLOSE:
                return
            self.wfile.write(header + payload)
            self.wfile.flush()

    def send(self, payload):
        self._send_frame(OP_BINARY, payload)

    def close(self, code=1000):
        if self.closed:
            return
        try:
            self._send_frame(OP_CLOSE, struct.pack(">H", code))
        except OSError:
            pass
        self.closed = True
