"""``up``: check the host, read and plan, then run the build steps under the lab's record; on
any failure (or Ctrl-C) take down whatever was made, then re-raise."""

import os
import shutil
import sys
import time

from lab.agents import launch, loadbalancer
from lab.cluster import objects
from lab.cluster.build import build_cluster
from lab.errors import LabError
from lab.kernel import forkserver, netns, processes, record
from lab.live import down, steps
from lab.live.progress import Progress
from lab.net import nginx, wiring
from lab.proxy import modes
from lab.spec import scenario, sources

REQUIRED_TOOLS = ("ip", "nsenter")
FORK_SERVER_KEY = "fork-server/up"
LAB_FORK_SERVER_KEY = "fork-server/lab"  # the same process, once handed over to the lab


def up(scenario_path, name=None, out=None, progress=None, api_server=True):
    """Bring a lab up (with its API server unless ``api_server`` is false); returns (cluster
    state, seconds)."""
    progress = progress or Progress(out or sys.stdout)
    started = time.monotonic()
    with progress.phase("read scenario"):
        files = sources.Sources()
        spec = scenario.load(scenario_path, name, files)
    with progress.phase("plan cluster and network"):
        cluster = build_cluster(spec)
        plan = wiring.plan(cluster, netns.neighbour_limit())
    check_host(modes.of(cluster))
    if nginx.needs_nginx(cluster):
        loadbalancer.check_installed()
    asked = time.monotonic()
    # the agents' code is imported once, by a fork server, while up builds the rest
    with processes.forking(cluster.lab, launch.PRELOAD) as server, record.locked():
        progress.took("wait for other labs' up/down", time.monotonic() - asked)
        existing = record.Record.load(cluster.lab)
        if existing is not None:
            raise LabError(f"lab {cluster.lab!r} is already up (from {existing.scenario_path or '?'}); "
                           f"take it down first with: lab down {cluster.lab}")
        steps.check_names_free(plan.namespace_names)
        progress.say(f"Creating lab {cluster.lab!r} from {scenario_path}")
        lab_record = record.Record.create(cluster.lab, scenario_path, files.texts())
        if server is not None:  # it dies with up, and exits when up is done; recorded meanwhile
            lab_record.add_pid(FORK_SERVER_KEY, server.pid)
        try:
            steps.run_all(steps.UP, steps.Context(lab_record, cluster, plan, progress,
                                                  objects=objects.with_addons(spec, spec.objects),
                                                  api_server=api_server))
            if server is not None:  # from now on the lab's: live changes fork their agents from it
                lab_pid = server.detach(lab_record.path(forkserver.SOCKET_NAME), cluster.nodes[0].netns)
                if lab_pid:
                    lab_record.add_pid(LAB_FORK_SERVER_KEY, lab_pid)
                    server.confirm()
                server.close()
                lab_record.drop_pids([FORK_SERVER_KEY])
        except BaseException:
            down.teardown(lab_record)
            raise
    for warning in cluster.warnings:
        print(f"warning: {warning}", file=sys.stderr if out is None else out)
    return cluster, time.monotonic() - started


def check_host(mode):
    if os.geteuid() != 0:
        raise LabError("svclab builds network namespaces and needs root: run it with sudo")
    missing = [t for t in REQUIRED_TOOLS + mode.tools if shutil.which(t) is None]
    if missing:
        raise LabError(f"missing tools: {', '.join(missing)} (install them with: sudo ./setup)")
    if not os.path.isdir("/proc/sys/net/bridge"):
        raise LabError("the kernel's br_netfilter module is not loaded; pods need it to reach services on their "
                       "own node. Load it with: sudo modprobe br_netfilter (bridged traffic on this host then "
                       "passes through iptables too)")
