"""The proxy scaling study (``lab bench proxy``): kube-proxy's real rules for S services, loaded in
a node namespace, and connect() timed from a pod through them. Tiny S, few connections."""

import os

import pytest

from conftest import needs_root, netns_list, run_lab, unique_lab_name
from lab.live import down
from lab.kernel import commands, netns, record
from lab.tools.bench import proxy_testbed, proxy_study as study
from lab.errors import LabError


# the pure part -------------------------------------------------------------------------------------

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
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# in namespaces -------------------------------------------------------------------------------------

@pytest.mark.netns
@needs_root
def test_study_measures_both_modes_and_leaves_nothing():
    prefix = unique_lab_name("bp")
    options = study.Options(sizes=(10, 50), connections=20, warmup=3, runs=2)
    results = proxy_testbed.run(options, prefix, progress=lambda text: None)
    assert [(r.size, r.mode) for r in results] == [(0, "none"), (10, "iptables"), (10, "nftables"),
                                                  (50, "iptables"), (50, "nftables")]
    for r in results[1:]:
        assert len(r.runs) == 2 and all(run["load_s"] > 0 for run in r.runs)
        assert all(run[t]["n"] == 20 and run[t]["median_us"] > 0 for run in r.runs for t in study.TARGETS)
        assert "unload_s" in r.runs[1]
        assert all(("load_flush_s" in run) == (r.mode == "iptables") for run in r.runs)
    assert results[0].summary()["direct"]["median_us"]["median"] > 0
    assert not {n for n in netns_list() if n.startswith(prefix + "-")}
    assert record.Record.load(prefix) is None


@pytest.mark.netns
@needs_root
def test_the_rules_in_the_node_are_kube_proxys_and_connects_go_through_them():
    prefix = unique_lab_name("bp")
    cluster = study.cluster_state(20, "iptables", study.names(prefix))
    rules = study.ruleset(cluster)
    with proxy_testbed.Study(prefix) as st, st.testbed("iptables") as bed:
        bed.load(rules)
        saved = commands.run(["iptables-save", "-t", "nat"], bed.names.node).stdout
        assert sum(1 for x in saved.splitlines() if x.startswith("-A KUBE-SERVICES ")) == 21
        assert sum(1 for x in saved.splitlines() if x.startswith("-A KUBE-SEP-")) == 20 * 2 * 2
        targets = study.targets(cluster)
        counts = {t: len(s) for t, s in bed.connect_times(targets, 5, 1).items()}
        assert counts == {"first": 5, "last": 5, "direct": 5}
        bed.clear()
        saved = commands.run(["iptables-save", "-t", "nat"], bed.names.node).stdout
        assert "KUBE-SERVICES" not in saved
        with pytest.raises(LabError, match="connect from"):  # no DNAT left: nothing answers the ClusterIP
            bed.connect_times({"last": targets["last"]}, 1, 0)
    assert not {n for n in netns_list() if n.startswith(prefix + "-")}


@pytest.mark.netns
@needs_root
def test_lab_down_removes_a_crashed_study():
    prefix = unique_lab_name("bp")
    st = proxy_testbed.Study(prefix).__enter__()
    bed = st.testbed("nftables").__enter__()  # then the process "dies": no __exit__
    for sock in bed.listeners:
        sock.close()
    assert set(bed.names.all) <= netns.existing()
    assert set(record.Record.load(prefix).namespaces) == set(bed.names.all)
    with pytest.raises(LabError, match="is up"):  # the name is taken until then
        proxy_testbed.Study(prefix).__enter__()
    assert down.down(prefix)
    assert not set(bed.names.all) & netns.existing()
    assert not os.path.exists(record.lab_dir(prefix))
