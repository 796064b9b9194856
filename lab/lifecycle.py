"""``up`` and ``down``: a short list of steps, each recorded before it acts, undone on failure."""

import dataclasses
import json
import os
import shutil
import sys
import time

from lab import (cluster, etcfiles, events, frontlb, frontlb_runtime, netns, nodenet, processes, scenario,
                 state, wiring, workloads)
from lab.errors import LabError

REQUIRED_TOOLS = ("ip", "iptables-restore", "iptables-save")


class Progress:
    """One line per finished step, kind-style."""

    def __init__(self, out):
        self.out = out
        self.tick = "✓" if (getattr(out, "encoding", "") or "").lower().startswith("utf") else "+"

    def done(self, text):
        print(f" {self.tick} {text}", file=self.out, flush=True)


def up(scenario_path, name=None, out=None):
    """Bring a lab up; on any failure (or Ctrl-C) take down whatever was made, then re-raise."""
    out = out or sys.stdout
    started = time.monotonic()
    spec = scenario.load(scenario_path, name)
    desired = cluster.build(spec)
    plan = wiring.plan(desired)
    _check_host(desired.kube_proxy.mode)
    if frontlb.needs_nginx(desired):
        frontlb_runtime.check_installed()
    with state.locked():
        existing = state.Record.load(desired.lab)
        if existing is not None:
            raise LabError(f"lab {desired.lab!r} is already up (from {existing.data.get('scenario', '?')}); "
                           f"take it down first with: lab down {desired.lab}")
        clash = sorted(set(plan.namespace_names) & netns.existing())
        if clash:
            raise LabError(f"network namespace {clash[0]} already exists and is not this lab's; "
                           f"choose another lab name with --name")
        clash = sorted(n for n in plan.namespace_names if os.path.exists(etcfiles.directory(n)))
        if clash:
            raise LabError(f"{etcfiles.directory(clash[0])} already exists and is not this lab's; "
                           f"choose another lab name with --name")
        print(f"Creating lab {desired.lab!r} from {scenario_path}", file=out)
        record = state.Record.create(desired.lab, scenario_path)
        try:
            _build(record, desired, plan, Progress(out))
        except BaseException:
            _teardown(record)
            raise
    for warning in desired.warnings:
        print(f"warning: {warning}", file=out)
    return desired, time.monotonic() - started


def _check_host(mode="iptables"):
    if os.geteuid() != 0:
        raise LabError("svclab builds network namespaces and needs root: run it with sudo")
    missing = [t for t in REQUIRED_TOOLS + (("nft",) if mode == "nftables" else ()) if shutil.which(t) is None]
    if missing:
        raise LabError(f"missing tools: {', '.join(missing)} (install them with: sudo ./setup)")
    if not os.path.isdir("/proc/sys/net/bridge"):
        raise LabError("the kernel's br_netfilter module is not loaded; pods need it to reach services on their "
                       "own node. Load it with: sudo modprobe br_netfilter (bridged traffic on this host then "
                       "passes through iptables too)")


def _build(record, desired, plan, progress):
    record.save_cluster(desired)
    record.add_namespaces(plan.namespace_names)
    netns.create(plan.namespace_names)
    from lab import dataplane  # pyroute2 costs 0.1 s to import: only where links are made
    with dataplane.Dataplane() as dp:
        dp.build(plan)
    write_etc_files(record, desired)
    _load_rules([(n.netns, nodenet.node_rules(desired)) for n in desired.nodes]
                + ([(desired.lb.netns, nodenet.lb_rules())] if desired.lb else []))
    progress.done(f"Network: {len(plan.namespaces)} namespaces, LAN {desired.lan_cidr}, "
                  f"{len(desired.nodes)} nodes, {len(desired.pods)} pods")
    daemons = _start_kube_proxies(record, desired) + _start_pod_servers(record, desired)
    processes.wait_ready(daemons)
    profile = desired.kube_proxy.profile
    progress.done(f"kube-proxy ({desired.kube_proxy.mode}, profile {profile}) synced on {len(desired.nodes)} nodes")
    progress.done(f"Pods serving: {len(desired.pods)}")
    if frontlb.needs_nginx(desired):
        frontlb_runtime.start(record, desired)
        external = sum(len(s.lb_ips) for s in desired.services)
        progress.done(f"Load balancer {desired.lb.ip}: nginx with {len(desired.frontends)} virtual hosts, "
                      f"{external} LoadBalancer addresses")
    events.record_changes(record, dataclasses.replace(desired, pods=(), services=()), desired)
    record.set_phase("up")


def _start_kube_proxies(record, desired):
    daemons = []
    for node in desired.nodes:
        d = processes.spawn("kube-proxy", "lab.agents.kubeproxy",
                            ["--node", node.name, "--cluster", record.path("cluster.json")],
                            node.netns, record.path(f"kube-proxy-{node.name}.log"), desired.lab, record.path("bin"))
        record.add_pid(f"kube-proxy/{node.name}", d.pid)
        daemons.append(d)
    return daemons


def _load_rules(per_netns):
    """The pod network's and load balancer's own rules (not kube-proxy's), once, at build time."""
    for netns_name, text in per_netns:
        result = processes.run_in(netns_name, ["iptables-restore", "-w", "5", "--noflush"], input=text)
        if result.returncode != 0:
            raise LabError(f"iptables-restore failed in {netns_name}: {result.stderr.strip()}")


def write_etc_files(record, desired, only=None):
    files = {n: t for n, t in etcfiles.files(desired).items() if only is None or n in only}
    record.add_etc_dirs(sorted(files))
    for netns_name, texts in files.items():
        etcfiles.write(netns_name, texts)


def _start_pod_servers(record, desired):
    """One daemon per (node, app): ``kubia`` for the web pods, ``coredns`` for the DNS pods."""
    return [start_pod_server(record, desired, node, app) for node in desired.nodes for app in workloads.APPS
            if write_pod_spec(record, desired, node, app)]


def write_pod_spec(record, desired, node, app):
    """The pods one daemon serves (it re-reads this on SIGHUP). False when there are none."""
    pods = [p for p in desired.pods_on(node.name) if p.app == app]
    with open(record.path(f"{app}-{node.name}.json"), "w") as f:
        json.dump({"pods": [{"name": p.name, "netns": p.netns, "ports": workloads.listen_ports(p)}
                            for p in pods]}, f)
    return bool(pods)


def start_pod_server(record, desired, node, app):
    args = ["--spec", record.path(f"{app}-{node.name}.json")]
    if app == "coredns":
        args += ["--cluster", record.path("cluster.json")]
    else:
        args += ["--app", app]
    d = processes.spawn(app, workloads.MODULES[app], args, node.netns, record.path(f"{app}-{node.name}.log"),
                        desired.lab, record.path("bin"))
    record.add_pid(f"{app}/{node.name}", d.pid)
    return d


def down(lab):
    """Remove everything the lab's record lists. Safe to repeat; safe after a crash."""
    with state.locked():
        record = state.Record.load(lab)
        if record is None:
            return False
        _teardown(record)
        return True


def _teardown(record):
    names = record.namespaces
    pids = [pid for pid in record.pids.values() if processes.is_lab_process(pid, record.lab, record.path())]
    for name in names:
        pids += netns.pids(name)  # anything else still running inside the lab's namespaces
    processes.stop(sorted(set(pids)))
    netns.delete(names)
    for name in record.etc_dirs:
        etcfiles.remove(name)
    record.remove()


def status():
    """One row per lab with a record: name, phase, scenario, age, namespaces present."""
    rows = []
    present = netns.existing()
    for lab in state.labs():
        record = state.Record.load(lab)
        ns = record.namespaces
        alive = [pid for pid in record.pids.values() if processes.is_lab_process(pid, lab, record.path())]
        rows.append({"lab": lab, "phase": record.data.get("phase"), "scenario": record.data.get("scenario"),
                     "age": time.time() - record.created, "namespaces": len(ns),
                     "namespaces_present": sum(1 for n in ns if n in present),
                     "daemons": len(record.pids), "daemons_running": len(alive)})
    return rows


