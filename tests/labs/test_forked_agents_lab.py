"""The agents forked by up's fork server look, to ps, netstat, ss and the lab, as the interpreters
they replace did; the fork server dies with a killed up; once up is done it is the lab's (recorded,
in the master's namespace, holding nothing of up's), forks a live change's new agents, and goes
with down."""

import json
import os
import signal
import subprocess
import sys
import time

from factories import ROOT, SCENARIOS, netns_list, run_lab, unique_lab_name
from test_lifecycle import assert_gone, lab_processes

from lab.kernel import netns, record

FRESH_PYTHON_IGNORED = (1 << (signal.SIGPIPE - 1)) | (1 << (signal.SIGXFSZ - 1))


def status_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        return next(line.split(":", 1)[1].strip() for line in f if line.startswith(name + ":"))

def test_each_agent_has_its_name_command_line_namespace_and_nothing_of_the_fork_server(seed_lab):
    rec = record.Record.load(seed_lab.name)
    pids = dict(rec.pids)
    assert [key for key in pids if key.startswith("fork-server/")] == ["fork-server/lab"]
    server = pids.pop("fork-server/lab")
    assert open(f"/proc/{server}/cmdline", "rb").read().split(b"\0")[:3] == [b"svclab-forkserver", b"--lab",
                                                                              seed_lab.name.encode()]
    ns, master = os.stat(f"/proc/{server}/ns/net"), os.stat(netns.path(f"{seed_lab.name}-master"))
    assert (ns.st_dev, ns.st_ino) == (master.st_dev, master.st_ino)
    assert os.getsid(server) == server
    fds = {fd: os.readlink(f"/proc/{server}/fd/{fd}") for fd in os.listdir(f"/proc/{server}/fd")}
    assert [fds[fd] for fd in ("0", "1", "2")] == ["/dev/null"] * 3
    assert sorted(t for fd, t in fds.items() if fd not in ("0", "1", "2") and not t.startswith("socket:")) == \
        [netns.path(f"{seed_lab.name}-master")], fds
    proxies = {key: pid for key, pid in pids.items() if key.startswith("kube-proxy/")}
    assert sorted(proxies) == ["kube-proxy/master", "kube-proxy/node1", "kube-proxy/node2"]
    assert len(set(proxies.values())) == 3
    for key, pid in pids.items():
        name, node = key.split("/")
        with open(f"/proc/{pid}/comm") as f:
            assert f.read().strip() == name[:15]
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        assert os.path.basename(argv[0]).decode() == name
        assert argv[argv.index(b"--lab") + 1] == seed_lab.name.encode()
        ns = os.stat(f"/proc/{pid}/ns/net")
        home = os.stat(netns.path(f"{seed_lab.name}-{'master' if node == 'master' else node}"))
        assert (ns.st_dev, ns.st_ino) == (home.st_dev, home.st_ino), key
        assert os.getsid(pid) == pid  # a session of its own
        ignored = int(status_field(pid, "SigIgn"), 16)
        if name == "kube-apiserver":  # it ignores SIGHUP itself until it serves
            ignored &= ~(1 << (signal.SIGHUP - 1))
        assert ignored == FRESH_PYTHON_IGNORED, key
        assert int(status_field(pid, "SigBlk"), 16) == 0, key
        fds = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        assert fds["0"] == "/dev/null" and fds["1"] == fds["2"] == rec.path(f"{name}-{node}.log"), (key, fds)
        # nothing else of up's or the fork server's: only sockets and (the API server) the host's namespace
        assert all(t.startswith(("socket:", "net:", "anon_inode:")) for fd, t in fds.items()
                   if fd not in ("0", "1", "2")), (key, fds)
    for node in ("master", "node1", "node2"):
        out = subprocess.run(["ip", "netns", "exec", f"{seed_lab.name}-{node}", "netstat", "-tpln"],
                             capture_output=True, text=True, check=True).stdout
        assert f"{proxies['kube-proxy/' + node]}/kube-proxy" in out, out
    assert [p for p in lab_processes(seed_lab.name) if p not in pids.values() and p != server] == []


def test_a_live_change_forks_its_new_agent_from_the_labs_fork_server_and_down_kills_it(tmp_path):
    before = netns_list()
    name = unique_lab_name("fl")
    run_lab("up", os.path.join(SCENARIOS, "seed.yml"), "--name", name)
    try:
        pids = record.Record.load(name).pids
        server = pids["fork-server/lab"]
        assert "kubia/node1" not in pids  # the seed's two kubia pods run on master and node2
        scaled = tmp_path / "scale5.yml"
        with open(os.path.join(SCENARIOS, "seed", "pod-nodeport.yml")) as f:
            scaled.write_text(f.read().replace("replicas: 2", "replicas: 5"))
        run_lab("apply", "-f", str(scaled), "--lab", name)
        kubia = record.Record.load(name).pids["kubia/node1"]
        assert int(status_field(kubia, "PPid")) == server
        assert open(f"/proc/{kubia}/comm").read().strip() == "kubia"
        ns, node1 = os.stat(f"/proc/{kubia}/ns/net"), os.stat(netns.path(f"{name}-node1"))
        assert (ns.st_dev, ns.st_ino) == (node1.st_dev, node1.st_ino)
    finally:
        run_lab("down", name)
    assert not os.path.exists(f"/proc/{server}") or status_field(server, "State").startswith("Z")
    assert_gone(name, before)

def test_a_killed_up_takes_its_fork_server_along():
    before = netns_list()
    name = unique_lab_name("f")
    proc = subprocess.Popen([sys.executable, "-m", "lab", "up", os.path.join(SCENARIOS, "seed.yml"), "--name", name],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = os.path.join(record.ROOT, name, "state.json")
    server, deadline = None, time.monotonic() + 10
    while server is None and time.monotonic() < deadline and proc.poll() is None:
        try:
            with open(state) as f:
                server = json.load(f)["pids"].get("fork-server/up")
        except (OSError, ValueError):
            pass
    assert server, "up never recorded its fork server"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 2
    while os.path.exists(f"/proc/{server}") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not os.path.exists(f"/proc/{server}") or status_field(server, "State").startswith("Z")
    run_lab("down", name)
    assert_gone(name, before)
