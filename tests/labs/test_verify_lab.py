"""Verification on a real seed lab: scenario checks (lab verify, JSON and JUnit), a wrong expectation
turning red, the reachability matrix, and the distribution of 10 000 requests."""

import json
import os
import xml.etree.ElementTree as ET

import pytest

from factories import SCENARIOS, SEED_SCENARIO, run_lab, unique_lab_name


@pytest.fixture(scope="module")
def seed_name():
    name = unique_lab_name("q")
    run_lab("up", SEED_SCENARIO, "--name", name)
    try:
        yield name
    finally:
        run_lab("down", name, check=False)


def test_verify_fresh_passes_with_json_and_junit(tmp_path):
    name = unique_lab_name("w")
    junit = tmp_path / "report.xml"
    r = run_lab("verify", SEED_SCENARIO, "--lab", name, "--fresh", "--json", "--junit", str(junit), check=False,
                timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    results = json.loads(r.stdout)
    assert len(results) == 8 and all(x["passed"] for x in results)
    dist_check = results[-1]["distribution"]
    assert dist_check["requests"] == 2000 and sum(dist_check["counts"].values()) == 2000
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "8" and suite.get("failures") == "0"
    assert name not in run_lab("status").stdout  # --fresh took it down again


def write_scenario(tmp_path, checks):
    body = open(SEED_SCENARIO).read().split("checks:")[0]
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
    r = run_lab("verify", SEED_SCENARIO, "--lab", "nosuchlab", check=False)
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


def test_dist_resolves_a_name_as_the_source_does(seed_name):
    # through the node's own resolver configuration (the cluster DNS), never the host's
    r = run_lab("dist", "node1", "http://nodeport-svc.default.svc.cluster.local:3000/", "-n", "200", "--lab",
                seed_name, "--json", timeout=60)
    result = json.loads(r.stdout)
    assert result["passed"] and sum(result["counts"].values()) == 200, result


@pytest.mark.parametrize("url", ["http://no-such-host.invalid/", "http://10.99.0.1:80/"])
def test_dist_to_what_cannot_answer_counts_failures(seed_name, url):
    # every probe failing at once (a name that does not resolve) or after its timeout: a verdict, not a crash
    r = run_lab("dist", "node1", url, "-n", "1000", "--lab", seed_name, "--json", check=False, timeout=60)
    result = json.loads(r.stdout)
    assert r.returncode == 1 and not result["passed"] and sum(result["failures"].values()) == 1000, r.stderr
