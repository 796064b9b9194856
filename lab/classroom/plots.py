"""``lab dist --plot``: a bar chart of connections per pod, the expected split and the p-value.

``chart(result)`` is the picture as plain data (pure); ``write(result, path)`` draws it with
matplotlib, imported only here and only when a plot is asked for.
"""

import os
from dataclasses import dataclass

from lab.errors import LabError

FORMATS = (".png", ".svg", ".pdf")
INSTALL = "apt-get install python3-matplotlib (or pip install matplotlib)"


@dataclass(frozen=True)
class Chart:
    title: str
    labels: tuple  # one per bar: pods, then failures as "(timeout)"
    counts: tuple
    expected: tuple  # per bar, None where nothing is expected (failures, affinity)
    even: bool  # every expected value the same: one line across the chart
    failed: tuple  # per bar: is it a failure bar


def chart(result):
    exp = result.expectation
    answered = sum(result.counts.values())
    pods = sorted(set(exp.shares) | set(result.counts))
    failures = sorted(result.failures)
    labels = tuple(pods) + tuple(f"({kind})" for kind in failures)
    counts = tuple(result.counts.get(p, 0) for p in pods) + tuple(result.failures[k] for k in failures)
    if exp.shares and not exp.affinity:
        expected = tuple(exp.shares.get(p, 0) * answered for p in pods) + (None,) * len(failures)
    else:
        expected = (None,) * len(labels)
    shown = {round(e, 6) for e in expected if e is not None}
    if result.p_value is not None:
        verdict = f"chi-square p = {result.p_value:.3g} ({'PASS' if result.passed else 'FAIL'})"
    else:
        verdict = f"{'PASS' if result.passed else 'FAIL'}: {result.verdict}"
    title = f"{result.requests} new connections from {result.source} to {result.url}\n{verdict}"
    return Chart(title, labels, counts, expected, len(shown) == 1 and None not in expected[:len(pods)],
                 (False,) * len(pods) + (True,) * len(failures))


def check(path):
    """Before a run: can a plot be written there? (So a long run is not wasted.)"""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise LabError(f"--plot {path}: name the file .png (or .svg, .pdf)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise LabError(f"--plot {path}: the folder {folder} does not exist")
    _matplotlib()


def _matplotlib():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise LabError(f"--plot needs matplotlib, which is not installed: {INSTALL}") from None
    return Figure


def write(result, path):
    c = chart(result)
    figure = _matplotlib()(figsize=(max(6.0, 1.6 * len(c.labels) + 2), 4.5))
    ax = figure.add_subplot()
    xs = range(len(c.labels))
    colors = ["#bbbbbb" if f else "#4a90d9" for f in c.failed]
    bars = ax.bar(xs, c.counts, color=colors, edgecolor="#333333", width=0.6)
    ax.bar_label(bars, padding=2)
    expected = [(x, e) for x, e in zip(xs, c.expected) if e is not None]
    if c.even:
        ax.axhline(expected[0][1], color="#d9534f", linestyle="--",
                   label=f"expected even share: {expected[0][1]:.1f} each")
    elif expected:
        ax.hlines([e for _, e in expected], [x - 0.4 for x, _ in expected], [x + 0.4 for x, _ in expected],
                  color="#d9534f", linestyle="--", label="expected")
    if expected:
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xticks(list(xs))
    ax.set_xticklabels(c.labels, rotation=15, ha="right", fontsize=8)
    ax.set_ylabel("connections")
    ax.set_ylim(0, max(list(c.counts) + [e for _, e in expected] + [1]) * 1.35)
    ax.set_title(c.title, fontsize=10)
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=120)
    except OSError as exc:
        raise LabError(f"cannot write --plot {path}: {exc.strerror}") from None

