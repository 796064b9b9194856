"""up/down as a whole: the current-profile lab, interrupted and killed ups, and nothing left behind."""

import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

from factories import ROOT, SCENARIOS, Lab, netns_list, run_lab, unique_lab_name
from lab.kernel import record


def lab_processes(name):
    """PIDs of processes carrying ``--lab NAME`` (the lab's daemons)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if any(a == b"--lab" and b == name.encode() for a, b in zip(argv, argv[1:])):
                found.append(int(entry))
    return found


def assert_gone(name, before):
    """Nothing of lab ``name`` is left (other labs, e.g. a user's, may come and go meanwhile)."""
    assert {n for n in netns_list() if n.startswith(name + "-")} == {n for n in before if n.startswith(name + "-")}
    assert lab_processes(name) == []
    assert not os.path.exists(os.path.join(record.ROOT, name))
    etc = os.listdir("/etc/netns") if os.path.isdir("/etc/netns") else []
    assert [d for d in etc if d.startswith(name + "-")] == []


def test_current_profile_lab_end_to_end():
    before = netns_list()
    lab = Lab(os.path.join(SCENARIOS, "nodeport.yml"), unique_lab_name("c"))
    out = lab.up().stdout
    try:
        assert out.startswith(f"Lab {lab.name!r} is up in ") and len(out.splitlines()) == 1  # piped: quiet
        pods = [line.split() for line in lab.get("pods", "-o", "wide").splitlines()[1:]]
        assert len(pods) == 2 and len({p[6] for p in pods}) == 2  # spread over two nodes
        names = {p[0] for p in pods}
        for ip in ("192.168.179.99", "192.168.179.100", "192.168.179.101"):
            body = lab.curl("client", f"{ip}:30090")
            assert body and body.startswith("You've hit ") and body.split()[-1] in names
        saved = lab.exec("node1", "iptables-save", "-t", "nat").stdout
        assert ('-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc" -m tcp --dport 30090 '
                '-j KUBE-EXT-FDIGUWRAAKMFZSYO') in saved
        assert re.search(r'-A KUBE-SVC-FDIGUWRAAKMFZSYO -m comment --comment "default/nodeport-svc -> '
                         r'10\.244\.\d+\.\d+:8080" -m statistic --mode random --probability 0\.50000000000', saved)
        cip = next(line.split()[2] for line in lab.get("svc").splitlines() if line.startswith("nodeport-svc"))
        for pod in names:
            assert lab.curl(pod, f"{cip}:3000").split()[-1] in names
    finally:
        lab.down()
    assert_gone(lab.name, before)


def test_down_is_idempotent_and_clean():
    before = netns_list()
    name = unique_lab_name("d")
    run_lab("up", os.path.join(SCENARIOS, "seed.yml"), "--name", name)
    assert lab_processes(name)
    assert "is down" in run_lab("down", name).stdout
    assert_gone(name, before)
    assert "not up; nothing to do" in run_lab("down", name).stdout


def test_down_by_scenario_file():
    before = netns_list()
    seed = os.path.join(SCENARIOS, "seed.yml")
    name = unique_lab_name("f")
    run_lab("up", seed, "--name", name)
    run_lab("down", seed, "--name", name)
    assert_gone(name, before)


def _start_up(name):
    return subprocess.Popen([sys.executable, "-m", "lab", "up", os.path.join(SCENARIOS, "seed.yml"), "--name", name],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.25, 0.35, 0.5, 0.8])
def test_down_after_up_was_killed(delay):
    before = netns_list()
    name = unique_lab_name("k")
    proc = _start_up(name)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_lab("down", name)
    assert_gone(name, before)


def test_ctrl_c_during_up_cleans_up_by_itself():
    before = netns_list()
    name = unique_lab_name("i")
    proc = _start_up(name)
    deadline = time.monotonic() + 5
    while not os.path.exists(os.path.join(record.ROOT, name, "cluster.json")) and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    if proc.returncode == 0:  # finished before the signal arrived: take it down the normal way
        run_lab("down", name)
    else:
        assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert_gone(name, before)


def test_two_labs_side_by_side():
    before = netns_list()
    a, b = unique_lab_name("a"), unique_lab_name("b")
    seed = os.path.join(SCENARIOS, "seed.yml")
    run_lab("up", seed, "--name", a)
    try:
        run_lab("up", seed, "--name", b)
        try:
            for name in (a, b):
                out = run_lab("exec", "client", "--lab", name, "--", "curl", "-s", "-m", "3",
                              "192.168.179.101:30090").stdout
                assert out.startswith("You've hit pod-nodeport-6cc49c7999-")
            r = run_lab("get", "pods", check=False) if len(record.labs()) > 1 else None
            if r is not None:
                assert r.returncode == 2 and "--lab" in r.stderr
        finally:
            run_lab("down", b)
    finally:
        run_lab("down", a)
    assert_gone(a, before)
    assert_gone(b, before)


@pytest.mark.parametrize("profile", ["1.18", "current"])
def test_service_without_endpoints_is_rejected(tmp_path, profile):
    (tmp_path / "s.yml").write_text(f"""\
topology: {os.path.join(ROOT, 'topologies', 'three-node.yml')}
kubeProxy: {{profile: "{profile}"}}
manifests:
  - apiVersion: v1
    kind: Service
    metadata: {{name: empty}}
    spec:
      type: NodePort
      selector: {{app: nothing}}
      ports: [{{port: 80, targetPort: 8080, nodePort: 30111}}]
""")
    before = netns_list()
    lab = Lab(str(tmp_path / "s.yml"), unique_lab_name("r"))
    result = lab.up()
    out = result.stdout + result.stderr
    try:
        assert "warning: service default/empty: selector app=nothing matches no pods" in out
        cip = next(line.split()[2] for line in lab.get("svc").splitlines() if line.startswith("empty"))
        # REJECT answers at once with ICMP port unreachable: curl says "connection refused" (exit 7)
        started = time.monotonic()
        assert lab.exec("node1", "curl", "-s", "-m", "5", f"{cip}:80", check=False).returncode == 7
        assert lab.exec("client", "curl", "-s", "-m", "5", "192.168.179.100:30111", check=False).returncode == 7
        assert time.monotonic() - started < 4
        saved = lab.exec("node1", "iptables-save", "-t", "filter").stdout
        name = "default/empty:" if profile == "1.18" else "default/empty"
        assert (f'-A KUBE-SERVICES -d {cip}/32 -p tcp -m comment --comment "{name} has no endpoints" -m tcp '
                f'--dport 80 -j REJECT --reject-with icmp-port-unreachable') in saved
        assert (f'-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "{name} has no endpoints" -m addrtype '
                f'--dst-type LOCAL -m tcp --dport 30111 -j REJECT --reject-with icmp-port-unreachable') in saved
    finally:
        lab.down()
    assert_gone(lab.name, before)


def test_up_shows_progress_on_a_terminal_and_timings_on_request():
    """On a terminal ``up`` says what it is doing (phases, counts) and offers next commands;
    ``--timings`` adds a table of the phases whose seconds add up to the total."""
    name = unique_lab_name("p")
    command = [sys.executable, "-m", "lab", "up", os.path.join(SCENARIOS, "seed.yml"), "--name", name, "--timings"]
    result = subprocess.run(["script", "-qec", shlex.join(command), "/dev/null"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        screen = result.stdout.replace("\r\n", "\n")
        assert "links, addresses, routes 9/9" in screen  # a count shown while the phase ran
        assert "✓ kube-proxy (iptables, profile 1.18) synced on 3 nodes" in screen
        assert "Try:" in screen
        table = screen[screen.index("phase "):].splitlines()
        end = next(i for i, line in enumerate(table) if line.startswith("total "))
        rows = {line.rsplit(None, 2)[0].strip(): float(line.split()[-2]) for line in table[1:end]}
        assert {"namespaces", "links, addresses, routes", "wait for kube-proxy syncs and pod servers"} <= set(rows)
        total = float(table[end].split()[-1])
        assert abs(sum(rows.values()) - total) < 0.01
    finally:
        run_lab("down", name)
