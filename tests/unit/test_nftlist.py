"""lab.proxy.nftlist: what ``nft list table ip kube-proxy`` prints after kube-proxy's transaction,
computed without a kernel: a hand-checked small table, nft's canonical rule forms, and ``lab render
nftables``. tests/kernel/test_nftlist_kernel.py checks the same against the real nft (1.0.6) listing
of the same transactions loaded into a scratch namespace."""

import os

import pytest

from factories import NFT_RULE_FORMS, NFT_SMALL, NFT_SMALL_LISTED, SCENARIOS, run_lab
from lab.proxy import nftlist


def test_small_transaction_hand_checked():
    assert nftlist.list_table(NFT_SMALL) == NFT_SMALL_LISTED


@pytest.mark.parametrize("text, listed", NFT_RULE_FORMS)
def test_rule_canonical_forms(text, listed):
    assert nftlist._rule(text) == listed


@pytest.mark.parametrize("seconds, text", [(10800, "3h"), (600, "10m"), (86400, "1d"), (3661, "1h1m1s"),
                                           (90061, "1d1h1m1s")])
def test_timeouts(seconds, text):
    assert nftlist._timeout(f"{seconds}s") == text


@pytest.mark.parametrize("hook, prio, text", [
    ("prerouting", -110, "dstnat - 10"), ("output", -110, "-110"), ("output", -100, "-100"),
    ("postrouting", 90, "srcnat - 10"), ("input", 100, "100"), ("forward", -150, "mangle"),
    ("output", 60, "security + 10"), ("output", -301, "raw - 1"), ("prerouting", -89, "-89"), ("input", 0, "filter")])
def test_priorities(hook, prio, text):
    assert nftlist._priority(hook, str(prio)) == text


# the CLI -----------------------------------------------------------------------------------------

SEED = [os.path.join(SCENARIOS, "seed", f) for f in ("service.yml", "pod-nodeport.yml")]


def test_render_nftables_prints_the_listing_by_default():
    out = run_lab("render", "nftables", *SEED).stdout
    assert out.startswith("table ip kube-proxy {\n\tcomment \"rules for kube-proxy\"\n") and out.endswith("\n}\n")
    assert "\tchain services {\n" in out and "add " not in out
    restore = run_lab("render", "nftables", *SEED, "--form", "restore").stdout
    assert restore.startswith("add table ip kube-proxy\ndelete table ip kube-proxy\n")
    assert run_lab("render", "nftables", *SEED, "--form", "save").stdout == out == nftlist.list_table(restore)
