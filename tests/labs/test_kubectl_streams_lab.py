"""The streaming half of the API with the real kubectl (the one on PATH, both of its transports:
WebSocket first, SPDY when told to) and the Python client: exec with separate stdout and stderr
and the exit code, stdin, a pty that follows resizes and passes Ctrl-C; logs as luksa/kubia
prints them; port-forward through kubectl's own socket; nothing left behind when a client goes
away; 50 sessions at once."""

import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from factories import lab_fixture, netns_list

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on PATH (./setup installs one)")
streams_lab = lab_fixture("seed.yml", "st")
TRANSPORTS = {"websocket": {}, "spdy": {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}}


def kubectl(lab, *args, env=None, input=None, timeout=30, check=False):
    full = dict(os.environ, KUBECONFIG=lab.kubeconfig, **(env or {}))
    return subprocess.run(["kubectl", *args], env=full, input=input, capture_output=True, text=True,
                          timeout=timeout, check=check)


def pod_names(lab):
    items = json.loads(lab.get("pods", "-l", "app=myapp", "-o", "json"))["items"]
    return sorted(p["metadata"]["name"] for p in items)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_exec_runs_in_the_pod_with_its_files_and_gives_the_exit_code(streams_lab, transport):
    pod = pod_names(streams_lab)[0]
    r = kubectl(streams_lab, "exec", pod, "--", "sh", "-c", "hostname; cat /etc/resolv.conf; echo to-stderr >&2; exit 3",
                env=TRANSPORTS[transport])
    assert r.returncode == 3, r
    lines = r.stdout.splitlines()
    assert lines[0] == pod and "nameserver 10.96.0.10" in lines
    assert "to-stderr" not in r.stdout and "to-stderr" in r.stderr
    assert "command terminated with exit code 3" in r.stderr
    ok = kubectl(streams_lab, "exec", "-i", pod, "--", "sh", "-c", "tr a-z A-Z; echo end", input="from stdin\n",
                 env=TRANSPORTS[transport])
    assert (ok.returncode, ok.stdout) == (0, "FROM STDIN\nend\n"), ok


def test_exec_into_what_is_not_there_answers_as_kube_apiserver(streams_lab):
    pod = pod_names(streams_lab)[0]
    r = kubectl(streams_lab, "exec", pod, "-c", "nope", "--", "true")
    assert r.returncode == 1 and f"Error from server (BadRequest): container nope is not valid for pod {pod}" in r.stderr
    r = kubectl(streams_lab, "exec", "no-such-pod", "--", "true")
    assert r.returncode == 1 and 'Error from server (NotFound): pods "no-such-pod" not found' in r.stderr


def _through_a_terminal(lab, pod, typed, cols=100, rows=30):
    """``kubectl exec -it`` run by script(1) on a pty of ``cols`` x ``rows``, fed ``typed``
    (a list of (delay, text))."""
    env = dict(os.environ, KUBECONFIG=lab.kubeconfig)
    proc = subprocess.Popen(["script", "-qfec", f"stty cols {cols} rows {rows}; kubectl exec -it {pod} -- sh",
                             "/dev/null"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env)
    for delay, text in typed:
        time.sleep(delay)
        proc.stdin.write(text.encode())
        proc.stdin.flush()
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out.decode(errors="replace")


def test_exec_it_is_a_real_terminal(streams_lab):
    pod = pod_names(streams_lab)[0]
    code, out = _through_a_terminal(streams_lab, pod, [(1.0, "stty size; tty\n"), (1.0, "sleep 30\n"),
                                                       (1.0, "\x03"), (0.5, "echo after-ctrl-c\n"),
                                                       (0.5, "exit 4\n")], cols=123, rows=45)
    assert "45 123" in out, out  # the window size followed kubectl's resize
    assert re.search(r"/dev/pts/\d+", out), out
    assert "after-ctrl-c" in out.replace("echo after-ctrl-c", ""), out  # Ctrl-C stopped sleep, the shell went on
    assert code == 4 and "command terminated with exit code 4" in out, out


def test_a_client_that_goes_away_leaves_nothing_in_the_pod(streams_lab):
    pod = pod_names(streams_lab)[0]
    netns = next(n for n in netns_list() if n.startswith(streams_lab.name + "-") and n.endswith(pod))
    before = set(subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split())
    env = dict(os.environ, KUBECONFIG=streams_lab.kubeconfig)
    proc = subprocess.Popen(["kubectl", "exec", pod, "--", "sh", "-c", "sleep 300 & sleep 301"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = set(subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split())
        if len(now - before) >= 2:
            break
        time.sleep(0.1)
    assert len(now - before) >= 2, "the command never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = set(subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split())
        if now <= before:
            break
        time.sleep(0.1)
    assert now <= before, f"left behind in {netns}: {sorted(now - before)}"


def test_fifty_sessions_at_once(streams_lab):
    pods = pod_names(streams_lab)
    # kubectl's discovery cache (~/.kube/cache) is one set of files: fill it first, or fifty kubectl
    # processes writing it at once can read each other's half-written files (kubectl's race, not the lab's)
    kubectl(streams_lab, "get", "pods", check=True)

    def one(i):
        pod = pods[i % len(pods)]
        r = kubectl(streams_lab, "exec", pod, "--", "sh", "-c", f"echo session-{i}; exit {i % 7}", timeout=60)
        return i, r.returncode, r.stdout, r.stderr
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    wrong = [(i, code, out, err) for i, code, out, err in results if (code, out) != (i % 7, f"session-{i}\n")]
    assert not wrong, wrong


def _ask(lab, pod, times=1):
    """``times`` requests to ``pod`` from its own node (they reach it from the node's cni0 address)."""
    status = json.loads(lab.get("pod", pod, "-o", "json"))
    for _ in range(times):
        lab.exec(status["spec"]["nodeName"], "curl", "-s", "-m", "2", f"http://{status['status']['podIP']}:8080/",
                 check=False)


def test_logs_are_the_pods_request_log(streams_lab):
    pod = pod_names(streams_lab)[0]
    _ask(streams_lab, pod, 3)
    lines = kubectl(streams_lab, "logs", pod, check=True).stdout.splitlines()
    assert lines[0] == "Kubia server starting..."
    assert all(re.fullmatch(r"Received request from ::ffff:\d+\.\d+\.\d+\.\d+", line) for line in lines[1:]), lines
    stamped = kubectl(streams_lab, "logs", pod, "--timestamps", "--tail", "1", check=True).stdout.splitlines()
    assert len(stamped) == 1 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \S.*", stamped[0]), stamped
    previous = kubectl(streams_lab, "logs", "-p", pod)
    assert previous.returncode == 1 and ('Error from server (BadRequest): previous terminated container "myapp" in pod '
                                         f'"{pod}" not found') in previous.stderr
    by_deployment = kubectl(streams_lab, "logs", "deploy/pod-nodeport", check=True)
    assert by_deployment.stdout.startswith("Kubia server starting...")


def test_logs_follow_sees_new_requests(streams_lab):
    pod = pod_names(streams_lab)[0]
    env = dict(os.environ, KUBECONFIG=streams_lab.kubeconfig)
    proc = subprocess.Popen(["kubectl", "logs", "-f", "--tail", "0", pod], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(1)
        _ask(streams_lab, pod, 2)
        time.sleep(1)
    finally:
        proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert re.findall(r"Received request from ::ffff:10\.244\.\d+\.1\n", out) and len(out.splitlines()) == 2, out


def test_port_forward_goes_through_kubectls_own_socket(streams_lab):
    env = dict(os.environ, KUBECONFIG=streams_lab.kubeconfig)
    proc = subprocess.Popen(["kubectl", "port-forward", "svc/nodeport-svc", ":3000"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", line)
        assert m, line
        port = int(m.group(1))
        answers = [subprocess.run(["curl", "-s", "-m", "5", f"http://127.0.0.1:{port}/"], capture_output=True,
                                  text=True, timeout=10).stdout for _ in range(3)]
        assert all(a.startswith("You've hit pod-nodeport-") for a in answers), answers
        owners = subprocess.run(["ss", "-tlnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
        assert '"kubectl"' in owners and "kube-apiserver" not in owners, owners
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_python_clients_exec(streams_lab):
    kubernetes = pytest.importorskip("kubernetes")
    from kubernetes.stream import stream
    api = kubernetes.client.CoreV1Api(streams_lab.api_client())
    pod = pod_names(streams_lab)[0]
    resp = stream(api.connect_get_namespaced_pod_exec, pod, "default", command=["sh", "-c", "hostname; echo e >&2; exit 5"],
                  stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    resp.run_forever(timeout=20)
    assert (resp.read_stdout().strip(), resp.read_stderr().strip(), resp.returncode) == (pod, "e", 5)


def _coredns_logs(lab):
    return kubectl(lab, "logs", "-n", "kube-system", "-l", "k8s-app=kube-dns", "--tail", "-1", check=True).stdout


def _set_corefile(lab, text):
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
                "data": {"Corefile": text}}
    kubectl(lab, "apply", "-f", "-", input=json.dumps(manifest), check=True)


def test_coredns_logs_queries_once_the_corefile_has_the_log_plugin(streams_lab):
    corefile = kubectl(streams_lab, "get", "cm", "coredns", "-n", "kube-system", "-o", "jsonpath={.data.Corefile}",
                       check=True).stdout
    assert corefile.startswith(".:53 {\n    errors\n") and "\n    log\n" not in corefile, corefile
    pod = pod_names(streams_lab)[0]
    ip = json.loads(streams_lab.get("pod", pod, "-o", "json"))["status"]["podIP"]
    query = re.compile(r'\[INFO\] ' + re.escape(ip) + r':\d+ - \d+ "A IN nodeport-svc\.default\.svc\.cluster\.local\. '
                       r'udp \d+ false 512" NOERROR qr,aa,rd \d+ \d+\.\d+s')

    def ask():  # one A query from the pod, answered through the kube-dns ClusterIP
        out = kubectl(streams_lab, "exec", pod, "--", "nslookup", "nodeport-svc", check=True).stdout
        assert "10.105.182.209" in out, out

    ask()
    before = _coredns_logs(streams_lab)
    assert before.startswith(".:53\nCoreDNS-") and not query.search(before), before
    _set_corefile(streams_lab, corefile.replace("    errors\n", "    errors\n    log\n"))
    try:
        ask()
        logged = _coredns_logs(streams_lab)
        assert len(query.findall(logged)) == 1, logged
    finally:
        _set_corefile(streams_lab, corefile)
    ask()
    assert len(query.findall(_coredns_logs(streams_lab))) == 1  # logging is off again
