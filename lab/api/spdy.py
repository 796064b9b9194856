"""SPDY/3.1 framing on an upgraded connection, the part kubectl's exec and port-forward use: the
client opens streams (SYN_STREAM, each naming its ``streamtype``), both sides send DATA with FIN
to end a stream; the server answers every new stream (SYN_REPLY), pings, and says GOAWAY at the
end. Header blocks are zlib-compressed with SPDY/3's dictionary, one stream per direction."""

import struct
import threading
import zlib

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_FRAME = 1 << 24

# SPDY/3's header-compression dictionary (draft 3, section 2.6.10.1): length-prefixed words, then text.
_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges age "
    "allow authorization cache-control connection content-base content-encoding content-language content-length "
    "content-location content-md5 content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
    "user-agent vary via warning www-authenticate method get status").split() + ["200 OK"] + \
    "version HTTP/1.1 url public set-cookie keep-alive origin".split()
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


class ProtocolError(Exception):
    pass


def encode_headers(headers):
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        for text in (name.lower(), value):
            data = text.encode()
            out.append(struct.pack(">I", len(data)) + data)
    return b"".join(out)


def decode_headers(block):
    """{name: value} of a decompressed header block."""
    try:
        (count,), pos, out = struct.unpack_from(">I", block), 4, {}
        for _ in range(count):
            fields = []
            for _ in range(2):
                (n,) = struct.unpack_from(">I", block, pos)
                fields.append(block[pos + 4:pos + 4 + n].decode())
                pos += 4 + n
            out[fields[0]] = fields[1]
        return out
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"a bad header block: {exc}") from None


class Connection:
    """The server side of a SPDY connection over ``rfile``/``wfile``. ``on_stream(id, headers)``
    is called for each new stream, ``on_data(id, data, fin)`` for its data, ``on_reset(id)``
    when the client resets it; ``serve()`` reads until the client goes away."""

    def __init__(self, rfile, wfile, on_stream, on_data, on_reset=None):
        self.rfile, self.wfile = rfile, wfile
        self.on_stream, self.on_data, self.on_reset = on_stream, on_data, on_reset or (lambda sid: None)
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zdict=DICTIONARY)
        self._send_lock = threading.Lock()
        self.closed = False
        self.last_stream = 0

    def _read_exact(self, n):
        data = self.rfile.read(n)
        if data is None or len(data) != n:
            raise EOFError("the connection closed")
        return data

    def serve(self):
        """Read frames until the client closes the connection or says GOAWAY."""
        while True:
            head = self._read_exact(8)
            first, flags_length = struct.unpack(">II", head)
            flags, length = flags_length >> 24, flags_length & 0xFFFFFF
            payload = self._read_exact(length) if length else b""
            if first & 0x80000000:  # control frame
                if (first >> 16) & 0x7FFF != 3:
                    raise ProtocolError(f"SPDY version {(first >> 16) & 0x7FFF}")
                if self._control(first & 0xFFFF, flags, payload) is False:
                    return
            else:
                self.on_data(first & 0x7FFFFFFF, payload, bool(flags & FLAG_FIN))

    def _control(self, kind, flags, payload):
        if kind == SYN_STREAM:
            stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            headers = decode_headers(self._inflate.decompress(payload[10:]))
            self.last_stream = max(self.last_stream, stream_id)
            self._send_control(SYN_REPLY, 0, struct.pack(">I", stream_id) + self._compress({}))
            self.on_stream(stream_id, headers)
            if flags & FLAG_FIN:
                self.on_data(stream_id, b"", True)
        elif kind == RST_STREAM:
            self.on_reset(struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF)
        elif kind == PING:
            self._send_control(PING, 0, payload)
        elif kind == GOAWAY:
            return False
        elif kind == HEADERS:
            self._inflate.decompress(payload[4:])  # keeps the header stream in step
        return True  # SETTINGS, WINDOW_UPDATE: nothing to do (no flow control)

    def _compress(self, headers):
        return self._deflate.compress(encode_headers(headers)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def _write(self, data):
        with self._send_lock:
            if self.closed:
                return
            self.wfile.write(data)
            self.wfile.flush()

    def _send_control(self, kind, flags, payload):
        self._write(struct.pack(">HHI", 0x8003, kind, (flags << 24) | len(payload)) + payload)

    def send(self, stream_id, data, fin=False):
        for start in range(0, max(len(data), 1), MAX_FRAME - 1):
            chunk = data[start:start + MAX_FRAME - 1]
            last = start + MAX_FRAME - 1 >= len(data)
            self._write(struct.pack(">II", stream_id, ((FLAG_FIN if fin and last else 0) << 24) | len(chunk))
                        + chunk)

    def goaway(self):
        try:
            self._send_control(GOAWAY, 0, struct.pack(">II", self.last_stream, 0))
        except OSError:
            pass
        self.closed = True
