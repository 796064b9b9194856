"""``lab ui`` on a running seed lab, in a real browser (headless Chromium through chromedriver):
served on 127.0.0.1 behind its token, the page's counts equal to the kernel's (``iptables-save -c``)
after 100 curls to a NodePort, the reset, the rule on hover, a deleted pod gone from the page, no
request leaving 127.0.0.1, a node going down and coming back, and Ctrl-C leaving nothing behind. In nftables mode the same counts
come from lab ui's own table in each node (equal to its counters, kube-proxy's table untouched,
the table gone when lab ui stops, or at the next lab ui after a crash). A running exercise: its
task and checks on the page, the reference fix, the re-run button, the checks passed."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

import browser
from factories import ROOT, SEED_NODE_IPS, SEED_POD_MASTER, SEED_POD_NODE2, SEED_PODS, assert_refused, \
    exercise_folders, lab_fixture, run_lab, unique_lab_name
from lab.classroom.exercise import catalog, runner
from lab.kernel import record
from lab.live import down

pytestmark = pytest.mark.skipif(not browser.available(), reason="needs chromium and chromium-driver (./setup)")

seed = lab_fixture("seed.yml", "ui")
nft = lab_fixture("nodeport-nft.yml", "uin")
NODE_PORT = 30090


def start_ui(lab, *args):
    name = lab if isinstance(lab, str) else lab.name
    proc = subprocess.Popen([sys.executable, "-m", "lab", "ui", "--lab", name, *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", line)
    if not m:
        proc.kill()
        raise AssertionError(f"lab ui printed {line!r}; stderr {proc.stderr.read()}")
    return proc, m.group(0), int(m.group(1))


def stop_ui(proc):
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=10)


@pytest.fixture(scope="module")
def ui(seed):
    proc, url, port = start_ui(seed)
    try:
        yield url, port
    finally:
        stop_ui(proc)


def status(url, method="GET"):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def kernel_counts(lab):
    """From iptables-save -c in each node: {pod IP:port: DNAT packets summed over nodes} for
    nodeport-svc, and {node: packets of its NodePort rule}, read here independently of lab.ui."""
    dnat, node_port = {}, {}
    for node in SEED_NODE_IPS:
        text = lab.ip_netns_exec(node, "iptables-save", "-c", "-t", "nat").stdout
        for line in text.splitlines():
            m = re.match(r"\[(\d+):\d+\] (-A .*)", line)
            if not m or '"default/nodeport-svc:"' not in line:
                continue
            to = re.search(r"-j DNAT --to-destination (\S+)", line)
            if to:
                dnat[to.group(1)] = dnat.get(to.group(1), 0) + int(m.group(1))
            elif m.group(2).startswith("-A KUBE-NODEPORTS") and "-j KUBE-SVC-" in line:
                node_port[node] = int(m.group(1))
    return dnat, node_port


SERVICE = '[data-role=service][data-service="default/nodeport-svc"]'
READ_BACKENDS = (f"return [...document.querySelectorAll('{SERVICE} [data-role=backend]')]"
                 ".map(e => [e.dataset.address, e.dataset.pod, e.querySelector('[data-role=count]').textContent])")
PATH_COUNT = (f"[...document.querySelectorAll('{SERVICE} [data-role=path]')]"
              ".filter(e => e.dataset.address === arguments[0])"
              ".map(e => e.querySelector('[data-role=count]').textContent)[0]")
READ_PATH = "return " + PATH_COUNT


def page_counts(b):
    return {address: (pod, int(count)) for address, pod, count in b.run(READ_BACKENDS)}


def test_loopback_only_behind_the_token(seed, ui):
    url, port = ui
    base = f"http://127.0.0.1:{port}"
    for path, method in (("/", "GET"), ("/events", "GET"), ("/state", "GET"), ("/reset", "POST"),
                         ("/check", "POST"), ("/?token=guess", "GET"), ("/state?token=", "GET")):
        assert status(base + path, method)[0] == 403, path
    code, headers = status(url)
    assert code == 200
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout.split()
    assert "127.0.0.1:%d" % port in listening and f"0.0.0.0:{port}" not in listening and f"*:{port}" not in listening


def test_bad_port_is_refused(seed, ui):
    assert_refused(run_lab("ui", "--lab", seed.name, "--port", "70000", check=False), "--port 70000")
    assert_refused(run_lab("ui", "--lab", seed.name, "--port", str(ui[1]), check=False), f"--port {ui[1]}", "in use")


def test_the_page_counts_what_the_kernel_counts(seed, ui, tmp_path):
    url, _ = ui
    node1 = SEED_NODE_IPS["node1"]
    path_address = f"{node1}:{NODE_PORT}/TCP"
    with browser.Browser() as b:
        b.open(url)
        b.wait_for("return document.querySelectorAll('#diagram svg').length && "
                   "document.querySelectorAll('[data-role=backend]').length === 2")
        before, before_paths = kernel_counts(seed)
        shown_before = int(b.run(READ_PATH, path_address))

        done = seed.exec("client", "sh", "-c", f"for i in $(seq 100); do curl -s -o /dev/null -m 2 "
                                                f"http://{node1}:{NODE_PORT}/ || echo failed; done", timeout=120)
        assert "failed" not in done.stdout
        # the page follows within a second; then it shows what the kernel counts
        started = time.monotonic()
        b.wait_for(f"return {PATH_COUNT} === String(arguments[1])", 5,
                   path_address, shown_before + 100)
        followed = time.monotonic() - started
        after, after_paths = kernel_counts(seed)
        assert after_paths["node1"] - before_paths["node1"] == 100
        assert int(b.run(READ_PATH, path_address)) == after_paths["node1"]
        shown = page_counts(b)
        assert {address: count for address, (_, count) in shown.items()} == after
        assert {address: pod for address, (pod, _) in shown.items()} == \
            {f"{ip}:8080": name for name, (ip, _) in SEED_PODS.items()}
        assert sum(after[a] - before[a] for a in after) == 100
        assert all(20 <= after[a] - before[a] <= 80 for a in after), (before, after)  # both pods get a share
        assert followed < 2, followed

        # the rule a count comes from, on hover, named as lab explain names it
        pod_ip = SEED_PODS[SEED_POD_MASTER][0]
        b.hover(f'[data-role=backend][data-address="{pod_ip}:8080"]')
        tip = b.wait_for("const t = document.getElementById('tip'); "
                         "return t.style.display === 'block' && t.textContent")
        assert f"-j DNAT --to-destination {pod_ip}:8080" in tip
        assert f"default/nodeport-svc: -> {SEED_POD_MASTER} {pod_ip}:8080" in tip
        assert "node1: " in tip
        # the pod's box in the picture carries its count and share
        overlay = b.run("return [...document.querySelectorAll('[data-role=pod-count]')].map(e => e.textContent)")
        assert any(f"{after[pod_ip + ':8080']} new conn." in o for o in overlay), overlay
        b.hover(f'[data-role=path][data-address="{path_address}"]')
        assert "-A KUBE-NODEPORTS" in b.wait_for("return document.getElementById('tip').textContent")
        shot = os.environ.get("SVCLAB_UI_SCREENSHOT") or str(tmp_path / "ui.png")
        b.screenshot(shot)
        with open(shot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"

        # reset: the page starts again from 0, the kernel's counters are left as they are
        b.click("#reset")
        b.wait_for(f"return {PATH_COUNT} === '0'", 5, path_address)
        assert set(c for _, c in page_counts(b).values()) == {0}
        assert kernel_counts(seed) == (after, after_paths)

        # a deleted pod leaves the page (the picture and the endpoints), its replacement comes
        started = time.monotonic()
        run_lab("delete", "pod", SEED_POD_NODE2, "--lab", seed.name)
        deleted = time.monotonic() - started
        b.wait_for("return !document.querySelector('#diagram svg').textContent.includes(arguments[0]) && "
                   "document.querySelectorAll('[data-role=backend]').length === 2 && "
                   "![...document.querySelectorAll('[data-role=backend]')].some(e => e.dataset.pod === arguments[0])",
                   5, SEED_POD_NODE2)
        gone = time.monotonic() - started
        # lab delete returns once the lab has followed (endpoints, rules); the page lags it little
        assert gone - deleted < 2, (gone, deleted)
        print(f"page followed 100 curls in {followed:.2f} s, a deleted pod {gone - deleted:.2f} s after "
              f"lab delete returned ({deleted:.2f} s)")

        # every request of the browser went to lab ui (chrome:// and data: are the browser's own)
        urls = [u for u in b.requested_urls() if not u.startswith(("chrome:", "data:", "about:", "blob:"))]
        assert urls and all(u.startswith(url.split("?")[0]) for u in urls), urls
        assert any("/events?token=" in u for u in urls) and any("/reset?token=" in u for u in urls), urls


def test_a_node_that_goes_down_and_comes_back(seed, ui):
    url, _ = ui
    title = "node node2 ("
    not_ready = "return [...document.querySelectorAll('#diagram svg text')].some(t => t.textContent.startsWith(arguments[0]) && t.textContent.endsWith('NotReady'))"
    with browser.Browser() as b:
        b.open(url)
        b.wait_for("return document.querySelectorAll('#diagram svg').length")
        assert not b.run(not_ready, title)
        started = time.monotonic()
        run_lab("node", "down", "node2", "--grace", "0", "--lab", seed.name)
        returned = time.monotonic() - started
        b.wait_for(not_ready, 5, title)
        down_lag = time.monotonic() - started - returned
        started = time.monotonic()
        run_lab("node", "up", "node2", "--lab", seed.name)
        returned = time.monotonic() - started
        b.wait_for("return !(" + not_ready[len("return "):] + ")", 5, title)
        up_lag = time.monotonic() - started - returned
        assert down_lag < 1.5 and up_lag < 1.5, (down_lag, up_lag)
        print(f"page followed node down in {down_lag:.2f} s, node up in {up_lag:.2f} s after the command returned")


def test_ctrl_c_leaves_nothing(seed):
    proc, url, port = start_ui(seed)
    with urllib.request.urlopen(url.replace("/?", "/events?"), timeout=5) as events:  # a page connected
        assert events.readline().startswith(b"data: ")
        started = time.monotonic()
        assert stop_ui(proc) == 0
        assert time.monotonic() - started < 3
    assert "stopped" in proc.stderr.read()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True).stdout
    assert children.strip() == ""


# nftables mode: lab ui's own counting table ------------------------------------------------------

NODES = ("master", "node1", "node2")


def tables(lab, node):
    return lab.ip_netns_exec(node, "nft", "list", "tables").stdout.split("\n")


def ui_table_counts(lab, table):
    """From ``nft -j list set`` of lab ui's table in each node, read here: {(node, sent to, DNATed to): packets}."""
    out = {}
    for node in NODES:
        listed = json.loads(lab.ip_netns_exec(node, "nft", "-j", "list", "set", "ip", table, "conns").stdout)
        for item in listed["nftables"]:
            for elem in item.get("set", {}).get("elem", []):
                dst, proto, port, to, to_port = elem["elem"]["val"]["concat"]
                out[(node, f"{dst}:{port}/{proto.upper()}", f"{to}:{to_port}")] = elem["elem"]["counter"]["packets"]
    return out


def test_nftables_counts_in_a_table_of_its_own(nft):
    kube_proxy = {n: nft.ip_netns_exec(n, "nft", "list", "table", "ip", "kube-proxy").stdout for n in NODES}
    cluster = record.Record.load(nft.name).load_cluster()
    pods = {f"{p.ip}:8080": p.name for p in cluster.pods if p.name.startswith("pod-nodeport-")}
    node1 = next(str(n.ip) for n in cluster.nodes if n.name == "node1")
    path_address = f"{node1}:{NODE_PORT}/TCP"
    proc, url, _ = start_ui(nft)
    table = f"svclab-ui-{proc.pid}"
    try:
        assert f"table ip {table}" in proc.stdout.readline()
        for n in NODES:
            assert f"table ip {table}" in tables(nft, n)
        host = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert "svclab-ui" not in host
        with browser.Browser() as b:
            b.open(url)
            b.wait_for("return document.querySelectorAll('[data-role=backend]').length === 2 && "
                       "document.getElementById('counted').textContent.includes(arguments[0])", 10, f"table ip {table}")
            shown_before = int(b.run(READ_PATH, path_address))
            done = nft.exec("client", "sh", "-c", f"for i in $(seq 100); do curl -s -o /dev/null -m 2 "
                                                  f"http://{node1}:{NODE_PORT}/ || echo failed; done", timeout=120)
            assert "failed" not in done.stdout
            b.wait_for(f"return {PATH_COUNT} === String(arguments[1])", 5, path_address, shown_before + 100)
            counted = ui_table_counts(nft, table)
            assert sum(n for (node, sent, _), n in counted.items() if node == "node1" and sent == path_address) == \
                shown_before + 100
            assert int(b.run(READ_PATH, path_address)) == shown_before + 100
            shown = page_counts(b)
            per_pod = {a: sum(n for (_, _, to), n in counted.items() if to == a) for a in pods}
            assert {a: c for a, (_, c) in shown.items()} == per_pod
            assert {a: pod for a, (pod, _) in shown.items()} == pods
            assert all(20 <= n <= 80 for n in per_pod.values()), per_pod  # both pods get a share
            # on hover: kube-proxy's rule that made the DNAT, named as lab explain names it
            address, pod = sorted(pods.items())[0]
            b.hover(f'[data-role=backend][data-address="{address}"]')
            tip = b.wait_for("const t = document.getElementById('tip'); "
                             "return t.style.display === 'block' && t.textContent")
            assert f"meta l4proto tcp dnat to {address}" in tip
            assert f"default/nodeport-svc/tcp/ -> pod {pod} {address}" in tip
            assert f"lab ui's table (set conns): new connections to this service port DNATed to {address}" in tip
            b.hover(f'[data-role=path][data-address="{path_address}"]')
            assert "vmap @service-nodeports" in b.wait_for("return document.getElementById('tip').textContent")
        # kube-proxy's table was left as it was (its elements and rules; it has no counters)
        assert {n: nft.ip_netns_exec(n, "nft", "list", "table", "ip", "kube-proxy").stdout for n in NODES} == kube_proxy
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    for n in NODES:
        assert not any("svclab-ui" in t for t in tables(nft, n)), n


def test_a_crashed_ui_s_table_goes_at_the_next(nft):
    proc, _, _ = start_ui(nft)
    proc.kill()  # no chance to clean up
    proc.wait(timeout=10)
    stale = f"table ip svclab-ui-{proc.pid}"
    assert all(stale in tables(nft, n) for n in NODES)
    again, _, _ = start_ui(nft)
    try:
        assert all(stale not in tables(nft, n) and f"table ip svclab-ui-{again.pid}" in tables(nft, n) for n in NODES)
    finally:
        assert stop_ui(again) == 0
    assert not any("svclab-ui" in t for n in NODES for t in tables(nft, n))


# the running exercise -----------------------------------------------------------------------------

READ_CHECKS = ("return [...document.querySelectorAll('#exercise [data-role=check]')]"
               ".map(e => [e.children[1].textContent, e.dataset.passed])")


def test_the_running_exercise_and_its_re_run_button():
    folder = next(f for f in exercise_folders()[0] if os.path.basename(f).startswith("01-"))
    ex = catalog.load(folder)
    lab = unique_lab_name("uix")
    proc = None
    try:
        runner.start(ex, lab, out=io.StringIO())
        proc, url, _ = start_ui(lab)
        with browser.Browser() as b:
            b.open(url)
            # the checks lab ui ran at its start, each passed or failed (none pending)
            first = b.wait_for(f"const c = (() => {{ {READ_CHECKS} }})(); "
                               "return c.length && c.every(x => x[1] !== 'null') && "
                               "!document.getElementById('recheck').disabled && c", 30)
            assert [name for name, _ in first] == [c.name for c in ex.checks]
            assert "false" in [passed for _, passed in first], first  # the exercise starts broken
            assert b.run("return document.querySelector('#exercise h2').textContent") == \
                f"Exercise {ex.name}: {ex.title}"
            task = b.run("return document.querySelector('#exercise pre.task').textContent")
            assert task.strip() == catalog.task_text(ex).strip()

            runner.solve(lab, ex)  # the reference fix, as the exercise tests apply it
            b.click("#recheck")
            b.wait_for("return document.getElementById('recheck').disabled || "
                       "[...document.querySelectorAll('#exercise [data-role=check]')]"
                       ".every(e => e.dataset.passed === 'true')", 5)
            after = b.wait_for(f"const c = (() => {{ {READ_CHECKS} }})(); "
                               "return c.every(x => x[1] === 'true') && c", 30)
            assert [name for name, _ in after] == [c.name for c in ex.checks]
            assert "solved" in b.run("return document.querySelector('#exercise [data-role=score]').textContent")
            assert b.run("return document.querySelectorAll('#exercise .fail').length") == 0
    finally:
        if proc is not None:
            stop_ui(proc)
        down.down(lab)
    assert record.Record.load(lab) is None
