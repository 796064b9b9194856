"""Topologies written in Python (lab.topo_api): the same lab as YAML, and one-line errors. No root."""

import dataclasses
import os
import subprocess
import sys

import pytest

from factories import ROOT
from lab.cluster.build import build_cluster
from lab.spec import scenario, topo_api, topology
from lab.errors import InputError

TOPOLOGIES = os.path.join(ROOT, "topologies")


def _same(a, b):
    return dataclasses.replace(a, source="") == dataclasses.replace(b, source="")


def test_three_node_py_is_the_yaml_twin():
    assert _same(topology.load(os.path.join(TOPOLOGIES, "three-node.py")),
                 topology.load(os.path.join(TOPOLOGIES, "three-node.yml")))


def test_dict_is_what_the_yaml_file_holds():
    import yaml
    with open(os.path.join(TOPOLOGIES, "three-node.yml")) as f:
        expected = yaml.safe_load(f)
    assert topo_api.load(os.path.join(TOPOLOGIES, "three-node.py")) == expected


def test_scenario_with_python_topology_gives_the_same_cluster(tmp_path):
    seed = os.path.join(ROOT, "scenarios", "seed.yml")
    text = open(seed).read().replace("../topologies/three-node.yml", os.path.join(TOPOLOGIES, "three-node.py"))
    text = text.replace("seed/", os.path.join(ROOT, "scenarios", "seed") + "/")
    twin = tmp_path / "seed-py.yml"
    twin.write_text(text)
    assert build_cluster(scenario.load(str(twin))) == build_cluster(scenario.load(seed))


def _write(tmp_path, body, name="topo.py"):
    path = tmp_path / name
    path.write_text("from lab.topo_api import Topo\n\n" + body)
    return str(path)


def test_mininet_habits_prefixes_and_topos_dict(tmp_path):
    path = _write(tmp_path, """
class Small(Topo):
    def build(self, workers=2):
        s1 = self.addSwitch("s1")
        for i in range(workers):
            self.addLink(self.addNode("n%d" % i, ip="10.0.0.%d/24" % (i + 10), podCIDR="10.244.%d.0/24" % i), s1)
        self.addLink("h1", s1) if self.addHost("h1", ip="10.0.0.200/24") else None

topos = {"small": lambda: Small(workers=3)}
""")
    topo = topology.load(path)
    assert str(topo.lan_cidr) == "10.0.0.0/24" and str(topo.gateway) == "10.0.0.1"
    assert [n.name for n in topo.nodes] == ["n0", "n1", "n2"] and [h.name for h in topo.hosts] == ["h1"]


@pytest.mark.parametrize("body,field,words", [
    ("class T(Topo):\n    def build(self):\n        self.addNode('n1', ip='10.0.0.2', podCIDR='10.244.0.0/24')\n",
     "addSwitch", "expected one switch"),
    ("class T(Topo):\n    def build(self):\n        s = self.addSwitch('lan', cidr='10.0.0.0/24')\n"
     "        self.addNode('n1', ip='10.0.0.2', podCIDR='10.244.0.0/24')\n",
     "addLink('n1', 'lan')", "not linked to the LAN"),
    ("class T(Topo):\n    def build(self):\n        s = self.addSwitch('lan', cidr='10.0.0.0/24')\n"
     "        self.addLink(self.addNode('n1', ip='10.0.0.2', podCIDR='10.244.0.0/24', cpu=0.5), s)\n",
     "addNode('n1').cpu", "unknown option"),
    ("class T(Topo):\n    def build(self):\n        s = self.addSwitch('lan', cidr='10.0.0.0/24')\n"
     "        self.addLink(self.addNode('n1', ip='10.0.0.2', podCIDR='10.244.0.0/24'), s, bw=10)\n",
     "addLink('n1', 'lan').bw", "unknown link option"),
    ("class T(Topo):\n    def build(self):\n        s = self.addSwitch('lan')\n"
     "        self.addLink(self.addNode('n1', ip='10.0.0.2', podCIDR='10.244.0.0/24'), s)\n",
     "addSwitch('lan').cidr", "not given"),
    ("class T(Topo):\n    def build(self):\n        raise ValueError('oops')\n", "line 5", "ValueError: oops"),
    ("topos = {'a': Topo, 'b': Topo}\n", "topos", "one topology"),
    ("x = (\n", "line 3", "SyntaxError"),
])
def test_errors_name_the_file_and_the_call(tmp_path, body, field, words):
    path = _write(tmp_path, body)
    with pytest.raises(InputError) as err:
        topology.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {field}") and words in message and "\n" not in message


def test_bad_values_are_checked_like_yaml(tmp_path):
    path = _write(tmp_path, "class T(Topo):\n    def build(self):\n        s = self.addSwitch('lan', cidr='10.0.0.0/24')\n"
                  "        self.addLink(self.addNode('n1', ip='10.9.0.2', podCIDR='10.244.0.0/24'), s)\n")
    with pytest.raises(InputError, match="nodes\\[0\\].ip: 10.9.0.2 is not a host address in the LAN"):
        topology.load(path)


def test_cli_gives_one_line_and_exit_2(tmp_path):
    path = _write(tmp_path, "class T(Topo):\n    def build(self):\n        self.addHost('h1')\n")
    r = subprocess.run([sys.executable, "-m", "lab", "render", "iptables", os.path.join(ROOT, "scenarios/seed/service.yml"),
                        "--topology", path], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "expected one switch" in r.stderr
    assert "Traceback" not in r.stderr


def test_render_with_python_topology_matches_yaml():
    args = [sys.executable, "-m", "lab", "render", "iptables", "scenarios/seed/pod-nodeport.yml",
            "scenarios/seed/service.yml", "--node", "node2", "--topology"]
    out = [subprocess.run(args + [f"topologies/three-node.{ext}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=True).stdout for ext in ("yml", "py")]
    assert out[0] == out[1] and "KUBE-NODEPORTS" in out[0]


def test_a_mininet_topo_subclass_reads_the_same(tmp_path):
    pytest.importorskip("mininet.topo", reason="Mininet is not installed for this Python "
                        "(Debian's mininet package; ./setup installs it)")
    path = tmp_path / "mn.py"
    path.write_text("from mininet.topo import Topo\n\n"
                    "class ThreeNode(Topo):\n    def build(self):\n"
                    "        lan = self.addSwitch('lan', cidr='192.168.179.0/24', gateway='192.168.179.1')\n"
                    "        for name, ip, pods in [('master', '192.168.179.99', '10.244.0.0/24'),\n"
                    "                               ('node1', '192.168.179.100', '10.244.1.0/24'),\n"
                    "                               ('node2', '192.168.179.101', '10.244.2.0/24')]:\n"
                    "            self.addLink(self.addNode(name, ip=ip, podCIDR=pods), lan)\n"
                    "        self.addLink(self.addHost('client', ip='192.168.179.200'), lan)\n"
                    "        self.addLink(self.addNode('lb', loadBalancer=True, ip='192.168.179.10',\n"
                    "                                  pool='192.168.179.240-192.168.179.249'), lan)\n")
    assert _same(topology.load(str(path)), topology.load(os.path.join(TOPOLOGIES, "three-node.yml")))
