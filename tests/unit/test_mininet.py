"""Mininet and IPMininet exports, pure: the files compile and carry each node's rules, and the
members a CLI attached to a running lab would have. Running them under Debian's Mininet, and the
CLI on a running lab: tests/labs/test_mininet_lab.py; under IPMininet: tests/labs/test_ipmininet_lab.py."""

import os

from factories import ROOT, SEED_PODS, SEED_SCENARIO, run_lab, scenario_state
from lab.tools.mininet import export

WEB_PODS = set(SEED_PODS)


# the files, pure ---------------------------------------------------------------------------

def test_mininet_file_compiles_and_carries_each_nodes_rules():
    state = scenario_state("seed.yml", "mxt")
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
    data = export.export_data(scenario_state("nodeport-nft.yml", "mxt"))
    assert data["nodes"][0]["rules"][-1]["argv"] == ["nft", "-f", "-"]
    assert "table ip kube-proxy" in data["nodes"][0]["rules"][-1]["input"]


def test_ipmininet_file_compiles_with_merged_tables():
    text = export.render(scenario_state("seed.yml", "mxt"), "ipmininet")
    compile(text, "export.py", "exec")
    assert "from ipmininet.iptopo import IPTopo" in text and "SvclabNet(topo=SvclabTopo(workdir=workdir), allocate_IPs=False" in text
    tables = export.merged_restore(export.node_rules(scenario_state("seed.yml", "mxt"), "node1"))
    nat = dict(tables)["nat"]
    first_rule = next(i for i, line in enumerate(nat) if not line.startswith(":"))
    assert all(line.startswith(":") for line in nat[:first_rule])
    assert not any(line.startswith(":") for line in nat[first_rule:])


def test_export_verb(tmp_path):
    out = tmp_path / "seed_mn.py"
    r = run_lab("export", "--format", "mininet", SEED_SCENARIO, "-o", str(out))
    assert "sudo mn --custom" in r.stdout and out.read_text().startswith('"""svclab lab')
    r = run_lab("export", "--format", "ipmininet", os.path.join(ROOT, "scenarios", "nodeport-nft.yml"), check=False)
    assert r.returncode == 2 and "iptables mode" in r.stderr and "Traceback" not in r.stderr


# attaching to a running lab -------------------------------------------------------------------

def test_attach_members_are_nodes_hosts_and_pods():
    from lab.tools.mininet import attach
    state = scenario_state("seed.yml", "mxt")
    names = [m[0] for m in attach.members(state)]
    assert names[:4] == ["master", "node1", "node2", "client"] and WEB_PODS <= set(names)
    assert ("pod-nodeport-6cc49c7999-gdqbg", "mxt-pod-nodeport-6cc49c7999-gdqbg", "10.244.0.23", 24) in \
        attach.members(state)
