"""The proxy scaling study (``lab bench proxy``) in namespaces: kube-proxy's real rules for S
services, loaded in a node namespace, and connect() timed from a pod through them. Tiny S, few
connections."""

import os

import pytest

from factories import netns_list, unique_lab_name
from lab.live import down
from lab.kernel import commands, netns, record
from lab.tools.bench import proxy_testbed, proxy_study as study
from lab.errors import LabError


@pytest.mark.netns
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
