"""``kubectl port-forward``: SPDY/3.1 with ``portforward.k8s.io``. For each connection to the
user's local port, kubectl opens a pair of streams (``error`` and ``data``, with ``port`` and
``requestid``); the server connects to that port on the pod's own loopback address, inside the
pod's namespace (as the kubelet does), and copies bytes both ways. svclab listens on nothing for
it: the local socket is kubectl's."""

import socket
import threading

from lab.api import spdy, status
from lab.api.upgraded import Wire
from lab.kernel import netns as namespaces

PROTOCOL = "portforward.k8s.io"


def serve(handler, pod, query):
    if handler.headers.get("Upgrade", "").lower() == "websocket":
        # kubectl 1.31+ first tries SPDY tunnelled in WebSocket; refused, it falls back to plain SPDY
        raise status.bad_request("unable to upgrade: port-forward over WebSocket is not served; use SPDY/3.1")
    if not handler.headers.get("Upgrade", "").lower().startswith("spdy/3.1"):
        raise status.bad_request("Upgrade request required")
    offered = [v.strip() for h in handler.headers.get_all("X-Stream-Protocol-Version") or [] for v in h.split(",")]
    if PROTOCOL not in offered:
        raise status.ApiError(403, "Forbidden", f"unable to upgrade: unable to negotiate protocol: client supports "
                              f"{offered}, server supports [{PROTOCOL}]")
    from lab.api.streams import pod_netns, switch
    pod_ns = pod_netns(handler, pod)
    switch(handler, [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"), ("X-Stream-Protocol-Version", PROTOCOL)])
    Forwarder(handler, pod, pod_ns).run()
    handler.close_connection = True


class Forwarder:
    def __init__(self, handler, pod, pod_ns):
        self.pod_name, self.netns = pod["metadata"]["name"], pod_ns
        self.uid = pod["metadata"].get("uid", "")
        self.wire = Wire(handler.connection)
        self.conn = spdy.Connection(self.wire, self.wire, self._stream, self._data, self._reset)
        self.pairs = {}  # requestid -> {"error": id, "data": id, "port": n, "sock": socket}
        self.by_stream = {}  # stream id -> requestid
        self.lock = threading.Lock()

    def run(self):
        try:
            self.conn.serve()
        except (EOFError, OSError, spdy.ProtocolError):
            pass
        finally:
            with self.lock:
                pairs = list(self.pairs.values())
            for pair in pairs:
                _close(pair.get("sock"))
            self.conn.goaway()
            self.wire.close()

    def _stream(self, stream_id, headers):
        request = headers.get("requestid", "")
        kind = headers.get("streamtype", "")
        with self.lock:
            pair = self.pairs.setdefault(request, {})
            pair[kind] = stream_id
            self.by_stream[stream_id] = request
            try:
                pair["port"] = int(headers.get("port", ""))
            except ValueError:
                pair["port"] = None
            ready = "data" in pair and "error" in pair and "sock" not in pair
            if ready:
                pair["sock"] = None  # connecting
        if ready:
            threading.Thread(target=self._connect, args=(pair,), daemon=True).start()

    def _connect(self, pair):
        port = pair["port"]
        if port is None or not 0 < port < 65536:
            return self._fail(pair, f"invalid port {port!r}")
        try:
            with namespaces.entered(self.netns):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.connect(("127.0.0.1", port))
            sock.settimeout(None)
        except OSError as exc:
            return self._fail(pair, f"error forwarding port {port} to pod {self.pod_name}, uid {self.uid}: failed "
                                    f"to connect to localhost:{port} inside namespace \"{self.netns}\", IPv4: dial "
                                    f"tcp4 127.0.0.1:{port}: connect: {_reason(exc)}")
        with self.lock:  # from here on, the client's data goes straight to the socket
            pair["sock"] = sock
            early, done = pair.pop("early", []), pair.pop("client_done", False)
        try:
            for data in early:
                sock.sendall(data)
            if done:
                _shutdown(sock)
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                self.conn.send(pair["data"], data)
        except OSError:
            pass
        try:
            self.conn.send(pair["data"], b"", fin=True)
        except OSError:
            pass

    def _fail(self, pair, message):
        try:
            self.conn.send(pair["error"], message.encode(), fin=True)
            self.conn.send(pair["data"], b"", fin=True)
        except OSError:
            pass

    def _data(self, stream_id, data, fin):
        with self.lock:
            request = self.by_stream.get(stream_id)
            pair = self.pairs.get(request, {})
            is_data = pair.get("data") == stream_id
            sock = pair.get("sock")
            if is_data and sock is None:  # still connecting: keep what came
                if data:
                    pair.setdefault("early", []).append(data)
                if fin:
                    pair["client_done"] = True
                return
        if not is_data:
            return
        try:
            if data:
                sock.sendall(data)
            if fin:
                _shutdown(sock)
        except OSError:
            pass

    def _reset(self, stream_id):
        with self.lock:
            pair = self.pairs.get(self.by_stream.get(stream_id), {})
        _close(pair.get("sock"))


def _reason(exc):
    return {111: "connection refused", 113: "no route to host", 110: "connection timed out"}.get(
        getattr(exc, "errno", None), str(exc))


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _close(sock):
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass
