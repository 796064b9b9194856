"""Verification: scenario checks (lab verify), the reachability matrix, distribution statistics."""

import json
import os
import shutil
import xml.etree.ElementTree as ET

import pytest

from conftest import SCENARIOS, needs_root, run_lab, unique_lab_name
from lab.cluster.build import build_cluster
from lab.verify import dist, expect, stats
from lab.spec import scenario
from lab.errors import InputError

SEED = os.path.join(SCENARIOS, "seed.yml")


# pure -----------------------------------------------------------------------------------------

def test_chi_square_p_values():
    for stat, dof in ((3.841, 1), (5.991, 2), (11.070, 5), (18.307, 10)):  # 5 % critical values
        assert abs(stats._gamma_q(dof / 2, stat / 2) - 0.05) < 2e-4
    assert stats.chi_square([500, 500], [500, 500])[2] == 1.0
    assert stats.chi_square([600, 400], [500, 500])[2] < 1e-6


def seed_state():
    return build_cluster(scenario.load(SEED))


def test_expectations_follow_kubernetes_semantics():
    st = seed_state()
    client, node1 = "k8s-client", "k8s-node1"
    pod = "k8s-pod-nodeport-6cc49c7999-gdqbg"
    assert expect.expect(st, client, "10.105.182.209", 3000).outcome == "unreachable"
    assert expect.expect(st, client, "10.244.0.23", 8080).outcome == "unreachable"
    e = expect.expect(st, client, "192.168.179.100", 30090)
    assert e.outcome == "reached" and e.shares == {"pod-nodeport-6cc49c7999-5fjdh": 0.5,
                                                   "pod-nodeport-6cc49c7999-gdqbg": 0.5}
    assert expect.expect(st, node1, "10.105.182.209", 3000).outcome == "reached"
    assert expect.expect(st, pod, "10.244.2.14", 8080).shares == {"pod-nodeport-6cc49c7999-5fjdh": 1.0}
    assert expect.expect(st, node1, "192.168.179.7", 80).outcome == "unknown"


def test_local_policy_expectations():
    st = build_cluster(scenario.load(os.path.join(SCENARIOS, "loadbalancer.yml")))
    svc = st.service("default", "echo-local")
    port = svc.ports[0].node_port
    with_pods = {e.node for e in st.endpoints_for(svc, svc.ports[0])}
    for node in st.nodes:
        e = expect.expect(st, "lb-client", str(node.ip), port)
        assert e.outcome == ("reached" if node.name in with_pods else "unreachable"), node.name
    via_lb = expect.expect(st, "lb-client", svc.lb_ips[0], 80)
    assert via_lb.outcome == "reached" and abs(sum(via_lb.shares.values()) - 1) < 1e-9


def judged(counts, shares, failures=None, affinity=False):
    e = expect.Expectation("reached", shares, "test", affinity)
    requests = sum(counts.values()) + sum((failures or {}).values())
    return dist.judge(dist.Distribution("client", "url", requests, dict(counts), failures or {}, expectation=e))


def test_distribution_verdicts():
    half = {"a": 0.5, "b": 0.5}
    assert judged({"a": 5030, "b": 4970}, half).passed
    skewed = judged({"a": 6000, "b": 4000}, half)
    assert not skewed.passed and "not the expected split" in skewed.verdict
    assert judged({"a": 100}, half, affinity=True).passed
    assert not judged({"a": 60, "b": 40}, half, affinity=True).passed
    stray = judged({"a": 50, "c": 50}, half)
    assert not stray.passed and "should not: c" in stray.verdict
    failed = judged({"a": 50, "b": 48}, half, failures={"timeout": 2})
    assert not failed.passed and "2 of 100 requests failed" in failed.verdict


def test_check_input_errors(tmp_path):
    text = open(SEED).read()
    (tmp_path / "seed").symlink_to(os.path.join(SCENARIOS, "seed"))
    (tmp_path / "topologies").mkdir()
    shutil.copy(os.path.join(SCENARIOS, "..", "topologies", "three-node.yml"), tmp_path / "topologies")
    for bad, message in (("- {from: client}", "a check has either url or dns"),
                         ("- {from: client, url: x, dns: y, expect: a}", "a check has either url or dns"),
                         ("- {from: client, url: x}", "a check needs expect"),
                         ("- {from: client, url: x, expect: a, timeout: 99}", "is not a timeout")):
        path = tmp_path / "s.yml"
        path.write_text(text.split("checks:")[0].replace("../topologies", "topologies") + "checks:\n  " + bad + "\n")
        with pytest.raises(InputError, match=message):
            scenario.load(str(path))


# end to end -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def seed_name():
    if os.geteuid() != 0:
        pytest.skip("builds network namespaces: run as root")
    name = unique_lab_name("q")
    run_lab("up", SEED, "--name", name)
    try:
        yield name
    finally:
        run_lab("down", name, check=False)


@needs_root
def test_verify_fresh_passes_with_json_and_junit(tmp_path):
    name = unique_lab_name("w")
    junit = tmp_path / "report.xml"
    r = run_lab("verify", SEED, "--lab", name, "--fresh", "--json", "--junit", str(junit), check=False, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    results = json.loads(r.stdout)
    assert len(results) == 8 and all(x["passed"] for x in results)
    dist_check = results[-1]["distribution"]
    assert dist_check["requests"] == 2000 and sum(dist_check["counts"].values()) == 2000
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "8" and suite.get("failures") == "0"
    assert name not in run_lab("status").stdout  # --fresh took it down again


def write_scenario(tmp_path, checks):
    body = open(SEED).read().split("checks:")[0]
    body = body.replace("../topologies/", os.path.join(SCENARIOS, "..", "topologies") + "/")
    body = body.replace("  - seed/", f"  - {SCENARIOS}/seed/")
    path = tmp_path / "s.yml"
    path.write_text(body + "checks:\n" + "".join(f"  - {c}\n" for c in checks))
    return str(path)


def test_a_wrong_expectation_turns_red(seed_name, tmp_path):
    path = write_scenario(tmp_path, [
        "{from: client, url: 'http://{node1}:30090', expect: \"You've hit pod-nodeport-\"}",
        "{from: client, url: 'http://{svc:nodeport-svc}:3000', expect: \"You've hit\", timeout: 1}"])
    junit = tmp_path / "r.xml"
    r = run_lab("verify", path, "--lab", seed_name, "--junit", str(junit), check=False)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[1].endswith("PASS") and lines[2].endswith("FAIL") and "timeout" in lines[2]
    assert "1 passed, 1 failed" in r.stdout
    failure = ET.parse(junit).getroot().find("testcase/failure")
    assert failure.get("message") == "expected You've hit, got timeout"


def test_bad_checks_exit_2(seed_name, tmp_path):
    path = write_scenario(tmp_path, ["{from: client, url: 'http://{svc:nope}:80', expect: reached}"])
    r = run_lab("verify", path, "--lab", seed_name, check=False)
    assert r.returncode == 2 and "checks[0].url: unknown placeholder {svc:nope}" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_lab("verify", SEED, "--lab", "nosuchlab", check=False)
    assert r.returncode == 2 and "is not up" in r.stderr


def test_matrix_has_no_deviations_on_the_seed(seed_name):
    r = run_lab("matrix", "--lab", seed_name, check=False, timeout=60)
    assert r.returncode == 0, r.stdout
    assert "no deviations" in r.stdout
    cells = {(c["from"], c["target"]): c for c in json.loads(run_lab("matrix", "--lab", seed_name, "--json").stdout)}
    assert cells[("client", "nodeport-svc:3000 ClusterIP")]["got"] == "timeout"
    assert cells[("client", "nodeport-svc node2:30090")]["got"] in ("gdqbg", "5fjdh")
    assert cells[("client", "dns nodeport-svc.default")]["got"] == "nxdomain"
    assert cells[("node1", "pod pod-nodeport-6cc49c7999-gdqbg")]["got"] == "gdqbg"
    assert not any(c["deviation"] for c in cells.values())


def test_dist_10000_requests(seed_name):
    r = run_lab("dist", "client", "http://192.168.179.101:30090", "-n", "10000", "--lab", seed_name, "--json",
                timeout=120)
    result = json.loads(r.stdout)
    assert sum(result["counts"].values()) == 10000 and result["failures"] == {}
    assert result["passed"] and 0.001 <= result["p_value"] <= 1
    assert set(result["expected"]) == {"pod-nodeport-6cc49c7999-gdqbg", "pod-nodeport-6cc49c7999-5fjdh"}
    text = run_lab("dist", "client", "http://192.168.179.101:30090", "-n", "200", "--lab", seed_name).stdout
    assert "chi-square =" in text and "verdict: PASS" in text
