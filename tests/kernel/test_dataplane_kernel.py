"""The network a plan describes, built with svclab's own rtnetlink client and read back with an
independent one (pyroute2)."""

import json
import subprocess

import pytest
from pyroute2 import IPRoute

from factories import SEED_SCENARIO, unique_lab_name
from lab.cluster.build import build_cluster
from lab.kernel import dataplane, netns
from lab.kernel.record import Record
from lab.live import down
from lab.spec import scenario
from lab.net import wiring


def _links(ipr):
    return {link.get_attr("IFLA_IFNAME"): link for link in ipr.get_links()}


def test_the_kernel_holds_what_the_plan_says():
    """Build the seed's plan (with permanent ARP entries forced on) and read every object back."""
    name = unique_lab_name("dp")
    desired = build_cluster(scenario.load(SEED_SCENARIO, name))
    plan = wiring.plan(desired, neighbour_limit=2)
    record = Record.create(name, SEED_SCENARIO)
    record.add_namespaces(plan.namespace_names)
    try:
        netns.create(plan.namespace_names)
        with dataplane.Dataplane() as dp:
            dp.build(plan)
        seen = {}
        for ns in plan.namespace_names:
            with netns.entered(ns):
                ipr = IPRoute()
            try:
                links = _links(ipr)
                index_to_name = {link["index"]: n for n, link in links.items()}
                seen[ns] = {
                    "links": links, "index_to_name": index_to_name,
                    "addresses": {(index_to_name[a["index"]], f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
                                  for a in ipr.get_addr(family=2)},
                    "routes": {(r.get_attr("RTA_DST") or "default", r.get_attr("RTA_GATEWAY"), table)
                               for table in {r.table for r in plan.routes}
                               for r in ipr.get_routes(family=2, table=table)},
                    "rules": {(r.get_attr("FRA_FWMARK"), r.get_attr("FRA_FWMASK"), r.get_attr("FRA_TABLE"))
                              for r in ipr.get_rules(family=2) if r.get_attr("FRA_FWMARK")},
                    "neighbours": {(n.get_attr("NDA_DST"), n.get_attr("NDA_LLADDR"), n["state"])
                                   for n in ipr.get_neighbours(family=2)},
                }
            finally:
                ipr.close()
        for ns in plan.namespaces:
            assert seen[ns.name]["links"]["lo"]["flags"] & 1, ns.name
        for b in plan.bridges:
            link = seen[b.netns]["links"][b.name]
            assert link["flags"] & 1 and link.get_attr("IFLA_ADDRESS") == b.mac
            assert (b.name, b.address) in seen[b.netns]["addresses"]
        for v in plan.veths:
            host = seen[v.netns]["links"][v.name]
            assert host["flags"] & 1
            assert seen[v.netns]["index_to_name"][host.get_attr("IFLA_MASTER")] == v.bridge
            peer = seen[v.peer_netns]["links"][v.peer]
            assert peer["flags"] & 1 and peer.get_attr("IFLA_ADDRESS") == v.peer_mac
            assert (v.peer, v.peer_address) in seen[v.peer_netns]["addresses"]
            detail = json.loads(subprocess.run(["ip", "-n", v.netns, "-j", "-d", "link", "show", "dev", v.name],
                                               capture_output=True, text=True, check=True).stdout)[0]
            assert detail["linkinfo"]["info_slave_data"]["hairpin"] is v.hairpin
        for a in plan.addresses:
            assert (a.dev, a.address) in seen[a.netns]["addresses"]
        for r in plan.routes:
            dst = "default" if r.dst in ("default", "0.0.0.0/0") else r.dst.split("/")[0]
            assert any(d == dst and gw == r.via and table == r.table for d, gw, table in seen[r.netns]["routes"]), r
        for rule in plan.rules:
            assert (rule.fwmark, rule.mask, rule.table) in seen[rule.netns]["rules"]
        assert plan.neighbours
        for n in plan.neighbours:
            assert (n.ip, n.mac, 0x80) in seen[n.netns]["neighbours"], n  # NUD_PERMANENT
    finally:
        assert down.down(name)
    assert not set(plan.namespace_names) & netns.existing()


def test_a_kernel_refusal_is_raised_with_its_errno():
    name = unique_lab_name("dq")
    record = Record.create(name, SEED_SCENARIO)
    record.add_namespaces([f"{name}-x"])
    try:
        netns.create([f"{name}-x"])
        with netns.entered(f"{name}-x"):
            from lab.kernel.rtnl import Netlink
            nl = Netlink()
        try:
            with pytest.raises(OSError) as caught:
                nl.index("no-such-link")
            assert caught.value.errno == 19  # ENODEV
        finally:
            nl.close()
    finally:
        down.down(name)
