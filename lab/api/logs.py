"""``kubectl logs``: a pod's log is what its app printed for it, read from the log of the agent
that serves the pod's app on its node (lines ``<time> <pod>: <text>``); ``follow`` keeps the
answer open and sends new lines as they come, until the client goes away or the pod does."""

import calendar
import glob
import re
import select
import time

from lab.agents import registry
from lab.api import status

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (\S+): (.*)$")
FOLLOW_POLL = 0.2
FOLLOW_LIMIT = 24 * 3600.0


def _parse_time(text):
    whole, _, fraction = text.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float(f"0.{fraction or 0}")


def _files(record, app):
    kind = registry.POD_APPS.get(app)
    return sorted(glob.glob(record.path(kind.log_file("*")))) if kind else []


def pod_lines(files, pod_name, offsets=None):
    """[(timestamp text, text)] of ``pod_name`` in ``files``; ``offsets`` {file: position} makes
    it read only what came after the last call (and moves them on)."""
    out = []
    for path in files:
        start = (offsets or {}).get(path, 0)
        try:
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read()
        except OSError:
            continue
        complete = data.rfind(b"\n") + 1  # a line still being written waits for the next read
        if offsets is not None:
            offsets[path] = start + complete
        for raw in data[:complete].decode("utf-8", "replace").splitlines():
            m = LINE.match(raw)
            if m and m.group(2) == pod_name:
                out.append((m.group(1), m.group(3)))
    out.sort(key=lambda line: line[0])
    return out


def _int_param(query, name, lo=0):
    values = query.get(name)
    if not values or values[-1] == "":
        return None
    try:
        value = int(values[-1])
    except ValueError:
        raise status.bad_request(f'invalid value for {name}: "{values[-1]}"') from None
    if value < lo:
        raise status.bad_request(f"{name}: Invalid value: {value}: must be greater than or equal to {lo}")
    return value


def select_lines(lines, query, now):
    """The lines ``query`` asks for (sinceSeconds, sinceTime, tailLines), as text."""
    since = _int_param(query, "sinceSeconds", 1)
    since_time = (query.get("sinceTime") or [None])[-1]
    if since is not None:
        lines = [line for line in lines if _parse_time(line[0]) >= now - since]
    elif since_time:
        try:
            cut = _parse_time(since_time)
        except ValueError:
            raise status.bad_request(f'invalid value for sinceTime: "{since_time}"') from None
        lines = [line for line in lines if _parse_time(line[0]) >= cut]
    tail = _int_param(query, "tailLines")
    if tail is not None:
        lines = lines[-tail:] if tail else []
    return lines


def render(lines, timestamps):
    return "".join(f"{stamp} {text}\n" if timestamps else f"{text}\n" for stamp, text in lines).encode()


def serve(handler, pod, container, query):
    name = pod["metadata"]["name"]
    if (query.get("previous") or ["false"])[-1].lower() in ("true", "1"):
        raise status.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
    cluster = handler.api.record.load_cluster()
    found = next((p for p in cluster.pods if (p.namespace, p.name) == (pod["metadata"]["namespace"], name)), None)
    files = _files(handler.api.record, found.app) if found else []
    timestamps = (query.get("timestamps") or ["false"])[-1].lower() in ("true", "1")
    limit = _int_param(query, "limitBytes", 1)
    offsets = {}
    body = render(select_lines(pod_lines(files, name, offsets), query, time.time()), timestamps)
    if limit is not None:
        body = body[:limit]
    if (query.get("follow") or ["false"])[-1].lower() not in ("true", "1"):
        return handler._send(200, body, "text/plain")
    _follow(handler, pod, files, name, offsets, body, timestamps)


def _follow(handler, pod, files, name, offsets, first, timestamps):
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    key = f"v1/Pod/{pod['metadata']['namespace']}/{name}"
    uid = pod["metadata"].get("uid")
    deadline = time.monotonic() + FOLLOW_LIMIT
    chunk = first
    try:
        while True:
            if chunk:
                handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                handler.wfile.flush()
            if _client_gone(handler.connection) or time.monotonic() > deadline:
                break
            handler.api.reload()
            now = handler.api.store.objects.get(key)
            if now is None or now["metadata"].get("uid") != uid:
                break  # the pod is gone: its log ends
            time.sleep(FOLLOW_POLL)
            chunk = render(pod_lines(files, name, offsets), timestamps)
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    except OSError:
        pass
    handler.close_connection = True


def _client_gone(conn):
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        if not readable:
            return False
        return conn.recv(1) == b""
    except (OSError, ValueError):
        return True

