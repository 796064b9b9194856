"""The lab's API server survives garbage (issue 17, item 6): over a thousand malformed requests from
a fixed seed (bad JSON, bodies over 3 MiB, chunked bodies, wrong and absent content types, invalid
UTF-8, deep nesting, huge numbers, path tricks, long paths and headers, unknown verbs and HTTP
versions, no client certificate, bytes that are not TLS), half requests that stop mid-headers or
mid-body, and more connections at once than it serves. Every answer is HTTP and kube-shaped (no
InternalError), the half requests are cut off by the server's deadlines, its threads stay bounded,
and afterwards the same API server process (memory bounded) still answers ``kubectl get pods``,
with nothing in the lab changed."""

import concurrent.futures
import json
import os
import random
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from factories import (ApiClient, SEED_PODS, api_server_pid, lab_fixture, node_rules, process_memory,
                       process_threads)
from lab.api import wire

fuzz_lab = lab_fixture("seed.yml", "fz")

SEED = 20260117
NS = "/api/v1/namespaces/default"
MIB = 1024 * 1024
# what a refused request may be answered with: kube's codes (500 only without a reason: kube's plain errors)
CODES = {200, 201, 400, 401, 404, 405, 409, 413, 414, 415, 422, 431, 500, 501, 505}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fuzz"},
           "spec": {"selector": {"app": "myapp"}, "ports": [{"port": 80, "targetPort": 8080}]}}
WRITE_PATHS = [("POST", f"{NS}/services"), ("POST", f"{NS}/configmaps"), ("POST", "/apis/apps/v1/namespaces/default/"
                                                                                  "deployments"),
               ("PUT", f"{NS}/services/nodeport-svc"), ("PATCH", f"{NS}/services/nodeport-svc"),
               ("PATCH", "/apis/apps/v1/namespaces/default/deployments/pod-nodeport"),
               ("PATCH", "/apis/apps/v1/namespaces/default/deployments/pod-nodeport/scale"),
               ("DELETE", f"{NS}/services/nosuch")]
HALF_REQUESTS = 24


# requests ------------------------------------------------------------------------------------------

def http(method, path, body=b"", headers=(), version="HTTP/1.1", length=True):
    lines = [f"{method} {path} {version}", "Host: 127.0.0.1", "Connection: close", *headers]
    if length and body is not None and not any(h.lower().startswith(("content-length", "transfer-encoding"))
                                               for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + (body or b"")


def broken_json(rng):
    """A Service's JSON, broken so that no JSON parser takes it."""
    text = json.dumps(SERVICE)
    while True:
        how = rng.randrange(3)
        pos = rng.randrange(1, len(text))
        if how == 0:
            candidate = text[:pos]
        elif how == 1:
            candidate = text[:pos] + rng.choice("{}[],:\"\\x#'") + text[pos + 1:]
        else:
            candidate = text[:pos] + rng.choice(["\x00", "}}", ",,", "NaN", "\"\"", "\\u12", "'"]) + text[pos:]
        try:
            json.loads(candidate)
        except ValueError:
            return candidate.encode()


def chunked(body, sizes):
    """``body`` in chunks of ``sizes`` (the rest in one more), then the last chunk."""
    out, i = b"", 0
    for size in list(sizes) + [len(body)]:
        piece = body[i:i + size]
        if piece:
            out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        i += size
    return out + b"0\r\n\r\n"


def requests(rng):
    """[(category, raw bytes, client)]: client "tls" (admin cert), "anon" (no cert), "tcp" (no TLS)."""
    out = []

    def add(category, raw, client="tls", count=1):
        out.extend([(category, raw, client)] * count)

    for _ in range(240):
        method, path = rng.choice(WRITE_PATHS)
        ctype = rng.choice(["application/json", "application/merge-patch+json",
                            "application/strategic-merge-patch+json", "application/json-patch+json"])
        add("bad json", http(method, path, broken_json(rng), [f"Content-Type: {ctype}"]))
    valid = json.dumps(SERVICE).encode()
    for _ in range(100):
        method, path = rng.choice(WRITE_PATHS[:5])
        ctype = rng.choice(["", "text/plain", "application/xml", "multipart/form-data; boundary=x", "image/png",
                            "application/x-www-form-urlencoded", "json", "application/jsonx", "*/*", ";;;"])
        headers = [f"Content-Type: {ctype}"] if ctype else []
        add("content type", http(method, path, valid, headers))
    for _ in range(60):
        method, path = rng.choice(WRITE_PATHS[:5])
        body = valid[:rng.randrange(5, len(valid))] + bytes(rng.choice([0x80, 0xc3, 0xff, 0xfe, 0xed]) for _ in
                                                            range(3)) + valid[-2:]
        add("invalid utf-8", http(method, path, body, ["Content-Type: application/json"]))
    for depth in (150, 1000, 20000, 200000):
        for opener, closer in (("[", "]"), ('{"a":', "}")):
            body = (opener * depth + "1" + closer * depth).encode()
            for method, path in WRITE_PATHS[:5]:
                add("deep nesting", http(method, path, body, ["Content-Type: application/json"]))
    for number in ("1e400", "-1e400", "9" * 5000, "1e300", "-0", "1.5e-400", "123456789012345678901234567890"):
        for method, path in WRITE_PATHS[:5]:
            body = json.dumps(SERVICE).replace('"port": 80', f'"port": {number}').encode()
            add("huge numbers", http(method, path, body, ["Content-Type: application/json"]))
    huge = b'{"data":{"a":"' + b"x" * (3 * MIB + 10) + b'"}}'
    add("over 3 MiB", http("POST", f"{NS}/configmaps", huge, ["Content-Type: application/json"]), count=4)
    add("over 3 MiB", http("POST", f"{NS}/configmaps", b"", ["Content-Type: application/json",
                                                             f"Content-Length: {4 * MIB}"]), count=2)
    add("over 3 MiB", http("POST", f"{NS}/configmaps", chunked(huge, [MIB] * 4), ["Content-Type: application/json",
                                                                                 "Transfer-Encoding: chunked"]),
        count=3)
    pod = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}).encode()
    for _ in range(30):
        add("chunked", http("POST", f"{NS}/services", chunked(pod, [rng.randrange(1, 9) for _ in range(40)]),
                            ["Content-Type: application/json", "Transfer-Encoding: chunked"]))
    add("chunked, cut short", http("POST", f"{NS}/services", b"5\r\nab\r\n", ["Content-Type: application/json",
                                                                           "Transfer-Encoding: chunked"]), count=3)
    for bad in (b"zz\r\nabc\r\n0\r\n\r\n", b"-1\r\n\r\n", b"ffffffffffffffff\r\nx",
                b"3;ext=1\r\nabc\r\n0\r\n\r\n", b"\r\n\r\n"):
        add("chunked", http("POST", f"{NS}/services", bad, ["Content-Type: application/json",
                                                            "Transfer-Encoding: chunked"]), count=3)
    add("chunked", http("POST", f"{NS}/services", b"abc", ["Transfer-Encoding: gzip, chunked"]), count=3)
    add("chunked", http("POST", f"{NS}/services", b"abc", ["Transfer-Encoding: chunked", "Content-Length: 3"]), count=3)
    paths = ["/api/v1/../../etc/passwd", "/api/v1/%2e%2e/%2e%2e/etc/passwd", "//api//v1//pods", "/api/v1/namespaces/"
             "..%2f..%2fetc/pods", f"{NS}/pods/%00", f"{NS}/pods/..", f"{NS}/pods/%ff%fe", "/api/v1/namespaces/défaut/pods",
             f"{NS}/pods?watch=true&timeoutSeconds=-1", f"{NS}/pods?watch=true&timeoutSeconds=nan",
             f"{NS}/pods?labelSelector=((((", f"{NS}/pods?fieldSelector===", f"{NS}/pods?labelSelector=%ff",
             f"{NS}/pods?watch=true&resourceVersion=abc&timeoutSeconds=0", f"{NS}/pods?timeoutSeconds=1e999",
             f"{NS}/pods/x/log", f"{NS}/pods/x/exec?command=sh", "/api/v1/nodes/x/proxy/", "/apis/apps/v1/nosuch",
             "/apis/nosuch.group/v1", "/openapi/v3", "/api/v1/namespaces/default/pods/a/b/c/d", "*", "http://x/api",
             "/" + "a/" * 3000, f"{NS}/pods/" + "x" * 20000, "/api/v1/" + "%41" * 5000, "/?" + "a=b&" * 2000]
    for path in paths:
        for method in ("GET", "POST", "DELETE", "PATCH"):
            sent = path
            if method == "DELETE" and "labelSelector" not in path:  # a collection's DELETE deletes what it
                sent = path + ("&" if "?" in path else "?") + "labelSelector=fuzz%3Dnone"  # selects: nothing
            add("path tricks", http(method, sent, b"{}" if method != "GET" else b"",
                                    ["Content-Type: application/json"]))
    add("path tricks", http("GET", "/" + "x" * 70000), count=3)
    add("long headers", http("GET", f"{NS}/pods", headers=["X-Long: " + "v" * 16000]), count=10)
    add("long headers", http("GET", f"{NS}/pods", headers=["X-Long: " + "v" * 70000]), count=5)
    add("long headers", http("GET", f"{NS}/pods", headers=[f"X-{i}: {i}" for i in range(150)]), count=5)
    add("long headers", http("GET", f"{NS}/pods", headers=["Accept: " + ",".join(["application/json;as=Table"] * 500)]),
        count=5)
    add("long headers", http("GET", f"{NS}/pods", headers=["Bad Header Without Colon", "\x01\x02: x"]), count=5)
    for verb in ("FROB", "get", "PROPFIND", "CONNECT", "TRACE", "M-SEARCH", "OPTIONS", "HEAD", "PURGE", "QUERY",
                 "G\x00T", "ΓΕΤ"):
        for path in (f"{NS}/pods", "/version", "/api", f"{NS}/services/nodeport-svc"):
            add("verbs", http(verb, path, b"{}", ["Content-Type: application/json"]))
    for version in ("HTTP/2.0", "HTTP/9.9", "HTTP/1.1.1", "HTTX/1.1", "HTTP/1", "", "HTTP/0.9"):
        add("versions", http("GET", f"{NS}/pods", version=version), count=4)
    for garbage in (b"\x00\x01\x02\x03\r\n\r\n", b"GET\r\n\r\n", b"GET / / / HTTP/1.1\r\n\r\n",
                    bytes(range(256)) + b"\r\n\r\n"):
        add("versions", garbage, count=4)
    add("empty lines", b"\r\n\r\n\r\n", count=4)  # blank lines before a request that never comes
    for path in (f"{NS}/pods", f"{NS}/services", "/version", "/api/v1", f"{NS}/services/nodeport-svc"):
        add("no client cert", http("GET", path), "anon", count=6)
        add("no client cert", http("DELETE", path), "anon", count=4)
    for _ in range(60):
        add("not tls", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600))), "tcp")
    add("not tls", http("GET", f"{NS}/pods"), "tcp", count=10)  # plain HTTP to the TLS port
    rejected = [
        ({**SERVICE, "metadata": {"name": "Bad_Name"}}, ""),
        ({**SERVICE, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 1}]}}, ""),
        ({**SERVICE, "spec": {"foo": 1, "ports": [{"port": 80}]}}, "?fieldValidation=Strict"),
        ({**SERVICE, "kind": "Pod"}, ""),
        ({**SERVICE, "apiVersion": "apps/v1"}, ""),
        ({**SERVICE, "metadata": {"name": "nodeport-svc"}}, ""),
        ({**SERVICE, "metadata": "x"}, ""),
        ({**SERVICE, "metadata": {"name": "x", "namespace": "other"}}, ""),
        (SERVICE, "?fieldValidation=Nope"),
        (SERVICE, "?dryRun=yes"),
        ([SERVICE], ""),
        ("just a string", ""),
    ]
    for body, query in rejected:
        add("refused writes", http("POST", f"{NS}/services{query}", json.dumps(body).encode(),
                                   ["Content-Type: application/json"]), count=6)
    patches = [([{"op": "remove", "path": "/nosuch"}], "application/json-patch+json"),
               ({"op": "add"}, "application/json-patch+json"),
               ([{"op": "move", "from": "/a", "path": "/b"}] * 3, "application/json-patch+json"),
               ({"spec": {"ports": [{"nodePort": 1}]}}, "application/strategic-merge-patch+json"),
               ({"spec": {"$retainKeys": 5}}, "application/strategic-merge-patch+json"),
               ({"spec": {"ports": [{"port": 3000, "$patch": "bogus"}]}}, "application/strategic-merge-patch+json"),
               ({"metadata": {"resourceVersion": "1"}}, "application/merge-patch+json"),
               ({"spec": {"type": "Bogus"}}, "application/merge-patch+json"),
               ({"spec": {"foo": 1}}, "application/merge-patch+json", "?fieldValidation=Strict"),
               ({"spec": {"replicas": -5}}, "application/merge-patch+json", "", "/scale"),
               ({"spec": {"replicas": "three"}}, "application/merge-patch+json", "", "/scale"),
               ([1, 2, 3], "application/merge-patch+json"),
               ({"spec": {}}, "application/apply-patch+cbor"),
               ({"spec": {}}, "text/x-patch")]
    for p in patches:
        body, ctype, query, sub = (*p, "", "")[:4]
        path = "/apis/apps/v1/namespaces/default/deployments/pod-nodeport" if sub else f"{NS}/services/nodeport-svc"
        add("refused patches", http("PATCH", f"{path}{sub}{query}", json.dumps(body).encode(),
                                    [f"Content-Type: {ctype}"]), count=5)
    for path in (f"{NS}/pods", f"{NS}/services", "/api/v1/nodes", f"{NS}/endpoints", "/apis/apps/v1/deployments"):
        for accept in ("application/json", "application/json;as=Table;v=v1;g=meta.k8s.io", "*/*",
                       "application/vnd.kubernetes.protobuf"):
            add("reads", http("GET", path, headers=[f"Accept: {accept}"]), count=2)
    add("dry runs", http("POST", f"{NS}/services?dryRun=All", valid, ["Content-Type: application/json"]), count=10)
    rng.shuffle(out)
    return out


# sending them ------------------------------------------------------------------------------------------

def answer_of(data):
    """(status code, headers dict, body) of a raw HTTP answer; None if there is none."""
    if not data.startswith(b"HTTP/1."):
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def exchange(client, raw, contexts, timeout=20):
    """Send ``raw`` and read to the end: the answer's bytes (b"" when the server closed first)."""
    sock = socket.create_connection(("127.0.0.1", client.port), timeout=timeout)
    try:
        if contexts is not None:
            sock = contexts.wrap_socket(sock, server_hostname="127.0.0.1")
        try:
            sock.sendall(raw)
        except OSError:  # the server answered (413) and closed before taking it all
            pass
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
                break
            if not chunk:
                break
            data += chunk
        return data
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        sock.close()


def half_request(client, kind, results):
    """A request that stops (or dribbles): how long until the server closes it."""
    sock = client.context.wrap_socket(socket.create_connection(("127.0.0.1", client.port), timeout=40),
                                      server_hostname="127.0.0.1")
    start = time.monotonic()
    try:
        if kind == "mid-headers":
            sock.sendall(b"GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nAccept: appl")
        elif kind == "mid-body":
            sock.sendall(b"POST /api/v1/namespaces/default/services HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"application/json\r\nContent-Length: 400\r\n\r\n{\"apiVersion\": ")
        elif kind == "dribble":  # slowloris: a byte every second, never a whole header block
            line = b"GET /api/v1/namespaces/default/pods HTTP/1.1\r\nX-Slow: " + b"a" * 100
            for i in range(len(line)):
                sock.sendall(line[i:i + 1])
                readable = select_readable(sock, 1.0)
                if readable:
                    break
        elif kind == "nothing":
            pass
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
    except (OSError, ssl.SSLError):
        pass
    finally:
        results.append((kind, time.monotonic() - start))
        sock.close()


def select_readable(sock, seconds):
    return bool(select.select([sock], [], [], seconds)[0]) or sock.pending() > 0


def flood(client, count):
    """``count`` TCP connections at once that never say a word; the server's thread count while
    they are open."""
    socks = []
    try:
        for _ in range(count):
            try:
                socks.append(socket.create_connection(("127.0.0.1", client.port), timeout=5))
            except OSError:
                break
        time.sleep(1.5)
        return len(socks), process_threads(api_server_pid(client.name))
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def fuzzed(fuzz_lab):
    client = ApiClient(fuzz_lab.name)
    anonymous = ApiClient(fuzz_lab.name, cert=False)
    pid = api_server_pid(fuzz_lab.name)
    before = {"rv": client.resource_version(), "rules": node_rules(fuzz_lab.name), "memory": process_memory(pid),
              "threads": process_threads(pid)}
    log = f"/run/svclab/{fuzz_lab.name}/kube-apiserver-master.log"
    log_size = os.path.getsize(log) if os.path.exists(log) else 0
    rng = random.Random(SEED)
    batch = requests(rng)
    halves = []
    half_threads = [threading.Thread(target=half_request, args=(client, kind, halves), daemon=True)
                    for kind in ("mid-headers", "mid-body", "dribble", "nothing") * (HALF_REQUESTS // 4)]
    start = time.monotonic()
    for t in half_threads:
        t.start()
    contexts = {"tls": client.context, "anon": anonymous.context, "tcp": None}
    answers = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [(category, raw, pool.submit(exchange, client, raw, contexts[who])) for category, raw, who in batch]
        for category, raw, future in futures:
            answers.append((category, raw, future.result()))
    fuzz_seconds = time.monotonic() - start
    for t in half_threads:
        t.join(timeout=30)
    flooded, peak_threads = flood(client, wire.MAX_CONNECTIONS + 100)
    time.sleep(1)
    yield {"client": client, "answers": answers, "halves": halves, "seconds": fuzz_seconds, "before": before,
           "pid": pid, "flooded": flooded, "peak_threads": peak_threads, "total": time.monotonic() - start,
           "log": (log, log_size)}


def test_over_a_thousand_malformed_requests_in_bounded_time(fuzzed):
    n = len(fuzzed["answers"])
    assert n >= 1000
    assert fuzzed["total"] < 60, f"took {fuzzed['total']:.1f} s"
    print(f"\n{n} malformed requests in {fuzzed['seconds']:.1f} s ({n / fuzzed['seconds']:.0f}/s); "
          f"whole fuzz {fuzzed['total']:.1f} s")


def test_every_answer_is_http_and_kube_shaped(fuzzed):
    problems, codes = [], {}
    for category, raw, data in fuzzed["answers"]:
        answer = answer_of(data)
        if answer is None:
            # only what is not TLS, or a body so big the server closed the connection first, goes unanswered
            # (and a chunked body that stops: the body's deadline closes it, as it does a half request)
            if category not in ("not tls", "over 3 MiB", "empty lines", "chunked, cut short"):
                problems.append((category, raw[:80], data[:80]))
            continue
        code, headers, body = answer
        codes.setdefault(category, set()).add(code)
        if code not in CODES:
            problems.append((category, raw[:80], data[:200]))
            continue
        if headers.get("content-type", "").startswith("application/json") and code >= 400:
            status = json.loads(body)
            if status.get("kind") != "Status" or status.get("code") != code or status.get("reason") == "InternalError" \
                    or (code == 500 and "reason" in status):
                problems.append((category, raw[:80], status))
        if category in ("not tls",) or (category == "no client cert" and b"/version" not in raw[:40] and code != 401):
            problems.append((category, raw[:80], code))
    assert not problems, problems[:10]
    print("\n" + "; ".join(f"{c}: {sorted(v)}" for c, v in sorted(codes.items())))
    assert codes["no client cert"] <= {200, 401, 405}
    assert codes["content type"] == {415}
    assert codes["over 3 MiB"] <= {413}
    assert {400, 415, 500} >= codes["bad json"]  # 500: a DeleteOptions body, as kube's delete handler answers
    assert 405 in codes["verbs"] and 431 in codes["long headers"] and 414 in codes["path tricks"]


def test_the_server_logged_no_internal_error(fuzzed):
    log, size = fuzzed["log"]
    if not os.path.exists(log):
        return
    with open(log, errors="replace") as f:
        f.seek(size)
        assert "internal error" not in f.read()


def test_half_requests_are_cut_off_by_the_servers_deadlines(fuzzed):
    assert len(fuzzed["halves"]) == HALF_REQUESTS
    for kind, seconds in fuzzed["halves"]:
        limit = wire.HEADER_TIMEOUT + (wire.BODY_TIMEOUT if kind == "mid-body" else 0) + 5
        assert seconds < limit, (kind, seconds)
        assert seconds > wire.HEADER_TIMEOUT * 0.5 or kind == "mid-body", (kind, seconds)


def test_connections_and_threads_are_bounded(fuzzed):
    assert fuzzed["flooded"] > wire.MAX_CONNECTIONS  # more than it serves, all connected
    assert fuzzed["peak_threads"] <= wire.MAX_CONNECTIONS + 20, fuzzed["peak_threads"]
    print(f"\n{fuzzed['flooded']} connections at once: {fuzzed['peak_threads']} threads "
          f"(before: {fuzzed['before']['threads']})")
    deadline = time.monotonic() + 15
    while process_threads(fuzzed["pid"]) > fuzzed["before"]["threads"] + 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process_threads(fuzzed["pid"]) <= fuzzed["before"]["threads"] + 10


def test_the_same_server_still_answers_with_bounded_memory(fuzzed, fuzz_lab):
    assert api_server_pid(fuzz_lab.name) == fuzzed["pid"]
    rss, peak = process_memory(fuzzed["pid"])
    base_rss = fuzzed["before"]["memory"][0]
    print(f"\nVmRSS {base_rss} kB before, {rss} kB after, peak {peak} kB")
    assert peak < base_rss + 300 * 1024, f"peak {peak} kB from {base_rss} kB"
    assert rss < base_rss + 100 * 1024, f"now {rss} kB from {base_rss} kB"
    code, _, body = fuzzed["client"].request("GET", f"{NS}/pods")
    assert code == 200 and {p["metadata"]["name"] for p in body["items"]} == set(SEED_PODS)


def test_kubectl_get_pods_afterwards(fuzzed, fuzz_lab, tmp_path):
    if shutil.which("kubectl") is None:
        pytest.skip("needs kubectl (not found)")
    env = dict(os.environ, KUBECONFIG=f"/run/svclab/{fuzz_lab.name}/admin.conf", HOME=str(tmp_path))
    out = subprocess.run(["kubectl", "get", "pods"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert all(name in out.stdout for name in SEED_PODS)


def test_nothing_in_the_lab_changed(fuzzed, fuzz_lab):
    assert fuzzed["client"].resource_version() == fuzzed["before"]["rv"]
    assert node_rules(fuzz_lab.name) == fuzzed["before"]["rules"]
