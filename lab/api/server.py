"""The HTTP side of a lab's API: routing, authentication, reads from the published store (lists,
gets, Tables, watches), and writes handed to lab.api.writes (bodies read by lab.api.bodies,
fieldValidation by lab.api.validation). One thread per connection, a bounded number of them
(lab.api.wire: deadlines, body reading, answers to what is not HTTP).

Reads never touch the lab: they come from the store ``objects.json`` (lab.live.publish), reloaded
when it changes. A watch follows the store's history from the resourceVersion asked for.
"""

import http.server
import json
import os
import select
import socket
import ssl
import threading
import time
from urllib.parse import parse_qs, unquote, urlsplit

from lab.api import bodies, immutable, kinds, openapi, selectors, status, tables, validation, wire, writes
from lab.kernel import netns
from lab.kernel.record import Record
from lab.live import publish

PUBLIC_PATHS = ("/version", "/version/", "/healthz", "/livez", "/readyz")
HEADER_TIMEOUT = wire.HEADER_TIMEOUT
OPTIONS_KINDS = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}


class Api:
    """What every connection shares: the lab, its store (reloaded when republished), the version."""

    def __init__(self, lab, version, server_address):
        self.lab, self.version, self.server_address = lab, version, server_address
        self.record = Record(lab, {})
        self.changed = threading.Condition()
        self.store, self.mtime = publish.Store(), None
        self.write_lock = threading.Lock()
        self.reload_lock = threading.Lock()
        self.reload()

    def reload(self):
        """Read the store again if it changed on disk (one reader at a time); wake the watches."""
        with self.reload_lock:
            try:
                info = os.stat(self.record.path(publish.STORE))
            except FileNotFoundError:
                return
            mtime = (info.st_ino, info.st_mtime_ns)  # each publication is a new file: two in one tick differ
            if mtime == self.mtime:
                return
            store = publish.load(self.record)
            with self.changed:
                self.store, self.mtime = store, mtime
                self.changed.notify_all()

    def follow(self, interval=0.5):
        """A thread that notices a republished store even without a signal."""
        def loop():
            while True:
                time.sleep(interval)
                try:
                    self.reload()
                except OSError:
                    pass
        threading.Thread(target=loop, name="store-follower", daemon=True).start()


def query_bool(value):
    """A boolean query parameter as kube-apiserver reads one: absent, ``0`` and ``false`` (any
    case) are false, anything else (``true``, ``True`` as the Python client sends it, ``1``, an
    empty value) is true."""
    return value is not None and value != "0" and value.lower() != "false"


def _parts(path):
    return [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []


class Route:
    """A resource request: the resource, its namespace, name and subresource (any may be None)."""

    def __init__(self, resource, namespace=None, name=None, sub=None):
        self.resource, self.namespace, self.name, self.sub = resource, namespace, name, sub


def route(parts):
    """A Route for the path parts of a resource URL, or None when the path names no resource."""
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    elif len(rest) >= 1 and rest[0] == "namespaces" and group == "":
        resource = kinds.find("", "v1", "namespaces")
        return Route(resource, None, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None)
    if not rest or len(rest) > 3:
        return None
    resource = kinds.find(group, version, rest[0])
    if resource is None:
        return None
    return Route(resource, namespace, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "svclab-apiserver"
    sys_version = ""
    api = None  # set on the class by serve()

    def setup(self):
        conn = self.request
        conn.settimeout(HEADER_TIMEOUT)
        self.deadline = wire.Deadline()
        self.handshake_failed = False
        if isinstance(conn, ssl.SSLSocket):
            try:
                conn.do_handshake()
            except (ssl.SSLError, OSError):
                self.handshake_failed = True
        super().setup()
        self.rfile.close()  # the socket's own reader, replaced by one that keeps the deadlines
        self.rfile = wire.reader(self.connection, self.deadline)

    def handle(self):
        """Requests until the connection closes: the first one's line and headers within
        HEADER_TIMEOUT of the connection, later ones within IDLE_TIMEOUT of the last answer and
        HEADER_TIMEOUT of their first byte."""
        if self.handshake_failed:
            return
        self.close_connection = True
        first = True
        try:
            while first or not self.close_connection:
                if first:
                    self.deadline.start(HEADER_TIMEOUT)
                else:
                    self.deadline.start(wire.IDLE_TIMEOUT, awaiting=True)
                first = False
                self.handle_one_request()
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError, ValueError):
            self.close_connection = True

    def __getattr__(self, name):  # any method token: kube answers a verb it does not serve with 405
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def parse_request(self):
        """Python's parsing, without HTTP/0.9 (a request line without a version): Go refuses it."""
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":
            self.send_error(400)
            return False
        return True

    def send_error(self, code, message=None, explain=None):
        """Go's plain answer to what is not HTTP (a bad request line, too long a line or too many
        headers), and the connection closes."""
        self.close_connection = True
        words = {400: "Bad Request", 414: "Request URI Too Long", 431: "Request Header Fields Too Large",
                 505: "HTTP Version Not Supported"}.get(code, "Bad Request")
        try:
            self.wfile.write(wire.plain_error(code if code in (414, 431, 505) else 400, words))
            self.wfile.flush()
        except OSError:
            pass

    def log_message(self, fmt, *args):  # the daemon's log stays small: errors only
        pass

    def log_error(self, fmt, *args):
        if "internal error" in fmt:
            super().log_error(fmt, *args)

    # plumbing ------------------------------------------------------------------------------
    def _send(self, code, body, content_type="application/json", headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for text in self.warnings:
            self.send_header("Warning", validation.warning_header(text))
        for k, v in headers:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, exc):
        headers = [("Retry-After", "1")] if exc.code == 429 else []
        self._send(exc.code, exc.status(), headers=headers)

    def _authenticated(self):
        conn = self.connection
        if not isinstance(conn, ssl.SSLSocket):
            return True
        try:
            return bool(conn.getpeercert())
        except (ValueError, ssl.SSLError):
            return False

    def _body(self):
        """The request's body (read once; 413 beyond kube's 3 MiB, 400 when it ends early)."""
        self.deadline.start(wire.BODY_TIMEOUT)
        try:
            data = wire.read_body(self.rfile, self.headers)
        except status.ApiError:
            self.close_connection = True  # what is left of the body is not a request
            raise
        finally:
            self.deadline.clear()
            self.connection.settimeout(wire.WRITE_TIMEOUT)  # the answer's sends, not what was left of the body's
        self.body_read = True
        return data

    def _dispatch(self):
        self.warnings, self.body_read = [], False
        self.deadline.clear()
        try:
            self.connection.settimeout(wire.WRITE_TIMEOUT)
            url = urlsplit(self.path)
            self.query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            if url.path not in PUBLIC_PATHS and not self._authenticated():
                raise status.unauthorized()
            self._route(url.path)
        except status.ApiError as exc:
            self._unread_body()
            self._error(exc)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception as exc:  # a bug: the client gets a 500 Status, the server goes on
            self.log_error("internal error on %s %s: %r", self.command, self.path, exc)
            self._unread_body()
            try:
                self._error(status.internal(f"{type(exc).__name__}: {exc}"))
            except OSError:
                self.close_connection = True
        else:
            self._unread_body()

    def _unread_body(self):
        """A body left unread is not the next request: the connection closes after the answer."""
        if not self.body_read and wire.has_body(self.headers):
            self.close_connection = True

    def do_OPTIONS(self):
        self.warnings, self.body_read = [], False
        self._unread_body()
        self._error(status.method_not_allowed())

    # routing -------------------------------------------------------------------------------
    def _route(self, path):
        parts = _parts(path)
        api = self.api
        if self.command not in ("GET", "HEAD") and not parts[:1] in (["api"], ["apis"]):
            raise status.method_not_allowed()
        if parts in (["version"],):  # written as kube-apiserver writes raw JSON: indented by two spaces
            return self._send(200, json.dumps(kinds.version_info(api.version), indent=2).encode())
        if parts in (["healthz"], ["livez"], ["readyz"]):
            return self._send(200, b"ok", "text/plain; charset=utf-8")
        if parts == ["api"]:
            return self._get_only(lambda: kinds.api_versions(api.server_address))
        if parts == ["apis"]:
            return self._get_only(kinds.api_group_list)
        if parts == ["api", "v1"]:
            return self._get_only(lambda: kinds.resource_list("", "v1"))
        if len(parts) == 2 and parts[0] == "apis" and parts[1] in kinds.GROUPS and parts[1]:
            return self._get_only(lambda: kinds.api_group(parts[1]))
        if len(parts) == 3 and parts[0] == "apis" and kinds.GROUPS.get(parts[1]) == parts[2] and parts[1]:
            return self._get_only(lambda: kinds.resource_list(parts[1], parts[2]))
        if parts == ["openapi", "v2"]:
            return self._get_only(lambda: b"", "application/octet-stream")
        if parts[:2] == ["openapi", "v3"]:
            return self._get_only(lambda: openapi.v3(api.version, "/".join(parts[2:])))
        r = route(parts)
        if r is None:
            raise status.no_such_path()
        if r.resource.namespaced is False and r.namespace is not None:
            raise status.no_such_path()
        if r.resource.namespaced and r.namespace is None and r.name is not None:  # /api/v1/pods/x is no path
            raise status.no_such_path()
        if r.sub is not None:
            return self._subresource(r)
        if self.command in ("GET", "HEAD"):
            return self._watch(r) if query_bool(self.query.get("watch")) else self._read(r)
        if self.command == "POST":
            return self._create(r)
        if self.command in ("PUT", "PATCH"):
            return self._update(r)
        if self.command == "DELETE":
            return self._delete(r)
        raise status.method_not_allowed()

    def _get_only(self, make, content_type="application/json"):
        if self.command not in ("GET", "HEAD"):
            raise status.method_not_allowed()
        body = make()
        return self._send(200, body, content_type)

    # reads ---------------------------------------------------------------------------------
    def _wants_table(self):
        return "as=Table" in self.headers.get("Accept", "")

    def _matching(self, r, store):
        return selectors.select(store.objects, r.resource, r.namespace, self.query.get("labelSelector"),
                                self.query.get("fieldSelector"))

    def _find(self, r, store):
        namespace = r.namespace if r.resource.namespaced else ""
        obj = store.objects.get(f"{r.resource.api_version}/{r.resource.kind}/{namespace or ''}/{r.name}")
        if obj is None:
            raise status.not_found(r.resource, r.name)
        return obj

    def _read(self, r):
        self.api.reload()
        store = self.api.store
        if r.name is not None:
            obj = self._find(r, store)
            if self._wants_table():
                return self._send(200, tables.table(r.resource.plural, [obj], store.resource_version, time.time()))
            return self._send(200, obj)
        items = self._matching(r, store)
        if self._wants_table():
            return self._send(200, tables.table(r.resource.plural, items, store.resource_version, time.time()))
        return self._send(200, {"kind": f"{r.resource.kind}List", "apiVersion": r.resource.api_version,
                                "metadata": {"resourceVersion": str(store.resource_version)}, "items": items})

    def _watch(self, r):
        """Chunked ``WatchEvent`` lines: ADDED for what exists (without a resourceVersion), then
        every change after the resourceVersion the list gave."""
        api = self.api
        api.reload()
        if r.name is not None:
            self.query["fieldSelector"] = ",".join(x for x in (self.query.get("fieldSelector"),
                                                               f"metadata.name={r.name}") if x)
        label_match, field_match = selectors.matchers(r.resource, self.query.get("labelSelector"),
                                                      self.query.get("fieldSelector"))
        table = self._wants_table()
        try:
            deadline = time.monotonic() + min(float(self.query.get("timeoutSeconds") or 1800), 3600)
        except ValueError:
            raise status.bad_request(f"invalid timeoutSeconds {self.query.get('timeoutSeconds')!r}") from None
        with api.changed:
            store = api.store
        since = self.query.get("resourceVersion")
        pending = []
        if since in (None, "", "0"):
            pending = [("ADDED", o) for o in self._matching(r, store)]
            last = store.resource_version
        else:
            try:
                last = int(since)
            except ValueError:
                raise status.bad_request(f"invalid resourceVersion {since!r}") from None
            oldest = store.history[0][0] if store.history else store.resource_version + 1
            if store.history and last < oldest - 1 and last < store.resource_version:
                pending = [("ERROR", status.gone(last, oldest).status())]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        prefix = f"{r.resource.api_version}/{r.resource.kind}/"
        first_table = [True]

        def wanted(obj):
            key = f"{obj.get('apiVersion')}/{obj.get('kind')}/{obj['metadata'].get('namespace', '')}/" \
                  f"{obj['metadata'].get('name')}"
            meta = obj["metadata"]
            return (key.startswith(prefix) and (r.namespace is None or meta.get("namespace") == r.namespace)
                    and label_match(meta.get("labels")) and field_match(obj))

        def send(kind, obj):
            if table and kind != "ERROR":
                obj = tables.table(r.resource.plural, [obj], obj["metadata"].get("resourceVersion", ""), time.time(),
                                   with_columns=first_table[0])
                first_table[0] = False
            data = (json.dumps({"type": kind, "object": obj}) + "\n").encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        try:
            for kind, obj in pending:
                send(kind, obj)
            if pending and pending[0][0] == "ERROR":
                return self._end_chunks()
            while time.monotonic() < deadline:
                with api.changed:
                    current = api.store
                    if current.resource_version <= last:
                        api.changed.wait(timeout=min(1.0, max(0.01, deadline - time.monotonic())))
                        current = api.store
                for rv, kind, obj in current.history:
                    if rv > last and wanted(obj):
                        send(kind, obj)
                last = max(last, current.resource_version)
                if self._peer_closed():
                    self.close_connection = True
                    return
            self._end_chunks()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def _end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _peer_closed(self):
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1) == b""
        except (OSError, ValueError, ssl.SSLError):
            return True

    # writes --------------------------------------------------------------------------------
    def _options(self):
        """(fieldValidation, dry run) of a write, checked as kube checks its Create/Update/
        PatchOptions (422 for a value it does not know)."""
        kind = OPTIONS_KINDS.get(self.command, "UpdateOptions")
        return validation.directive(self.query, kind), validation.dry_run(self.query, kind)

    def _load(self, r):
        """(object, repeated keys) of a create's or update's body."""
        return bodies.object_body(self._body(), self.headers.get("Content-Type"), r.resource)

    def _written(self, obj):
        """The object as the lab now shows it (after the change has been published)."""
        self.api.reload()
        meta = obj["metadata"]
        key = f"{obj['apiVersion']}/{obj['kind']}/{meta.get('namespace', '') if meta.get('namespace') else ''}/" \
              f"{meta['name']}"
        return self.api.store.objects.get(key, obj)

    def _writable(self, r):
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}[self.command]
        if verb not in r.resource.verbs:
            raise status.method_not_allowed()
        if r.resource.namespaced and r.namespace is None and self.command == "POST":
            raise status.no_such_path()

    def _checked(self, obj, duplicates, mode, r, patching=False):
        """The manifest to write under fieldValidation ``mode``: unknown fields refused (Strict),
        or dropped with a warning each (Warn) or silently (Ignore)."""
        prefix = "" if patching else validation.decoding_prefix(r.resource)
        cleaned, self.warnings = validation.check(obj, duplicates, mode, prefix)
        return cleaned

    def _create(self, r):
        self._writable(r)
        if r.name is not None:
            raise status.method_not_allowed()
        mode, dry = self._options()
        body, duplicates = self._load(r)
        obj = writes.check_kind(body, r.resource, r.namespace)
        with self.api.write_lock:  # the names taken and the write that takes one: one step
            self.api.reload()
            names = {o["metadata"]["name"] for o in selectors.select(self.api.store.objects, r.resource, r.namespace)}
            writes.generate_name(obj, names)
            if obj["metadata"]["name"] in names:
                raise status.already_exists(r.resource, obj["metadata"]["name"])
            manifest = self._checked(writes.as_manifest(obj), duplicates, mode, r)
            if dry:
                return self._send(201, obj)
            writes.apply(self.api.lab, r.resource, manifest)
        self._send(201, self._written(obj))

    def _update(self, r):
        self._writable(r)
        if r.name is None:
            raise status.method_not_allowed()
        mode, dry = self._options()
        if self.command == "PATCH":
            kind = bodies.patch_kind(self.headers.get("Content-Type"))
            body, duplicates = bodies.patch_body(self._body(), kind)
        else:
            kind = None
            body, duplicates = self._load(r)
        with self.api.write_lock:  # read, change and write the object as one step: no lost updates
            self.api.reload()
            try:
                live = self._find(r, self.api.store)
            except status.ApiError:
                live = None
            obj = self._changed(r, live, body, kind)
            if live is not None and writes.unchanged(live, obj):
                return self._send(200, live)
            if live is not None:
                writes.refuse_controlled_pod_change(r.resource, live)
            if live is not None:
                immutable.check(r.resource, live, obj)
            manifest = obj if live is None else \
                writes.keep_written(writes.drop_type_dependent(live, obj), live, self._written_manifest(r, live))
            manifest = self._checked(writes.as_manifest(manifest), duplicates, mode, r, patching=kind is not None)
            if dry:
                return self._send(200, obj)
            writes.apply(self.api.lab, r.resource, manifest)
        self._send(200 if live is not None else 201, self._written(obj))

    def _changed(self, r, live, body, patch_kind):
        """The object a PUT (the body) or a PATCH (the live object patched) asks for; 409 when
        it names a resourceVersion the object no longer has."""
        if patch_kind is None:
            if live is None:
                raise status.not_found(r.resource, r.name)
            obj = writes.check_kind(body, r.resource, r.namespace, r.name)
        elif live is not None:
            obj = writes.check_kind(writes.apply_patch(live, body, patch_kind), r.resource, r.namespace, r.name)
        elif patch_kind == "apply":  # server-side apply creates
            obj = writes.check_kind(bodies.typed(body, r.resource), r.resource, r.namespace, r.name)
        else:
            raise status.not_found(r.resource, r.name)
        given = obj["metadata"].get("resourceVersion")
        if live is not None and given and given != live["metadata"]["resourceVersion"]:
            raise status.conflict(r.resource, r.name)
        return obj

    def _written_manifest(self, r, live):
        """The manifest as the user last wrote it (through files, ``lab apply`` or this API): a
        change keeps what it leaves alone of that, and drops what the control plane filled in."""
        if live is None:
            return {}
        entry = self.api.store.meta.get(self._key(r, live)) or {}
        return entry.get("written") or writes.as_manifest(live)

    def _delete_options(self):
        """(DeleteOptions, dry run, grace period seconds or None) of a DELETE request."""
        options = bodies.options_body(self._body(), self.headers.get("Content-Type"))
        dry = validation.dry_run(self.query, "DeleteOptions") or options.get("dryRun") == ["All"]
        grace = options.get("gracePeriodSeconds")
        if "gracePeriodSeconds" in self.query:
            try:
                grace = int(self.query["gracePeriodSeconds"])
            except ValueError:
                raise status.bad_request(f'strconv.ParseInt: parsing "{self.query["gracePeriodSeconds"]}": '
                                         "invalid syntax") from None
        if grace is not None and not (isinstance(grace, int) and not isinstance(grace, bool) and 0 <= grace <= 3600):
            raise status.bad_request("gracePeriodSeconds must be 0 to 3600")
        return options, dry, grace

    def _delete_collection(self, r):
        """DELETE on a collection (the deletecollection verb): what a list with the same selectors
        gives is deleted object by object, as kube-apiserver's store does, and the answer is that
        list as it was listed (``PodList``...). Only a namespace's collection of a namespaced
        resource: ``/api/v1/pods`` serves list and watch alone."""
        if "deletecollection" not in r.resource.verbs or (r.resource.namespaced and r.namespace is None):
            raise status.method_not_allowed()
        _, dry, grace = self._delete_options()
        self.api.reload()
        store = self.api.store
        items = self._matching(r, store)
        listed = {"kind": f"{r.resource.kind}List", "apiVersion": r.resource.api_version,
                  "metadata": {"resourceVersion": str(store.resource_version)}, "items": items}
        if dry:
            return self._send(200, listed)
        with self.api.write_lock:
            for obj in items:
                one = Route(r.resource, obj["metadata"].get("namespace"), obj["metadata"]["name"])
                if r.resource.kind == "Pod" and grace:
                    threading.Thread(target=self._delete_pod_later, args=(one, grace), daemon=True).start()
                    continue
                try:
                    writes.delete(self.api.lab, r.resource, one.namespace, one.name)
                except status.ApiError as exc:
                    if exc.code != 404:  # gone meanwhile (a namespace's objects go with it): as upstream, fine
                        raise
        return self._send(200, listed)

    def _delete(self, r):
        if r.name is None and r.sub is None:
            return self._delete_collection(r)
        if "delete" not in r.resource.verbs or r.name is None:
            raise status.method_not_allowed()
        options, dry, grace = self._delete_options()
        self.api.reload()
        live = self._find(r, self.api.store)
        self._preconditions(r, live, options.get("preconditions"))
        if dry:
            return self._send(200, live)
        with self.api.write_lock:
            if r.resource.kind == "Pod" and grace:
                threading.Thread(target=self._delete_pod_later, args=(r, grace), daemon=True).start()
                time.sleep(0.05)
                self.api.reload()
                return self._send(200, self.api.store.objects.get(self._key(r, live), live))
            writes.delete(self.api.lab, r.resource, r.namespace, r.name)
        if r.resource.returns_deleted:  # as kube-apiserver's pod and service storage do
            return self._send(200, live)
        details = {"name": r.name}
        if r.resource.group:
            details["group"] = r.resource.group
        details.update(kind=r.resource.plural, uid=live["metadata"].get("uid"))
        return self._send(200, status.success(details))

    @staticmethod
    def _preconditions(r, live, preconditions):
        """DeleteOptions.preconditions: the uid and resourceVersion the object must still have."""
        if not isinstance(preconditions, dict):
            return
        for field, name in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            wanted, have = preconditions.get(field), live["metadata"].get(field)
            if wanted is not None and wanted != have:
                raise status.conflict(r.resource, r.name, f"Precondition failed: {name} in precondition: {wanted}, "
                                      f"{name} in object meta: {have}")

    def _key(self, r, live):
        meta = live["metadata"]
        return f"{r.resource.api_version}/{r.resource.kind}/{meta.get('namespace', '')}/{meta['name']}"

    def _delete_pod_later(self, r, grace):
        try:
            writes.delete(self.api.lab, r.resource, r.namespace, r.name, grace)
        except status.ApiError:
            pass

    # subresources --------------------------------------------------------------------------
    def _subresource(self, r):
        if r.sub == "status" and self.command in ("GET", "HEAD"):
            return self._read(Route(r.resource, r.namespace, r.name))
        if r.sub == "scale" and any(s[0] == "scale" for s in r.resource.subresources):
            return self._scale(r)
        if r.sub in ("exec", "attach", "portforward", "log", "proxy"):
            from lab.api import streams  # exec, logs and port-forward: their own module
            return streams.handle(self, r)
        raise status.no_such_path()

    def _scale(self, r):
        if self.command in ("GET", "HEAD"):
            self.api.reload()
            return self._send(200, _scale_of(self._find(Route(r.resource, r.namespace, r.name), self.api.store)))
        if self.command not in ("PUT", "PATCH"):
            raise status.method_not_allowed()
        _, dry = self._options()
        if self.command == "PATCH":
            kind = bodies.patch_kind(self.headers.get("Content-Type"))
            body = bodies.patch_body(self._body(), kind)[0]
        else:
            kind, body = None, bodies.object_body(self._body(), self.headers.get("Content-Type"), SCALE)[0]
        with self.api.write_lock:
            self.api.reload()
            live = self._find(Route(r.resource, r.namespace, r.name), self.api.store)
            new = writes.apply_patch(_scale_of(live), body, kind) if kind else body
            replicas = (new.get("spec") or {}).get("replicas") if isinstance(new.get("spec"), dict) else None
            if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool)):
                raise status.bad_request(f'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal '
                                         f"{type(replicas).__name__} into Go struct field ScaleSpec.spec.replicas of "
                                         "type int32")
            replicas = replicas or 0
            if not 0 <= replicas <= 1000:
                rule = "must be greater than or equal to 0" if replicas < 0 else \
                    "must be less than or equal to 1000 (svclab's limit)"
                raise status.invalid("Scale", r.name, [("spec.replicas", f"Invalid value: {replicas}: {rule}")],
                                     "autoscaling")
            if dry:
                return self._send(200, dict(_scale_of(live), spec={"replicas": replicas}))
            manifest = writes.as_manifest(self._written_manifest(r, live))
            manifest.setdefault("spec", {})["replicas"] = replicas
            writes.apply(self.api.lab, r.resource, manifest)
        self.api.reload()
        self._send(200, _scale_of(self._find(Route(r.resource, r.namespace, r.name), self.api.store)))


SCALE = kinds.Resource("autoscaling", "v1", "scale", "scale", "Scale")


def _scale_of(obj):
    meta = obj["metadata"]
    selector = obj.get("spec", {}).get("selector", {}).get("matchLabels", {})
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))}}


class TLSServer(http.server.ThreadingHTTPServer):
    """One listening socket's connections, each on a thread of its own, as many at once as
    ``slots`` allows (the others are closed as they come)."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, sock, context, slots):
        self.context, self.slots = context, slots
        super().__init__(sock.getsockname()[:2], Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock

    def get_request(self):
        conn, addr = self.socket.accept()
        # headers and body go out as two writes: with Nagle on, a small body waits for the
        # client's delayed ACK of the headers, 40 ms on every short answer
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.context is not None:
            conn = self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, addr

    def process_request(self, request, client_address):
        if not self.slots.take():
            wire.close_quietly(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.give_back()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.give_back()

    def handle_error(self, request, client_address):  # a connection's failure is that connection's
        pass


def tls_context(pki_paths):
    from lab.api import pki
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pki_paths[pki.SERVER])
    context.load_verify_locations(pki_paths[pki.CA][0])
    context.verify_mode = ssl.CERT_OPTIONAL
    context.set_alpn_protocols(["http/1.1"])
    return context


def serve(api, sockets, context, thread_netns=None, limit=wire.MAX_CONNECTIONS):
    """Serve every socket of ``sockets`` (listening already) from threads of their own, at most
    ``limit`` connections at once over all of them; these threads (with those they start for each
    connection) work in the namespace file ``thread_netns``."""
    Handler.api = api
    slots = wire.Slots(limit)
    servers = [TLSServer(sock, context, slots) for sock in sockets]

    def run(srv):
        if thread_netns:
            fd = os.open(thread_netns, os.O_RDONLY)
            netns.setns_fd(fd)  # this thread only: the process stays in its own namespace
            os.close(fd)
        srv.serve_forever()
    for srv in servers:
        threading.Thread(target=run, args=(srv,), name=f"api-{srv.server_address}", daemon=True).start()
    return servers
