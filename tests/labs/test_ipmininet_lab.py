"""IPMininet for real (root): the file `lab export --format ipmininet` writes runs under IPMininet 1.0
(which ./setup installs for /usr/bin/python3 over Debian's mininet) and answers as the lab does, and
the host is the same afterwards: its root namespace (the snapshot of test_host_untouched), /etc/hosts
and /etc/resolv.conf (IPMininet mounts its own over them, inside each node), no /var/run/frr, no SSH
key pair in /tmp (IPMininet's sshd module makes one at import), no Mininet cleanup (`mn -c`) even on
IPMininet's error path. Skipped, with the reason, only where IPMininet cannot be imported."""

import importlib.util
import os
import runpy
import subprocess
import sys

import pytest

from factories import SEED_CLUSTER_IP, SEED_NODE_IPS, SEED_POD_MASTER, SEED_PODS, SEED_SCENARIO, run_lab, \
    scenario_state
from lab.tools.mininet import export
from test_host_untouched import differences, snapshot  # the root namespace's snapshot

HAVE_IPMININET = all(importlib.util.find_spec(m) is not None for m in ("mininet", "ipmininet", "mako"))
pytestmark = pytest.mark.skipif(not HAVE_IPMININET, reason=f"IPMininet cannot be imported by {sys.executable} "
                                "(./setup installs it, with Debian's mininet and python3-mako)")

HOST_FILES = ("/etc/hosts", "/etc/resolv.conf")
WEB_ANSWERS = {f"You've hit {p}" for p in SEED_PODS}


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _tmp_names():
    return set(os.listdir("/tmp"))


@pytest.fixture
def host_untouched():
    """The root namespace, the files IPMininet mounts over inside its nodes, /var/run/frr, and /tmp
    (no key pair left there), before and after."""
    before, files, tmp = snapshot(), {f: _read(f) for f in HOST_FILES}, _tmp_names()
    frr = os.path.exists("/var/run/frr")
    yield before
    assert differences(before, snapshot()) == "", "the root namespace changed:\n" + differences(before, snapshot())
    assert {f: _read(f) for f in HOST_FILES} == files, "the host's /etc/hosts or /etc/resolv.conf changed"
    assert os.path.exists("/var/run/frr") == frr, "/var/run/frr was created on the host"
    pairs = [n for n in _tmp_names() - tmp if n + ".pub" in _tmp_names() - tmp]
    assert not pairs, f"an SSH key pair was left in /tmp: {pairs}"


@pytest.fixture
def no_mininet_cleanup(monkeypatch):
    """A safety net, not a stand-in: should the export ever let Mininet's `mn -c` run, its commands
    (killall ping mnexec ..., pkill -f mininet:, rm -f /tmp/*.log) are recorded here, not run."""
    import mininet.clean
    ran = []
    monkeypatch.setattr(mininet.clean, "sh", lambda cmd: ran.append(cmd) or "")
    monkeypatch.setattr(mininet.clean, "killprocs", lambda pattern: ran.append("killprocs " + pattern))
    monkeypatch.setattr(mininet.clean, "cleanUpScreens", lambda: ran.append("cleanUpScreens"))
    return ran


def _load(tmp_path, state):
    path = tmp_path / "seed_ipmn.py"
    path.write_text(export.render(state, "ipmininet"))
    return path, runpy.run_path(str(path))


def _processes():
    return subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()


def test_export_runs_under_ipmininet_and_answers(tmp_path, host_untouched, no_mininet_cleanup):
    from mininet.log import setLogLevel
    path, module = _load(tmp_path, scenario_state("seed.yml", "ipt"))
    setLogLevel("warning")
    workdir = tmp_path / "work"
    workdir.mkdir()
    net = module["svclab_net"](str(workdir))
    try:
        net.start()
        client = net["client"]
        for ip in SEED_NODE_IPS.values():
            assert client.cmd(f"curl -s -m 3 {ip}:30090").strip() in WEB_ANSWERS, ip
        seen = {client.cmd(f"curl -s -m 3 {SEED_NODE_IPS['node1']}:30090").strip() for _ in range(30)}
        assert seen == WEB_ANSWERS  # both pods, one of them on another node
        pod = net[SEED_POD_MASTER]
        assert pod.cmd(f"curl -s -m 3 {SEED_CLUSTER_IP}:3000").startswith("You've hit pod-nodeport-")
        assert client.cmd(f"curl -s -m 1 {SEED_CLUSTER_IP}:3000") == ""  # a ClusterIP is not reachable from outside
        node1 = net["node1"]
        assert "--dport 30090 -j KUBE-SVC-GFPAJ7EGCNM4QF4H" in node1.cmd("iptables-save -t nat")
        # plain routers: IPMininet's iptables daemon only (no zebra, no FRR), static routes only
        assert [r.nconfig.daemons for r in net.routers] and all(
            [d.NAME for d in r.nconfig.daemons] == ["iptables"] for r in net.routers)
        routes = node1.cmd("ip route").splitlines()
        assert "10.244.0.0/24 via 192.168.179.99 dev eth0 " in routes and not [r for r in routes if "proto" in r
                                                                               and "proto kernel" not in r]
        # the network is in namespaces only, and IPMininet's files are in its work directory
        assert differences(host_untouched, snapshot()) == "", "the root namespace changed while the network was up"
        assert "iptables_node1.cfg" in os.listdir(workdir)
    finally:
        net.stop()
    assert not [p for p in _processes() if str(path) in p or str(workdir) in p], "a process outlived IPMininet"
    assert not no_mininet_cleanup


def test_sudo_python3_file_with_ipmininets_cli(tmp_path, host_untouched):
    path = tmp_path / "seed_ipmn.py"
    run_lab("export", "--format", "ipmininet", SEED_SCENARIO, "-o", str(path))
    commands = (f"client curl -s -m 3 {SEED_NODE_IPS['node2']}:30090\nnode1 iptables-save -t nat\n"
                f"{SEED_POD_MASTER} curl -s -m 3 {SEED_CLUSTER_IP}:3000\nexit\n")
    tmpdir = tmp_path / "tmp"  # where the script makes its work directory
    tmpdir.mkdir()
    r = subprocess.run(["/usr/bin/python3", str(path)], input=commands, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, TMPDIR=str(tmpdir)))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert out.count("You've hit pod-nodeport-") == 2 and "-j KUBE-SVC-GFPAJ7EGCNM4QF4H" in out, out
    assert "svclab:" not in out, out  # no set-up command failed, no cleanup was asked for
    assert not os.listdir(tmpdir), "the script's work directory was left behind"


def test_ipmininets_error_path_runs_no_mininet_cleanup(tmp_path, host_untouched, no_mininet_cleanup):
    """A rule iptables-restore refuses fails IPMininet's configuration check, after which IPMininet
    calls Mininet's cleanup and exits: the export's cleanup runs instead, and the network still stops."""
    from mininet.log import setLogLevel
    path, module = _load(tmp_path, scenario_state("seed.yml", "ipt"))
    node1 = next(n for n in module["SVCLAB"]["nodes"] if n["name"] == "node1")
    next(t for t in node1["iptables"] if t["table"] == "filter")["rules"] += "-A INPUT --no-such-option -j ACCEPT\n"
    setLogLevel("critical")
    workdir = tmp_path / "work"
    workdir.mkdir()
    net = module["svclab_net"](str(workdir))
    try:
        with pytest.raises(SystemExit):
            net.start()
    finally:
        net.stop()
    assert not no_mininet_cleanup, f"Mininet's cleanup ran: {no_mininet_cleanup}"
    assert not [p for p in _processes() if str(path) in p or str(workdir) in p]
