"""Mininet and IPMininet: the export runs under Debian's Mininet and answers; the CLI attaches to a
running lab. Tests that need Mininet are skipped, with the reason, where it is not installed
(./setup installs Debian's mininet package, so CI runs them). Never `mn -c`: every network built
here is stopped by Mininet's own net.stop(), and the host is checked afterwards."""

import os
import runpy
import subprocess
import sys

import pytest

from conftest import ROOT, needs_root, run_lab, seed_lab  # noqa: F401 (seed_lab is a fixture)
from lab.cluster.build import build_cluster
from lab.tools.mininet import export
from lab.spec import scenario

SEED = os.path.join(ROOT, "scenarios", "seed.yml")
NODE_IPS = ("192.168.179.99", "192.168.179.100", "192.168.179.101")
WEB_PODS = {"pod-nodeport-6cc49c7999-5fjdh", "pod-nodeport-6cc49c7999-gdqbg"}
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


def _state(path=SEED, name="mxt"):
    return build_cluster(scenario.load(path, name))


# the files, pure ---------------------------------------------------------------------------

def test_mininet_file_compiles_and_carries_each_nodes_rules():
    state = _state()
    text = export.render(state, "mininet", "scenarios/seed.yml")
    compile(text, "export.py", "exec")
    assert "sudo mn --custom FILE --topo svclab --switch lxbr --controller none" in text
    assert "client curl -s 192.168.179.100:30090" in text
    data = export.export_data(state)
    assert [n["name"] for n in data["nodes"]] == ["master", "node1", "node2"]
    for node in data["nodes"]:
        restore = "".join(r["input"] for r in node["rules"])
        assert "-j KUBE-SVC-GFPAJ7EGCNM4QF4H" in restore and "FLANNEL-POSTRTG" in restore
    assert {p["pod"] for p in data["pods"] if p["app"]} == WEB_PODS
    assert all(p["app"] == "" for p in data["pods"] if p["namespace"] == "kube-system")


def test_nftables_scenario_exports_an_nft_transaction():
    data = export.export_data(_state(os.path.join(ROOT, "scenarios", "nodeport-nft.yml")))
    assert data["nodes"][0]["rules"][-1]["argv"] == ["nft", "-f", "-"]
    assert "table ip kube-proxy" in data["nodes"][0]["rules"][-1]["input"]


def test_ipmininet_file_compiles_with_merged_tables():
    text = export.render(_state(), "ipmininet")
    compile(text, "export.py", "exec")
    assert "from ipmininet.iptopo import IPTopo" in text and "IPNet(topo=SvclabTopo(), allocate_IPs=False" in text
    tables = export.merged_restore(export.node_rules(_state(), "node1"))
    nat = dict(tables)["nat"]
    first_rule = next(i for i, line in enumerate(nat) if not line.startswith(":"))
    assert all(line.startswith(":") for line in nat[:first_rule])
    assert not any(line.startswith(":") for line in nat[first_rule:])


def test_export_verb(tmp_path):
    out = tmp_path / "seed_mn.py"
    r = run_lab("export", "--format", "mininet", SEED, "-o", str(out))
    assert "sudo mn --custom" in r.stdout and out.read_text().startswith('"""svclab lab')
    r = run_lab("export", "--format", "ipmininet", os.path.join(ROOT, "scenarios", "nodeport-nft.yml"), check=False)
    assert r.returncode == 2 and "iptables mode" in r.stderr and "Traceback" not in r.stderr


# running it ------------------------------------------------------------------------------

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


@needs_root
@needs_mininet
def test_export_runs_in_mininet_and_answers(tmp_path, host_untouched):
    from mininet.log import setLogLevel
    from mininet.net import Mininet
    from mininet.nodelib import LinuxBridge
    path = tmp_path / "seed_mn.py"
    path.write_text(export.render(_state(), "mininet"))
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


GUARD = '''
def cleanup():
    """Tests never run Mininet's host-wide cleanup (mn -c), not even after an error."""
'''


@needs_root
@needs_mininet
def test_mn_custom_file_with_the_real_mn(tmp_path, host_untouched):
    path, guard = tmp_path / "seed_mn.py", tmp_path / "guard.py"
    path.write_text(export.render(_state(), "mininet"))
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

def test_attach_members_are_nodes_hosts_and_pods():
    from lab.tools.mininet import attach
    state = _state()
    names = [m[0] for m in attach.members(state)]
    assert names[:4] == ["master", "node1", "node2", "client"] and WEB_PODS <= set(names)
    assert ("pod-nodeport-6cc49c7999-gdqbg", "mxt-pod-nodeport-6cc49c7999-gdqbg", "10.244.0.23", 24) in \
        attach.members(state)


@needs_root
@needs_mininet
def test_mininet_cli_on_a_running_lab(seed_lab, host_untouched):  # noqa: F811
    commands = ("pingall\nnode1 iptables-save -t nat\nclient curl -s -m 3 192.168.179.100:30090\n"
                "pod-nodeport-6cc49c7999-gdqbg curl -s -m 3 10.105.182.209:3000\nexit\n")
    r = run_lab("mininet-cli", "--lab", seed_lab.name, input=commands, timeout=120)
    out = r.stdout + r.stderr
    assert "client -> master node1 node2 X X X X" in out, out
    pod_lines = [line for line in out.splitlines() if line.startswith("pod-nodeport-")]
    assert len(pod_lines) == 2 and not any(" X" in line for line in pod_lines)
    assert "--dport 30090 -j KUBE-SVC-GFPAJ7EGCNM4QF4H" in out
    assert out.count("You've hit pod-nodeport-") == 2
    assert not [p for p in _processes() if p.startswith("bash --norc --noediting -is mininet:")
                and any(p.endswith(":" + n) for n in ("master", "node1", "client"))]
    # the lab is as it was
    assert seed_lab.curl("client", "http://192.168.179.101:30090").startswith("You've hit")
