"""kube-proxy's nftables transactions (lab.proxy.nftables) loaded into a scratch network namespace
with the real nft: each golden state loads, reloads from scratch to the same table, and an
incremental sync gives the table a fresh load gives. The pure tests are tests/unit/test_nftables.py.
"""

import json
import subprocess

import pytest

from factories import NFT_GOLDENS, features_state, fixture_state, needs_tools, seed_state
from lab.proxy import names, nftables

pytestmark = needs_tools("ip", "nft", why="loads rules into a network namespace")


def nft_in(ns, *args, input=None):
    result = subprocess.run(["ip", "netns", "exec", ns, "nft", *args], input=input, text=True, capture_output=True)
    assert result.returncode == 0, f"nft {' '.join(args)} failed: {result.stderr}\n{input or ''}"
    return result.stdout


def listing(ns):
    """The table as ``nft -j`` sees it, without handles: {(kind, name): object}, rules per chain in order."""
    objects = json.loads(nft_in(ns, "-j", "list", "table", "ip", "kube-proxy"))["nftables"]
    out = {}
    for obj in objects:
        (kind, body), = obj.items()
        if kind in ("metainfo",):
            continue
        body = {k: v for k, v in body.items() if k != "handle"}
        if kind == "rule":
            out.setdefault(("rules", body["chain"]), []).append(body)
        else:
            if "elem" in body:
                body["elem"] = sorted(json.dumps(e, sort_keys=True) for e in body["elem"])
            out[(kind, body.get("name", ""))] = body
    return out


@pytest.mark.netns
@pytest.mark.parametrize("name", sorted(NFT_GOLDENS))
def test_rendered_transaction_loads_and_reloads(scratch_netns, name):
    make, node, addresses = NFT_GOLDENS[name]
    text = nftables.render(make(), node, addresses)
    nft_in(scratch_netns, "-f", "-", input=text)
    listed = nft_in(scratch_netns, "list", "table", "ip", "kube-proxy")
    assert "map service-ips" in listed and "chain services" in listed
    first = listing(scratch_netns)
    nft_in(scratch_netns, "-f", "-", input=text)  # from scratch again: the same table
    assert listing(scratch_netns) == first
    nft_in(scratch_netns, "-f", "-", input=nftables.render(fixture_state(), "test-node"))


@pytest.mark.netns
def test_incremental_sync_gives_the_table_a_fresh_load_gives(scratch_netns):
    a = nftables.definition(features_state("current"), "node1")
    b = nftables.definition(seed_state("current"), "node1")
    nft_in(scratch_netns, "-f", "-", input=nftables.transaction(a))
    fresh_a = listing(scratch_netns)
    nft_in(scratch_netns, "-f", "-", input=nftables.transaction(b))
    fresh_b = listing(scratch_netns)
    nft_in(scratch_netns, "-f", "-", input=nftables.transaction(a))
    nft_in(scratch_netns, "-f", "-", input=nftables.transaction(b, a))  # a -> b: stale chains and sets go
    assert listing(scratch_netns) == fresh_b
    nft_in(scratch_netns, "-f", "-", input=nftables.transaction(a, b))  # and back
    assert listing(scratch_netns) == fresh_a
    nft_in(scratch_netns, "-f", "-", input=nftables.transaction(a, a))  # a resync that changes nothing
    assert listing(scratch_netns) == fresh_a


@pytest.mark.netns
def test_affinity_entries_survive_an_incremental_sync_only(scratch_netns):
    a = nftables.definition(features_state("current"), "node1")
    nft_in(scratch_netns, "-f", "-", input=nftables.transaction(a))
    sticky = "affinity-" + names.endpoint_chain_base("default", "sticky", "tcp", "", "10.244.1.13", 8080)
    nft_in(scratch_netns, "add", "element", "ip", "kube-proxy", sticky, "{ 10.244.1.77 }")
    nft_in(scratch_netns, "-f", "-", input=nftables.transaction(a, a))
    assert "10.244.1.77" in nft_in(scratch_netns, "list", "set", "ip", "kube-proxy", sticky)
    nft_in(scratch_netns, "-f", "-", input=nftables.transaction(a))
    assert "10.244.1.77" not in nft_in(scratch_netns, "list", "set", "ip", "kube-proxy", sticky)
