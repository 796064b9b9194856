"""``lab diagram``: the scene built from a cluster state, its Mermaid and DOT text (golden files),
Graphviz rendering and the command line. A running lab drawn: tests/labs/test_diagram_lab.py.

Golden files are in tests/golden/diagram/. To regenerate them after a deliberate change, run
``SVCLAB_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_diagram.py`` and review the diff.
"""

import difflib
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from factories import ROOT, SEED_SCENARIO, TESTS, UPDATE_GOLDEN, run_lab, scenario_state
from lab.cluster import controllers
from lab.classroom import diagram

GOLDEN_DIR = TESTS / "golden" / "diagram"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


GOLDENS = {
    "seed.mmd": lambda: diagram.mermaid(diagram.scene(scenario_state("seed.yml"))),
    "seed.dot": lambda: diagram.dot(diagram.scene(scenario_state("seed.yml"))),
    "seed-all.dot": lambda: diagram.dot(diagram.scene(scenario_state("seed.yml"), include_system=True)),
    "frontend-vhosts.mmd": lambda: diagram.mermaid(diagram.scene(scenario_state("frontend-vhosts.yml"))),
}


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_golden(name):
    text = GOLDENS[name]()
    path = GOLDEN_DIR / name
    if UPDATE_GOLDEN:
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing; create it with SVCLAB_UPDATE_GOLDEN=1"
    expected = path.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "rendered"))
    assert text == expected, f"diagram differs from {name} (SVCLAB_UPDATE_GOLDEN=1 rewrites it):\n{diff}"


def test_no_stray_golden_files():
    present = {p.name for p in GOLDEN_DIR.iterdir()}
    assert present <= set(GOLDENS), f"golden files no test uses: {sorted(present - set(GOLDENS))}"


# the scene ----------------------------------------------------------------------------------------

def boxes(sc):
    return {b.id: b for g in diagram.all_groups(sc.groups) for b in g.boxes}


def test_seed_scene_has_the_topology_and_the_service_backends():
    sc = diagram.scene(scenario_state("seed.yml"))
    by_id = boxes(sc)
    lan = sc.groups[0]
    assert lan.title == "LAN 192.168.179.0/24"
    assert [g.title for g in lan.groups] == ["node master (k8s-master)", "node node1 (k8s-node1)",
                                             "node node2 (k8s-node2)"]
    assert by_id["cni0_master"].lines == ("cni0", "10.244.0.1/24")
    assert by_id["eth_node2"].lines == ("eth0", "192.168.179.101")
    assert by_id["host_client"].lines == ("client", "192.168.179.200")
    pod = by_id["pod_default_pod_nodeport_6cc49c7999_5fjdh"]
    assert pod.lines == ("pod-nodeport-6cc49c7999-5fjdh", "10.244.2.14  ready") and pod.kind == "pod"
    assert pod.id in {b.id for b in lan.groups[2].boxes}  # the pod sits in node2's box
    svc = by_id["svc_default_nodeport_svc"]
    assert "ClusterIP 10.105.182.209" in svc.lines
    assert "3000/TCP -> 8080, NodePort 30090 on every node" in svc.lines
    backends = {(link.dst, link.label) for link in sc.links if link.src == svc.id}
    assert backends == {("pod_default_pod_nodeport_6cc49c7999_gdqbg", "8080/TCP"),
                        ("pod_default_pod_nodeport_6cc49c7999_5fjdh", "8080/TCP")}


def test_system_objects_only_with_include_system():
    state = scenario_state("seed.yml")
    hidden = boxes(diagram.scene(state))
    assert not any("coredns" in i or "kube_dns" in i or i == "svc_default_kubernetes" for i in hidden)
    shown = diagram.scene(state, include_system=True)
    by_id = boxes(shown)
    assert by_id["pod_kube_system_coredns_6497467d64_zgm5g"].lines[0] == "kube-system/coredns-6497467d64-zgm5g"
    dns = [link for link in shown.links if link.src == "svc_kube_system_kube_dns"]
    assert {link.label for link in dns} == {"53/UDP, 53/TCP, 9153/TCP"} and len(dns) == 2
    # the apiserver's endpoint is the master's own address: the link goes to its eth0
    assert [(link.dst, link.label) for link in shown.links if link.src == "svc_default_kubernetes"] == [
        ("eth_master", "6443/TCP")]


def test_not_ready_pods_nodes_and_terminating_pods_are_marked():
    state = scenario_state("seed.yml")
    state = controllers.set_node_ready(state, "node2", False)
    state = controllers.delete_pod(state, "default", "pod-nodeport-6cc49c7999-gdqbg", terminating=True)
    sc = diagram.scene(state)
    node2 = sc.groups[0].groups[2]
    assert node2.kind == "node-notready" and node2.title.endswith("NotReady")
    kinds = {b.lines[0]: b.kind for b in boxes(sc).values()}
    assert kinds["pod-nodeport-6cc49c7999-gdqbg"] == "pod-terminating"
    assert "-.->" in diagram.mermaid(sc) and "style=dashed" in diagram.dot(sc)


def test_load_balancer_links_to_its_services():
    sc = diagram.scene(scenario_state("loadbalancer.yml"))
    lb = boxes(sc)["lb"]
    assert lb.lines == ("load balancer (nginx)", "192.168.179.10", "holds 192.168.179.240", "holds 192.168.179.241")
    assert {(link.dst, link.label) for link in sc.links if link.kind == "lb"} == {
        ("svc_default_echo_cluster", "192.168.179.240:80"), ("svc_default_echo_local", "192.168.179.241:80")}
    local = boxes(sc)["svc_default_echo_local"]
    assert local.lines[1] == "LoadBalancer, externalTrafficPolicy Local"


def test_text_is_escaped():
    sc = diagram.Scene('a "quoted" <title>', (diagram.Group("g", 'say "hi"', "lan", (
        diagram.Box("b", ('x "y"', "a<b>"), "host"),)),), ())
    mermaid = diagram.mermaid(sc)
    assert 'title: "a \\"quoted\\" <title>"' in mermaid
    assert 'b["x #quot;y#quot;<br/>a#lt;b#gt;"]' in mermaid and 'g["say #quot;hi#quot;"]' in mermaid
    assert 'label="x \\"y\\"\\na<b>"' in diagram.dot(sc)


def test_ids_of_distinct_names_are_distinct():
    assert diagram._id("pod", "default", "a-b") != diagram._id("pod", "default", "a.b")
    assert diagram._id("pod", "default", "web-1") == "pod_default_web_1"


def test_same_state_same_text():
    assert diagram.dot(diagram.scene(scenario_state("features.yml"))) == \
        diagram.dot(diagram.scene(scenario_state("features.yml")))


# Graphviz -----------------------------------------------------------------------------------------

@needs_dot
def test_dot_renders_svg_and_png():
    text = diagram.dot(diagram.scene(scenario_state("seed.yml"), include_system=True))
    svg = diagram.render_with_dot(text, "svg")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "pod-nodeport-6cc49c7999-5fjdh" in texts and "ClusterIP 10.105.182.209" in texts
    png = diagram.render_with_dot(text, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10000


# the command line (no root, no lab) -------------------------------------------------------------

def test_cli_prints_mermaid_for_a_scenario():
    out = run_lab("diagram", SEED_SCENARIO).stdout
    assert out == (GOLDEN_DIR / "seed.mmd").read_text()
    assert run_lab("diagram", SEED_SCENARIO, "--format", "dot").stdout == (GOLDEN_DIR / "seed.dot").read_text()


@needs_dot
@pytest.mark.parametrize("ext, magic", [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_cli_writes_a_file_whose_format_follows_its_name(tmp_path, ext, magic):
    out = tmp_path / f"seed.{ext}"
    r = run_lab("diagram", SEED_SCENARIO, "-o", str(out))
    assert out.read_bytes().startswith(magic) and f"Wrote {out}" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--lab", "x"], "give a scenario file or --lab LAB, not both"),
    (["-o", "out.jpg"], "cannot tell the format from '.jpg'"),
    (["-o", "/nonexistent-dir/out.dot"], "cannot write -o /nonexistent-dir/out.dot"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args, message):
    r = run_lab("diagram", SEED_SCENARIO, *args, check=False)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


def test_cli_without_dot_names_the_package(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no dot on this PATH
    r = subprocess.run([sys.executable, "-m", "lab", "diagram", SEED_SCENARIO, "--format", "png",
                        "-o", str(tmp_path / "x.png")], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "apt-get install graphviz" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_cli_missing_scenario_file():
    r = run_lab("diagram", "no-such-scenario.yml", check=False)
    assert r.returncode == 2 and "file not found" in r.stderr and "Traceback" not in r.stderr


def test_running_lab_that_is_not_up():
    r = run_lab("diagram", "--lab", "nosuchlab", check=False)
    assert r.returncode == 2 and "is not up" in r.stderr
