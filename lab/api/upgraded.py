"""An upgraded connection's bytes, safe for one reader and several writers: TLS does not allow a
read and a write at the same time on one connection, so both take a lock, and a reader waits for
data (select) without holding it."""

import select
import socket
import ssl
import threading

WRITE_TIMEOUT = 30.0


class Wire:
    def __init__(self, sock, already=b""):
        self.sock = sock
        self.lock = threading.Lock()
        self.buffer = bytearray(already)
        self.closed = False

    def _recv(self):
        while not self.closed:
            pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
            if not pending:
                try:
                    readable, _, _ = select.select([self.sock], [], [], 0.2)
                except (OSError, ValueError):
                    return b""
                if not readable:
                    continue
            with self.lock:
                self.sock.setblocking(False)
                try:
                    return self.sock.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    continue
                except (OSError, ssl.SSLError):
                    return b""
                finally:
                    self._blocking()
        return b""

    def _blocking(self):
        try:
            self.sock.settimeout(WRITE_TIMEOUT)
        except OSError:
            pass

    def read(self, n):
        """``n`` bytes, fewer only at the end of the connection."""
        while len(self.buffer) < n:
            chunk = self._recv()
            if not chunk:
                break
            self.buffer += chunk
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def write(self, data):
        with self.lock:
            if self.closed:
                raise BrokenPipeError("the connection is closed")
            self._blocking()
            self.sock.sendall(data)

    def flush(self):
        pass

    def close(self):
        self.closed = True
        with self.lock:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
