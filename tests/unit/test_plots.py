"""``lab dist --plot``: the chart's data (pure) and the PNG matplotlib draws. A real run:
tests/labs/test_plots_lab.py."""

import sys

import pytest

from factories import PNG_MAGIC, run_lab
from lab.verify import dist, expect
from lab.classroom import plots
from lab.errors import LabError

A, B = "pod-nodeport-6cc49c7999-gdqbg", "pod-nodeport-6cc49c7999-5fjdh"


def judged(counts, shares, failures=None, affinity=False):
    exp = expect.Expectation("reached", shares, "a NodePort", affinity)
    return dist.judge(dist.Distribution("client", "http://192.168.179.100:30090", sum(counts.values()) +
                                        sum((failures or {}).values()), dict(counts), dict(failures or {}),
                                        expectation=exp))


def test_chart_of_an_even_split():
    c = plots.chart(judged({A: 93, B: 107}, {A: 0.5, B: 0.5}))
    assert c.labels == (B, A) and c.counts == (107, 93) and c.expected == (100.0, 100.0) and c.even
    assert c.title.splitlines() == ["200 new connections from client to http://192.168.179.100:30090",
                                    "chi-square p = 0.322 (PASS)"]


def test_chart_with_failures_and_uneven_expectation():
    c = plots.chart(judged({A: 60, B: 2}, {A: 1.0, B: 0.0}, failures={"timeout": 3}))
    assert c.labels == (B, A, "(timeout)") and c.counts == (2, 60, 3)
    assert c.expected == (0.0, 62.0, None) and not c.even and c.failed == (False, False, True)
    assert c.title.endswith("FAIL: 3 of 65 requests failed")


def test_chart_under_session_affinity_expects_no_split():
    c = plots.chart(judged({A: 50}, {A: 0.5, B: 0.5}, affinity=True))
    assert c.expected == (None, None) and not c.even and "PASS" in c.title


@pytest.mark.parametrize("counts, shares, failures", [
    ({A: 93, B: 107}, {A: 0.5, B: 0.5}, None),
    ({A: 60, B: 2}, {A: 1.0, B: 0.0}, {"timeout": 3}),
])
def test_write_draws_a_png(tmp_path, counts, shares, failures):
    path = tmp_path / "dist.png"
    plots.write(judged(counts, shares, failures), str(path))
    assert path.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("name, message", [
    ("dist.jpg", "name the file .png"),
    ("no-such-folder/dist.png", "does not exist"),
])
def test_check_refuses_before_the_run(tmp_path, name, message):
    with pytest.raises(LabError, match=message):
        plots.check(str(tmp_path / name))


def test_check_names_the_package_when_matplotlib_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    with pytest.raises(LabError, match="apt-get install python3-matplotlib"):
        plots.check(str(tmp_path / "dist.png"))


def test_bad_plot_name_is_exit_2_without_a_lab():
    r = run_lab("dist", "client", "http://192.168.179.100:30090", "-n", "50", "--plot", "out.gif",
                "--lab", "nosuchlab", check=False)
    assert r.returncode == 2 and "name the file .png" in r.stderr and len(r.stderr.splitlines()) == 1
