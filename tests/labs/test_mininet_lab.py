"""Mininet and IPMininet for real (root): the export runs under Debian's Mininet and answers, and the
CLI attaches to a running lab. Tests that need Mininet are skipped, with the reason, where it is not
installed (./setup installs Debian's mininet package, so CI runs them). Never `mn -c`: every network
built here is stopped by Mininet's own net.stop(), and the host is checked afterwards."""

import runpy
import subprocess
import sys

import pytest

from factories import SEED_NODE_IPS, SEED_PODS, netns_of, run_lab, scenario_state
from lab.tools.mininet import export

NODE_IPS = tuple(SEED_NODE_IPS.values())
WEB_PODS = set(SEED_PODS)

# what Mininet's start-up (Mininet.init -> fixLimits) would raise in the root namespace
HOST_SYSCTLS = ("net.core.wmem_max", "net.core.rmem_max", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
                "net.core.netdev_max_backlog", "net.ipv4.neigh.default.gc_thresh3", "kernel.pty.max")

try:
    import mininet.net  # noqa: F401
    HAVE_MININET = True
except ImportError:
    HAVE_MININET = False
needs_mininet = pytest.mark.skipif(not HAVE_MININET, reason=f"Mininet is not installed for {sys.executable} "
                                   "(Debian's mininet package; ./setup installs it)")


def _root_links():
    return set(subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout.split("\n"))


def _link_names():
    return {line.split(":")[1].strip() for line in _root_links() if line.count(":") >= 2}


def _sysctls():
    return {k: subprocess.run(["sysctl", "-n", k], capture_output=True, text=True).stdout for k in HOST_SYSCTLS}


@pytest.fixture
def host_untouched():
    links, sysctls = _link_names(), _sysctls()
    yield
    assert _link_names() == links, "Mininet left links in the root namespace"
    assert _sysctls() == sysctls, "the root namespace's sysctls changed"


@needs_mininet
def test_export_runs_in_mininet_and_answers(tmp_path, host_untouched):
    from mininet.log import setLogLevel
    from mininet.net import Mininet
    from mininet.nodelib import LinuxBridge
    path = tmp_path / "seed_mn.py"
    path.write_text(export.render(scenario_state("seed.yml", "mxt"), "mininet"))
    module = runpy.run_path(str(path))
    setLogLevel("warning")
    net = Mininet(topo=module["topos"]["svclab"](), switch=LinuxBridge, controller=None)
    try:
        net.start()
        client = net["client"]
        for ip in NODE_IPS:
            assert client.cmd(f"curl -s -m 3 {ip}:30090").strip() in {f"You've hit {p}" for p in WEB_PODS}
        seen = {client.cmd("curl -s -m 3 192.168.179.100:30090").strip() for _ in range(30)}
        assert seen == {f"You've hit {p}" for p in WEB_PODS}
        pod = net["pod-nodeport-6cc49c7999-gdqbg"]
        assert pod.cmd("curl -s -m 3 10.105.182.209:3000").startswith("You've hit pod-nodeport-")
        assert client.cmd("curl -s -m 1 10.105.182.209:3000") == ""  # a ClusterIP is not reachable from outside
        assert "--dport 30090 -j KUBE-SVC-GFPAJ7EGCNM4QF4H" in net["node1"].cmd("iptables-save -t nat")
        hosts = len(net.hosts)
        # every pair answers but the client to pod IPs (not routed outside the cluster)
        assert net.pingAll("1") == pytest.approx(100.0 * 4 / (hosts * (hosts - 1)))
    finally:
        net.stop()
    assert not [p for p in _processes() if str(path) in p], "a pod's server outlived Mininet"


def _processes():
    return subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()


def _processes_in(lab_name):
    """The command lines of what runs in the lab's namespaces (Mininet runs elsewhere on this
    machine too: other tests' shells have the same names)."""
    out = []
    for netns_name in netns_of(lab_name):
        pids = subprocess.run(["ip", "netns", "pids", netns_name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    out.append(f.read().replace(b"\0", b" ").decode().strip())
            except OSError:
                pass
    return out


GUARD = '''
def cleanup():
    """Tests never run Mininet's host-wide cleanup (mn -c), not even after an error."""
'''


@needs_mininet
def test_mn_custom_file_with_the_real_mn(tmp_path, host_untouched):
    path, guard = tmp_path / "seed_mn.py", tmp_path / "guard.py"
    path.write_text(export.render(scenario_state("seed.yml", "mxt"), "mininet"))
    guard.write_text(GUARD)
    commands = "client curl -s -m 3 192.168.179.100:30090\nnode1 iptables-save -t nat\nexit\n"
    r = subprocess.run(["/usr/bin/mn", "--custom", str(path), "--custom", str(guard), "--topo", "svclab",
                        "--switch", "lxbr", "--controller", "none"], input=commands, capture_output=True,
                       text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "You've hit pod-nodeport-" in out and "-j KUBE-SVC-GFPAJ7EGCNM4QF4H" in out
    assert "svclab:" not in out, out  # no set-up command failed


# attaching to a running lab --------------------------------------------------------------

@needs_mininet
def test_mininet_cli_on_a_running_lab(seed_lab, host_untouched):
    commands = ("pingall\nnode1 iptables-save -t nat\nclient curl -s -m 3 192.168.179.100:30090\n"
                "pod-nodeport-6cc49c7999-gdqbg curl -s -m 3 10.105.182.209:3000\nexit\n")
    r = run_lab("mininet-cli", "--lab", seed_lab.name, input=commands, timeout=120)
    out = r.stdout + r.stderr
    assert "client -> master node1 node2 X X X X" in out, out
    pod_lines = [line for line in out.splitlines() if line.startswith("pod-nodeport-")]
    assert len(pod_lines) == 2 and not any(" X" in line for line in pod_lines)
    assert "--dport 30090 -j KUBE-SVC-GFPAJ7EGCNM4QF4H" in out
    assert out.count("You've hit pod-nodeport-") == 2
    assert not [p for p in _processes_in(seed_lab.name) if p.startswith("bash --norc --noediting -is mininet:")]
    # the lab is as it was
    assert seed_lab.curl("client", "http://192.168.179.101:30090").startswith("You've hit")
