"""No input gives a traceback: machine names the lab or the kernel keeps (lo, br0, all, default, ...)
and Python topologies that exit (sys.exit at import or in build()), raise (anything, BaseException
included, messages of several lines included) or answer nodes()/links()/nodeInfo() with the wrong
types each get one line and exit code 2, through ``diagram``, ``export`` and ``render --topology``.
No root: these verbs read a scenario without a lab."""

import os
import subprocess
import sys

import pytest

from factories import ROOT, SCENARIOS
from lab.errors import InputError
from lab.spec import topology
from lab.spec.topology import RESERVED_MACHINE_NAMES

SERVICE = os.path.join(SCENARIOS, "seed", "service.yml")
THREE_NODE_PY = open(os.path.join(ROOT, "topologies", "three-node.py")).read()


def one_line_exit_2(argv, *words):
    r = subprocess.run([sys.executable, "-m", "lab", *argv], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, (argv, r.returncode, r.stdout[-300:], r.stderr[-2000:])
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    for word in words:
        assert word in r.stderr, (word, r.stderr)
    return r.stderr


@pytest.mark.parametrize("name", ["lo", "br0", "all", "default"])
@pytest.mark.parametrize("role", ["nodes", "hosts"])
def test_reserved_machine_names_are_refused(tmp_path, name, role):
    assert name in RESERVED_MACHINE_NAMES
    first, machine = "{name: n1, ip: 192.168.9.2, podCIDR: 10.244.0.0/24}", f"{{name: {name}, ip: 192.168.9.3"
    machines = (f"nodes: [{first}, {machine}, podCIDR: 10.244.1.0/24}}]\n" if role == "nodes"
                else f"nodes: [{first}]\nhosts: [{machine}}}]\n")
    (tmp_path / "topology.yml").write_text("lan: {cidr: 192.168.9.0/24}\n" + machines)
    path = tmp_path / "scenario.yml"
    path.write_text("topology: topology.yml\nmanifests: []\n")
    index = 1 if role == "nodes" else 0
    one_line_exit_2(["diagram", str(path)], f"topology.yml: {role}[{index}].name: {name!r} is the name of",
                    "named by")


def test_reserved_machine_names_in_a_python_topology(tmp_path):
    for name in ("lo", "br0", "all", "default"):
        path = tmp_path / f"{name}.py"
        path.write_text(THREE_NODE_PY.replace('"client"', f'"{name}"'))
        with pytest.raises(InputError, match=f"hosts\\[0\\].name: '{name}' is the name of"):
            topology.load(str(path))


BUILD = "    def build(self):\n"
TOPOLOGIES = {
    "sys.exit(0) at import": ("import sys\nsys.exit(0)\n" + THREE_NODE_PY, "the file exits (0)"),
    "sys.exit in build()": (THREE_NODE_PY.replace(BUILD, BUILD + "        import sys; sys.exit(0)\n"),
                            "building the topology exits (0)"),
    "sys.exit('text') at import": ("import sys\nsys.exit('bye\\nnow')\n", "the file exits (bye now)"),
    "raise at import": ("raise RuntimeError('at import')\n", "line 1: RuntimeError: at import"),
    "raise in build()": (THREE_NODE_PY.replace(BUILD, BUILD + "        raise ValueError('no')\n"),
                         "building the topology failed: ValueError: no"),
    "a message of two lines": ("raise ValueError('first\\nsecond')\n", "ValueError: first second"),
    "BaseException": ("raise BaseException('base')\n", "BaseException: base"),
    "GeneratorExit in build()": (THREE_NODE_PY.replace(BUILD, BUILD + "        raise GeneratorExit('g')\n"),
                                 "building the topology failed: GeneratorExit: g"),
    "endless recursion": ("def f():\n    f()\nf()\n", "RecursionError"),
    "syntax error": ("def (:\n", "SyntaxError"),
    "nodes() an int": (THREE_NODE_PY.replace("topos = ", "ThreeNode.nodes = lambda self, sort=True: 5\ntopos = "),
                       "reading the topology failed: TypeError"),
    "nodes() of wrong items": (THREE_NODE_PY.replace(
        "topos = ", "ThreeNode.nodes = lambda self, sort=True: [None, 3, ['x']]\ntopos = "),
        "reading the topology failed"),
    "links() of ints": (THREE_NODE_PY.replace(
        "topos = ", "ThreeNode.links = lambda self, sort=False, withKeys=False, withInfo=False: [1, 2]\ntopos = "),
        "reading the topology failed: TypeError"),
    "links() None": (THREE_NODE_PY.replace(
        "topos = ", "ThreeNode.links = lambda self, sort=False, withKeys=False, withInfo=False: None\ntopos = "),
        "reading the topology failed: TypeError"),
    "nodeInfo() an int": (THREE_NODE_PY.replace("topos = ", "ThreeNode.nodeInfo = lambda self, name: 7\ntopos = "),
                          "reading the topology failed: TypeError"),
    "nodes() exits": (THREE_NODE_PY.replace(
        "topos = ", "import sys\nThreeNode.nodes = lambda self, sort=True: sys.exit(3)\ntopos = "),
        "reading the topology failed: SystemExit: 3"),
    "topos of a lambda": ("topos = {'x': lambda: 5}\n", "did not give a Topo"),
    "topos a list": ("topos = [1]\n", "topos: expected a dict with one topology"),
}


@pytest.mark.parametrize("what", sorted(TOPOLOGIES))
def test_python_topologies_that_exit_raise_or_answer_oddly(tmp_path, what):
    text, said = TOPOLOGIES[what]
    topo = tmp_path / "topo.py"
    topo.write_text(text)
    path = tmp_path / "scenario.yml"
    path.write_text(f"topology: {topo}\nmanifests: [{SERVICE}]\n")
    one_line_exit_2(["diagram", str(path)], f"{topo}: ", said, f"named by {path}: topology")
    if what in ("sys.exit(0) at import", "raise in build()", "links() None"):
        one_line_exit_2(["export", str(path)], said)
        one_line_exit_2(["render", "iptables", SERVICE, "--topology", str(topo)], said)
