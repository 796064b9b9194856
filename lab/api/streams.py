"""The streaming subresources of pods: ``exec`` (SPDY/3.1 for kubectl up to 1.29 and as 1.30+'s
fallback; WebSocket ``v5.channel.k8s.io``/``v4`` for kubectl 1.30+ and the Python client),
``log`` (lab.api.logs) and ``portforward`` (lab.api.portforward). Each request is checked
against the pod as kube-apiserver checks it, then the connection is upgraded and the session
runs on the handler's thread until the command ends or the client goes away."""

import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

from lab.api import podexec, spdy, status, websocket
from lab.api.upgraded import Wire

STREAM_WAIT = 30.0  # kube-apiserver's streamCreationTimeout: the client opens its SPDY streams within it
CHANNELS = {"stdin": 0, "stdout": 1, "stderr": 2, "error": 3, "resize": 4}
WS_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
CLIENT_SETTLE = 0.1  # seconds a WebSocket client gets to make its streams before output flows


def handle(handler, route):
    if route.resource.kind != "Pod" or route.sub == "proxy":
        raise status.no_such_path()
    query = parse_qs(urlsplit(handler.path).query, keep_blank_values=True)
    pod = _pod(handler, route)
    if route.sub == "log":
        from lab.api import logs
        return logs.serve(handler, pod, container_of(pod, query, "log"), query)
    if route.sub == "portforward":
        from lab.api import portforward
        return portforward.serve(handler, pod, query)
    if route.sub == "exec":
        return _exec(handler, pod, query)
    if route.sub == "attach":
        raise status.bad_request("attach is not served: a pod in svclab runs no container process to attach to; "
                                 "use kubectl exec")
    raise status.no_such_path()


def _pod(handler, route):
    handler.api.reload()
    key = f"v1/Pod/{route.namespace}/{route.name}"
    pod = handler.api.store.objects.get(key)
    if pod is None:
        raise status.not_found(route.resource, route.name)
    return pod


def container_of(pod, query, verb="exec"):
    """The container the request names (``container=``), or the pod's only one; kube's 400s else."""
    names = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
    name = (query.get("container") or [""])[-1]
    pod_name = pod["metadata"]["name"]
    if not name:
        if len(names) == 1:
            return names[0]
        raise status.bad_request(f"a container name must be specified for pod {pod_name}, choose one of: "
                                 f"[{' '.join(names)}]")
    if name not in names:
        raise status.bad_request(f"container {name} is not valid for pod {pod_name}")
    return name


def _flag(query, name):
    return (query.get(name) or ["false"])[-1].lower() in ("true", "1")


def _exec(handler, pod, query):
    container = container_of(pod, query)
    image = next((c.get("image", "") for c in pod.get("spec", {}).get("containers", []) if c["name"] == container), "")
    command = query.get("command") or []
    if not command:
        raise status.bad_request("you must specify at least 1 command")
    phase = pod.get("status", {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise status.bad_request(f"cannot exec into a container in a completed pod; current phase is {phase}")
    model = _pod_model(handler, pod)
    netns = model.exec_netns
    tty, stdin = _flag(query, "tty"), _flag(query, "stdin")
    streams = {"stdout": _flag(query, "stdout"), "stderr": _flag(query, "stderr") and not tty, "stdin": stdin}
    if not any(streams.values()):
        raise status.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    transport = _upgrade(handler, tty, streams)
    session = None
    try:
        if not transport.ready():
            return
        try:
            session = podexec.Session(handler.api.lab, netns, command, tty, stdin, transport.output, image,
                                      mark=model.netns)
        except OSError as exc:
            return transport.finish(_failure(f"failed to exec in container: {exc}", None))
        transport.attach(session)
        code = session.wait()
        transport.finish(_exit_status(command, code))
    finally:
        if session is not None:
            session.kill()  # still running (the client went away), or what it left behind in its session
        transport.close()
        handler.close_connection = True


def pod_netns(handler, pod):
    """Where the pod's processes run (its node's namespace for a hostNetwork pod)."""
    return _pod_model(handler, pod).exec_netns


def _pod_model(handler, pod):
    from lab.cluster import lookup
    from lab.errors import LabError
    cluster = handler.api.record.load_cluster()
    try:
        return lookup.pod(cluster, pod["metadata"]["namespace"], pod["metadata"]["name"])
    except (LabError, AttributeError):
        raise status.ApiError(404, "NotFound", f'pods "{pod["metadata"]["name"]}" not found') from None


def _exit_status(command, code):
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return _failure(f"command terminated with non-zero exit code: error executing command {_go_list(command)}, "
                    f"exit code {code}", code)


def _go_list(items):
    return "[" + " ".join(items) + "]"


def _failure(message, code):
    out = {"metadata": {}, "status": "Failure", "message": message,
           "reason": "NonZeroExitCode" if code is not None else "InternalError"}
    if code is not None:
        out["details"] = {"causes": [{"reason": "ExitCode", "message": str(code)}]}
    return out


def _upgrade(handler, tty, streams):
    upgrade = handler.headers.get("Upgrade", "").lower()
    if upgrade == "websocket":
        protocol = websocket.choose(handler.headers.get("Sec-WebSocket-Protocol"), WS_PROTOCOLS)
        key = handler.headers.get("Sec-WebSocket-Key")
        if protocol is None or not key:
            raise status.bad_request(f"unable to upgrade: unable to negotiate a protocol of {', '.join(WS_PROTOCOLS)}")
        switch(handler, websocket.handshake_headers(key, protocol))
        return WebSocketExec(handler, protocol, tty)
    if upgrade.startswith("spdy/3.1"):
        offered = [v.strip() for h in handler.headers.get_all("X-Stream-Protocol-Version") or [] for v in h.split(",")]
        if "v4.channel.k8s.io" not in offered:
            raise status.ApiError(403, "Forbidden", "unable to upgrade: unable to negotiate protocol: client supports "
                                  f"{offered}, server supports [v4.channel.k8s.io]")
        switch(handler, [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"),
                          ("X-Stream-Protocol-Version", "v4.channel.k8s.io")])
        return SpdyExec(handler, tty, streams)
    raise status.bad_request("Upgrade request required")


def switch(handler, headers):
    handler.send_response(101, "Switching Protocols")
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.flush()


class WebSocketExec:
    """exec over WebSocket: each message is a channel byte and its payload."""

    def __init__(self, handler, protocol, tty):
        self.wire = Wire(handler.connection)
        self.ws = websocket.Connection(self.wire, self.wire)
        self.v5 = protocol.startswith("v5")
        self.session = None
        self.reader = None
        # client-go reads the connection before it has made its streams, and drops what comes
        # for a stream it has not made yet ("Unknown stream id 1, discarding message"): output
        # waits until the client has spoken or a moment has passed, as the kubelet's round trip
        # makes it wait behind a real API server
        self.client_ready = threading.Event()
        settle = threading.Timer(CLIENT_SETTLE, self.client_ready.set)
        settle.daemon = True
        settle.start()

    def ready(self):
        return True

    def output(self, stream, data):
        self.client_ready.wait()
        try:
            self.ws.send(bytes([CHANNELS[stream]]) + data)
        except OSError:
            pass

    def attach(self, session):
        self.session = session
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        try:
            while True:
                message = self.ws.receive()
                if message is None:
                    break
                self.client_ready.set()
                if not message:
                    continue
                channel, payload = message[0], message[1:]
                if channel == CHANNELS["stdin"]:
                    self.session.write(payload)
                elif channel == CHANNELS["resize"]:
                    _resize(self.session, payload)
                elif channel == 255 and self.v5 and payload[:1] == bytes([CHANNELS["stdin"]]):
                    self.session.close_stdin()
        except (EOFError, OSError, websocket.ProtocolError):
            pass
        if self.session.process.poll() is None:
            self.session.kill()  # the client went away mid-session

    def finish(self, result):
        self.output("error", json.dumps(result).encode())
        self.ws.close()

    def close(self):
        self.ws.close()
        _after_the_client(self.reader)
        self.wire.close()


class SpdyExec:
    """exec over SPDY/3.1: the client opens a stream per channel (``streamtype``)."""

    def __init__(self, handler, tty, streams):
        self.wire = Wire(handler.connection)
        wanted = {"error"} | {name for name, on in streams.items() if on}
        if tty:
            wanted.add("resize")
        self.wanted, self.ids, self.types = wanted, {}, {}
        self.all_open = threading.Event()
        self.session = None
        self.early = []  # stdin that came before the command started
        self.stdin_done = False
        self.resize_buffer = b""
        self.gone = threading.Event()
        self.conn = spdy.Connection(self.wire, self.wire, self._stream, self._data, self._reset)
        self.reader = threading.Thread(target=self._serve, daemon=True)
        self.reader.start()

    def _serve(self):
        try:
            self.conn.serve()
        except (EOFError, OSError, spdy.ProtocolError):
            pass
        self.gone.set()
        self.all_open.set()
        if self.session is not None and self.session.process.poll() is None:
            self.session.kill()  # the client went away mid-session

    def _stream(self, stream_id, headers):
        kind = headers.get("streamtype", "")
        self.ids[kind], self.types[stream_id] = stream_id, kind
        if self.wanted <= set(self.ids):
            self.all_open.set()

    def _data(self, stream_id, data, fin):
        kind = self.types.get(stream_id)
        if kind == "stdin":
            if data:
                self.session.write(data) if self.session else self.early.append(data)
            if fin:
                self.stdin_done = True
                if self.session:
                    self.session.close_stdin()
        elif kind == "resize" and data:
            self.resize_buffer += data
            *lines, self.resize_buffer = self.resize_buffer.split(b"\n")
            for line in lines:
                if self.session:
                    _resize(self.session, line)

    def _reset(self, stream_id):
        if self.types.get(stream_id) in ("stdout", "error") and self.session is not None:
            self.session.kill()

    def ready(self):
        deadline = time.monotonic() + STREAM_WAIT
        while not self.all_open.wait(timeout=0.5):
            if time.monotonic() > deadline:
                return False
        return not self.gone.is_set()

    def output(self, stream, data):
        stream_id = self.ids.get(stream)
        if stream_id is not None:
            try:
                self.conn.send(stream_id, data)
            except OSError:
                pass

    def attach(self, session):
        self.session = session
        for data in self.early:
            session.write(data)
        if self.stdin_done:
            session.close_stdin()

    def finish(self, result):
        try:
            self.conn.send(self.ids["error"], json.dumps(result).encode(), fin=True)
            for kind in ("stdout", "stderr"):
                if kind in self.ids:
                    self.conn.send(self.ids[kind], b"", fin=True)
        except OSError:
            pass

    def close(self):
        self.conn.goaway()
        _after_the_client(self.reader)
        self.wire.close()


CLOSE_WAIT = 2.0


def _after_the_client(reader):
    """Wait (a little) for the client to close its side first: closing ours while its last frames
    are unread here would reset the connection, and a reset discards what the client has not read
    yet, the command's last output included."""
    if reader is not None:
        reader.join(timeout=CLOSE_WAIT)


def _resize(session, payload):
    try:
        size = json.loads(payload)
        session.resize(int(size.get("Width", 0)), int(size.get("Height", 0)))
    except (ValueError, TypeError, AttributeError):
        pass
