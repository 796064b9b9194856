"""The proxy scaling study (``lab bench proxy``), its pure part: options, the rules for S services,
statistics, the table and the plot. The study itself, in namespaces, is
tests/kernel/test_scaling_study_kernel.py."""

import pytest

from factories import PNG_MAGIC, run_lab
from lab.tools.bench import proxy_study as study
from lab.errors import LabError


def test_options_are_checked():
    assert study.parse_sizes("1000, 100,1_000") == (100, 1000)
    assert study.parse_modes("nftables,iptables,nftables") == ("nftables", "iptables")
    for bad in ("", "0", "ten", "100,-5", str(study.MAX_SIZE + 1)):
        with pytest.raises(LabError):
            study.parse_sizes(bad)
    with pytest.raises(LabError):
        study.parse_modes("ipvs")


@pytest.mark.parametrize("argv", [["--sizes", "x"], ["--modes", "ipvs"], ["--runs", "0"],
                                  ["--connections", "0"], ["--plot", "/no/such/dir/x.png"], ["--plot", "x.svg"],
                                  ["--name", "a b"]])
def test_bad_input_is_one_line_and_exit_2(argv):
    r = run_lab("bench", "proxy", *argv, check=False)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_iptables_rules_walk_the_services_in_name_order():
    state_ = study.cluster_state(12, "iptables", study.names("x"))
    rules = study.ruleset(state_)
    services = [x for x in rules.text.splitlines() if x.startswith("-A KUBE-SERVICES ")]
    assert len(services) == 13 and "svc-00011 cluster IP" in services[-2] and "KUBE-NODEPORTS" in services[-1]
    assert "svc-00000 cluster IP" in services[0]
    # per service: the KUBE-SERVICES jump, masquerade + 2 picks in KUBE-SVC, 2 rules in each of 2 KUBE-SEP
    more = study.ruleset(study.cluster_state(13, "iptables", study.names("x")))
    assert more.rules - rules.rules == 8 and more.chains - rules.chains == 3
    assert study.targets(state_) == {"first": ("10.96.0.100", 80), "last": ("10.96.0.111", 80),
                                     "direct": ("10.244.0.2", 8080)}


def test_nftables_rules_are_kube_proxys_vmap_layout():
    rules = study.ruleset(study.cluster_state(3, "nftables", study.names("x")))
    assert rules.text.startswith("add table ip kube-proxy\ndelete table ip kube-proxy\n")
    assert rules.text.count("numgen random mod 2 vmap {") == 3
    assert rules.elements == 3 * 2 + 1  # cluster-ips and service-ips per service, the node IP in nodeport-ips
    assert "add element ip kube-proxy service-ips { 10.96.0.102 . tcp . 80 : goto service-" in rules.text


def test_statistics_and_table():
    assert study.percentile([1, 2, 3, 4], 50) == 2.5
    assert study.percentile(list(range(101)), 99) == 99
    assert study.latency([10_000, 20_000, 30_000]) == {"median_us": 20.0, "p99_us": 29.8, "n": 3}
    run = lambda load, med: {"load_s": load, **{t: {"median_us": med, "p99_us": med * 2, "n": 5}  # noqa: E731
                                                 for t in study.TARGETS}}
    r = study.StudyResult(size=1000, mode="iptables", rules=8009, runs=[run(0.2, 40), run(0.1, 30), run(0.3, 50)])
    s = r.summary()
    assert s["load_s"] == {"median": 0.2, "min": 0.1, "max": 0.3}
    assert s["last"]["median_us"] == {"median": 40, "min": 30, "max": 50}
    text = study.table([study.StudyResult(size=0, mode="none", runs=[{"direct": run(0, 20)["direct"]}]), r])
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["S", "MODE", "RULES"]
    assert "0.200 s (0.100-0.300)" in lines[2] and "40 / 80 (30-50)" in lines[2]
    assert lines[1].split()[:3] == ["0", "none", "-"]


def test_plot_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    run = {"load_s": 0.1, **{t: {"median_us": 20, "p99_us": 40, "n": 5} for t in study.TARGETS}}
    results = [study.StudyResult(size=s, mode=m, runs=[run]) for s in (10, 100) for m in study.MODES]
    path = tmp_path / "scaling.png"
    study.plot(results + [study.StudyResult(size=0, mode="none", runs=[{"direct": run["direct"]}])], str(path))
    assert path.read_bytes()[:8] == PNG_MAGIC
