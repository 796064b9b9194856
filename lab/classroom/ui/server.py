"""``lab ui``'s edge: a poller that reads the lab as it is now (its cluster state, each node's
rules with their counters, the running exercise) a few times a second, and the standard library's
threading HTTP server on 127.0.0.1 that hands it to the page as server-sent events.

Every request must carry the token printed in the URL (``?token=``), else 403: another user of
the machine can reach 127.0.0.1 but cannot read the URL. The reset button keeps a baseline of the
counters in memory (zeroing them, ``iptables -Z``, would also zero them for ``iptables-save -c``,
``lab explain`` readers and a second ``lab ui``), and stopping the server (Ctrl-C, SIGTERM) closes
its socket and its threads; the commands it runs (``iptables-save -c``, ``nft``, ``dot``) each end
before the next poll.

In iptables mode nothing is written anywhere. In nftables mode the one thing written is lab ui's
counting table (lab.classroom.ui.nftcount), in each node's namespace only (never the host's): made
at the first poll that finds it missing (a node made again gets it again), deleted when the
server stops; after a crash it goes with the node's namespace at ``lab down``, or is deleted by
the next ``lab ui`` on the lab (its process is gone).
"""

import hmac
import http.server
import json
import os
import secrets
import threading
import time
import urllib.parse

from lab.classroom import diagram
from lab.classroom.exercise import catalog, runner
from lab.classroom.ui import counters, nftcount, page, snapshot
from lab.cluster import codec
from lab.errors import LabError
from lab.kernel import commands, record
from lab.proxy import modes

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 10
READ_TIMEOUT = 5


class Watcher:
    """The lab's state as the page shows it, read again every ``POLL_SECONDS``; ``version`` goes
    up when anything the page shows changed, and waiters on ``changed`` are woken."""

    def __init__(self, lab, include_system=False):
        self.lab, self.include_system = lab, include_system
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.version, self.state_json = 0, "{}"
        self.svg, self.svg_version, self._dot = "", 0, None
        self._cluster_text, self._layout_key, self._layout = None, None, []
        self._counts, self.baseline, self.reset_at = {}, {}, None
        self._exercise, self._grade, self._checking, self._check_error = None, None, False, None
        self._lock = threading.Lock()
        self.table = nftcount.table_name(os.getpid())  # nftables mode's counting table
        self._tables = set()  # the node namespaces where this process made it
        self._swept = False

    # reading the lab ---------------------------------------------------------------------
    def _rules(self, cluster):
        mode = modes.of(cluster)
        argv = ["iptables-save", "-c"] if mode is modes.IPTABLES else list(mode.readback)
        rulesets, counts, texts, problems = {}, {}, [], []
        for node in cluster.nodes:
            done = commands.run(argv, node.netns, timeout=READ_TIMEOUT, check=False)
            if done.returncode != 0 and not (mode.readback_fails_when_empty and not done.stdout):
                problems.append(f"{node.name}: {' '.join(argv)} failed ({done.stderr.strip()[:120]})")
                continue
            if mode is modes.IPTABLES:
                plain, counts[node.name] = counters.read_iptables_counters(done.stdout)
            else:
                plain = done.stdout
                found = self._connections(node, problems)
                if found is not None:
                    counts[node.name] = found
            texts.append(plain)
            rulesets[node.name] = (plain, mode)
        return rulesets, counts, texts, problems

    def _connections(self, node, problems):
        """nftables: the node's elements of lab ui's table, the table made first where it is missing."""
        if not node.netns:  # never the host's ruleset
            problems.append(f"{node.name}: no network namespace recorded; not counted")
            return None
        listed = commands.run(nftcount.list_argv(self.table), node.netns, timeout=READ_TIMEOUT, check=False)
        if listed.returncode == 0:
            return nftcount.read_elements(listed.stdout)
        made = commands.run(["nft", "-f", "-"], node.netns, input=nftcount.table_text(self.table),
                            timeout=READ_TIMEOUT, check=False)
        if made.returncode != 0:
            problems.append(f"{node.name}: cannot add table ip {self.table} ({made.stderr.strip()[:120]})")
            return None
        self._tables.add(node.netns)
        return {}

    def sweep(self, cluster):
        """Delete the counting tables of ``lab ui`` processes that are gone (killed before they could)."""
        if self._swept or modes.of(cluster) is not modes.NFTABLES:
            return
        self._swept = True
        for node in cluster.nodes:
            if not node.netns:
                continue
            listed = commands.run(["nft", "list", "tables"], node.netns, timeout=READ_TIMEOUT, check=False)
            for name, pid in nftcount.ui_tables(listed.stdout):
                if pid != os.getpid() and not _alive(pid):
                    commands.run(nftcount.delete_argv(name), node.netns, timeout=READ_TIMEOUT, check=False)

    def remove_tables(self):
        """Delete this process's counting table from every node it was added to."""
        for netns in sorted(self._tables):
            commands.run(nftcount.delete_argv(self.table), netns, timeout=READ_TIMEOUT, check=False)
            self._tables.discard(netns)

    @property
    def added_table(self):
        """The counting table's name while it is in some node, else None."""
        return self.table if self._tables else None

    def _counted_from(self, cluster):
        if modes.of(cluster) is modes.IPTABLES:
            return ("Counted by the kernel: the packet counters of each node's nat rules "
                    "(ip netns exec NODE iptables-save -c); hover a row for its rules.")
        return (f"Counted by the kernel: kube-proxy's nft rules carry no counters, so while lab ui runs each "
                f"node has one extra table, lab ui's own: table ip {self.table} (ip netns exec NODE nft list "
                f"table ip {self.table}), whose counters count the new connections kube-proxy's rules DNAT, by "
                "where they were sent and where they went. kube-proxy's table is left as it is; lab ui's goes "
                "when lab ui stops. Hover a row for kube-proxy's rules.")

    def poll(self):
        lab_record = record.Record.load(self.lab)
        cluster = lab_record.load_cluster() if lab_record else None
        if cluster is None:
            return self._publish(json.dumps({"lab": self.lab, "down": True, "traffic": [], "problems": []}))
        self.sweep(cluster)
        text = codec.dumps(cluster)
        if text != self._cluster_text:
            self._cluster_text = text
            dot_text = snapshot.scene_svg_input(cluster, self.include_system)
            if dot_text != self._dot:
                svg = diagram.render_with_dot(dot_text, "svg").decode()
                self.svg, self._dot = svg[svg.find("<svg"):], dot_text
                self.svg_version += 1
        rulesets, counts, texts, problems = self._rules(cluster)
        key = (text, tuple(texts))
        if key != self._layout_key:
            parsed = {name: mode.parse(plain) for name, (plain, mode) in rulesets.items()}
            self._layout, self._layout_key = counters.layout(cluster, parsed, self.include_system), key
        with self._lock:
            self._counts = counts
            traffic = counters.tally(self._layout, counts, self.baseline)
        state = snapshot.page_state(cluster, traffic, self._counted_from(cluster), self._exercise_view(),
                                    self.reset_at, self.include_system, problems)
        self._publish(json.dumps(state, sort_keys=True))

    def _publish(self, state_json):
        with self.changed:
            if state_json != self.state_json:
                self.state_json = state_json
                self.version += 1
                self.changed.notify_all()

    def run(self):
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                self.poll()
            except LabError as exc:
                self._publish(json.dumps({"lab": self.lab, "down": False, "traffic": [], "problems": [str(exc)]}))
            self.stopping.wait(max(0.05, POLL_SECONDS - (time.monotonic() - started)))

    def stop(self):
        self.stopping.set()
        with self.changed:
            self.changed.notify_all()

    def message(self, svg_version):
        """(version, the event's JSON text): the SVG only when the page's is not ``svg_version``."""
        with self.changed:
            svg = json.dumps(self.svg) if svg_version != self.svg_version else "null"
            return self.version, (f'{{"svg_version": {self.svg_version}, "svg": {svg}, '
                                  f'"state": {self.state_json}}}'), self.svg_version

    # the buttons -------------------------------------------------------------------------
    def reset(self):
        with self._lock:
            self.baseline = counters.baseline_of(self._layout, self._counts)
            self.reset_at = time.time()

    def _exercise_view(self):
        p = runner.progress(self.lab)
        if p is None:
            self._exercise = None
            return None
        if self._exercise is None or self._exercise[0] != p.get("exercise"):
            try:
                exercise = runner.load_running(p)
                task = catalog.task_text(exercise)
            except (LabError, OSError) as exc:
                return snapshot.exercise_view(p.get("exercise"), "", "", (), error=str(exc))
            self._exercise, self._grade = (p.get("exercise"), exercise, task), None
        _, exercise, task = self._exercise
        return snapshot.exercise_view(exercise.name, exercise.title, task, [c.name for c in exercise.checks],
                                      self._grade, self._checking, self._check_error)

    def check(self):
        """Grade the running exercise in the background (its checks send real traffic)."""
        with self._lock:
            if self._checking or runner.progress(self.lab) is None:
                return
            self._checking = True
        threading.Thread(target=self._grade_now, daemon=True).start()

    def _grade_now(self):
        try:
            _, self._grade = runner.check(self.lab, runner.progress(self.lab))
            self._check_error = None
        except LabError as exc:
            self._check_error = str(exc)
        finally:
            self._checking = False


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "svclab-ui"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # a classroom's terminal stays quiet
        pass

    def _allowed(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        given = (query.get("token") or [""])[0]
        if hmac.compare_digest(given.encode(), self.server.token.encode()):
            return True
        self._send(403, "text/plain", b"403: this page needs the token of the URL lab ui printed\n")
        return False

    def _send(self, code, ctype, body, headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if not self._allowed():
            return
        route = urllib.parse.urlsplit(self.path).path
        watcher = self.server.watcher
        if route == "/":
            nonce = secrets.token_urlsafe(12)
            body = page.render(watcher.lab, self.server.token, nonce).encode()
            self._send(200, "text/html; charset=utf-8", body,
                       [("Content-Security-Policy", page.CSP.format(nonce=nonce)), ("Referrer-Policy", "no-referrer")])
        elif route == "/state":
            self._send(200, "application/json", watcher.message(None)[1].encode())
        elif route == "/events":
            self._events(watcher)
        else:
            self._send(404, "text/plain", b"404\n")

    def do_POST(self):
        if not self._allowed():
            return
        route = urllib.parse.urlsplit(self.path).path
        if route == "/reset":
            self.server.watcher.reset()
        elif route == "/check":
            self.server.watcher.check()
        else:
            return self._send(404, "text/plain", b"404\n")
        self._send(204, "text/plain", b"")

    def _events(self, watcher):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.close_connection = True
        seen, svg_version = -1, -1
        try:
            while not watcher.stopping.is_set():
                with watcher.changed:
                    watcher.changed.wait_for(lambda: watcher.version != seen or watcher.stopping.is_set(),
                                             timeout=KEEPALIVE_SECONDS)
                if watcher.stopping.is_set():
                    break
                if watcher.version == seen:
                    self.wfile.write(b": keepalive\n\n")
                else:
                    seen, text, svg_version = watcher.message(svg_version)
                    self.wfile.write(b"data: " + text.encode() + b"\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, watcher, port):
        self.watcher, self.token = watcher, secrets.token_urlsafe(24)
        try:
            super().__init__(("127.0.0.1", port), _Handler)
        except OSError as exc:
            raise LabError(f"--port {port}: cannot listen on 127.0.0.1:{port} ({exc.strerror}); choose another "
                           "port, or leave --port out for a free one") from None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/?token={self.token}"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        pass
    return True


def serve(lab, port=0, include_system=False, ready=print):
    """Serve until Ctrl-C (or SIGTERM, which the caller turns into KeyboardInterrupt); ``ready``
    gets the lab, the URL and the name of the counting table added to the nodes (or None)."""
    lab = record.find_running(lab)[0].lab
    watcher = Watcher(lab, include_system)
    server = poller = None
    try:
        watcher.poll()  # a broken lab fails here, before any URL is printed
        server = Server(watcher, port)
        watcher.check()  # which of the running exercise's checks pass now, if one runs
        poller = threading.Thread(target=watcher.run, name="lab-ui-poller", daemon=True)
        poller.start()
        ready(lab, server.url, watcher.added_table)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
        if server is not None:
            server.server_close()
        if poller is not None:
            poller.join(timeout=READ_TIMEOUT + 1)
        watcher.remove_tables()
