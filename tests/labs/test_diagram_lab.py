"""``lab diagram --lab``: a running seed lab drawn from its cluster state (Mermaid, DOT, SVG)."""

import shutil
import xml.etree.ElementTree as ET

from factories import lab_fixture, run_lab, scenario_state
from lab.classroom import diagram


lab = lab_fixture("seed.yml", "dg")


def test_running_lab_is_drawn_from_its_cluster_state(lab, tmp_path):
    expected = diagram.mermaid(diagram.scene(scenario_state("seed.yml", lab.name)))
    assert run_lab("diagram", "--lab", lab.name).stdout == expected
    out = run_lab("diagram", "--lab", lab.name, "--all", "--format", "dot").stdout
    assert f"node node2 ({lab.name}-node2)" in out and "kube-system/kube-dns" in out
    if shutil.which("dot"):
        svg = tmp_path / "lab.svg"
        run_lab("diagram", "--lab", lab.name, "-o", str(svg))
        assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
