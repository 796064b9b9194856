"""kube-proxy's first sync in the kernel: svclab's replacing restore of the merged input gives the
very rules kube-proxy's --noflush restores give."""

import os
import subprocess

from factories import SCENARIOS, unique_lab_name
from lab.cluster.build import build_cluster
from lab.live import down
from lab.kernel import netns, record
from lab.spec import scenario
from lab.proxy import iptables, options
from lab.proxy.sync import merged, restore_input


def _restore(netns_name, text, *flags):
    subprocess.run(["ip", "netns", "exec", netns_name, "iptables-restore", *flags], input=text, text=True, check=True)


def _saved(netns_name):
    out = subprocess.run(["ip", "netns", "exec", netns_name, "iptables-save"], capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines() if not line.startswith("#")]


def test_first_sync_replacing_empty_tables_gives_what_noflush_restores_give():
    """kube-proxy restores with --noflush; svclab's first sync on a new node replaces the (empty)
    tables with the merged input instead. The kernel must end up with the very same rules."""
    desired = build_cluster(scenario.load(os.path.join(SCENARIOS, "features.yml")))
    bootstrap = iptables.render_bootstrap(options.PROFILES[desired.kube_proxy.profile])
    rules = restore_input(iptables.render(desired, desired.nodes[1].name))
    name = unique_lab_name("mg")
    names = [f"{name}-a", f"{name}-b"]
    record.Record.create(name, "test").add_namespaces(names)
    try:
        netns.create(names)
        _restore(names[0], bootstrap, "--noflush")
        _restore(names[0], rules, "--noflush")
        _restore(names[1], merged(bootstrap, rules))
        assert len(_saved(names[0])) > 50 and _saved(names[0]) == _saved(names[1])
    finally:
        down.down(name)
