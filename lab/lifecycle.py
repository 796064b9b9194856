"""``up`` and ``down``: a short list of steps, each recorded before it acts, undone on failure."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time

from lab import (agentgroups, cluster, etcfiles, events, frontlb, frontlb_runtime, netns, nodenet, processes, scenario,
                 state, wiring, workloads)
from lab.errors import LabError
from lab.progress import Progress

REQUIRED_TOOLS = ("ip", "nsenter", "iptables-restore", "iptables-save")


def up(scenario_path, name=None, out=None, progress=None):
    """Bring a lab up; on any failure (or Ctrl-C) take down whatever was made, then re-raise."""
    progress = progress or Progress(out or sys.stdout)
    started = time.monotonic()
    with progress.phase("read scenario"):
        spec = scenario.load(scenario_path, name)
    with progress.phase("plan cluster and network"):
        desired = cluster.build(spec)
        plan = wiring.plan(desired, netns.neighbour_limit())
    _check_host(desired.kube_proxy.mode)
    if frontlb.needs_nginx(desired):
        frontlb_runtime.check_installed()
    asked = time.monotonic()
    with state.locked():
        progress.took("wait for other labs' up/down", time.monotonic() - asked)
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
        progress.say(f"Creating lab {desired.lab!r} from {scenario_path}")
        record = state.Record.create(desired.lab, scenario_path)
        try:
            _build(record, desired, plan, progress)
        except BaseException:
            _teardown(record)
            raise
    for warning in desired.warnings:
        print(f"warning: {warning}", file=sys.stderr if out is None else out)
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
    """Namespaces first; then the agents start (Python takes a while to start) while the links
    are made, as they need only their namespaces to exist; then wait until all have synced."""
    with progress.phase("namespaces"):
        record.save_cluster(desired)
        record.add_namespaces(plan.namespace_names)
        netns.create(plan.namespace_names)
    with progress.phase("start kube-proxy and pod servers"):
        daemons = _start_kube_proxies(record, desired) + _start_pod_servers(record, desired)
    with progress.phase("links, addresses, routes"):
        from lab import dataplane
        with dataplane.Dataplane() as dp:
            dp.build(plan, progress.count)
    with progress.phase("resolv.conf and hosts files"):
        write_etc_files(record, desired)
    progress.done(f"Network: {len(plan.namespaces)} namespaces, LAN {desired.lan_cidr}, "
                  f"{len(desired.nodes)} nodes, {len(desired.pods)} pods")
    with progress.phase("wait for kube-proxy syncs and pod servers"):
        # a kube-proxy serving several nodes of a large lab loads thousands of rules for each
        processes.wait_ready(daemons, timeout=15 + len(desired.nodes) * len(desired.services) / 2000)
    with progress.phase("pod network rules"):  # after kube-proxy's first restore, which replaces the tables
        _load_rules([(n.netns, nodenet.node_rules(desired)) for n in desired.nodes]
                    + ([(desired.lb.netns, nodenet.lb_rules())] if desired.lb else []))
    profile = desired.kube_proxy.profile
    progress.done(f"kube-proxy ({desired.kube_proxy.mode}, profile {profile}) synced on {len(desired.nodes)} nodes")
    progress.done(f"Pods serving: {len(desired.pods)}")
    if frontlb.needs_nginx(desired):
        with progress.phase("front load balancer (nginx)"):
            frontlb_runtime.start(record, desired)
        external = sum(len(s.lb_ips) for s in desired.services)
        progress.done(f"Load balancer {desired.lb.ip}: nginx with {len(desired.frontends)} virtual hosts, "
                      f"{external} LoadBalancer addresses")
    with progress.phase("record events"):
        events.record_changes(record, dataclasses.replace(desired, pods=(), services=()), desired)
        record.set_phase("up")


def _start_kube_proxies(record, desired):
    daemons = []
    for key, members in agentgroups.groups(n.name for n in desired.nodes):
        args = [a for name in members for a in ("--node", name)] + ["--key", key, "--fresh",
                                                                     "--cluster", record.path("cluster.json")]
        d = processes.spawn("kube-proxy", "lab.agents.kubeproxy", args, desired.node(members[0]).netns,
                            record.path(f"kube-proxy-{key}.log"), desired.lab, record.path("bin"))
        record.add_pid(f"kube-proxy/{key}", d.pid)
        daemons.append(d)
    return daemons


def _load_rules(per_netns, at_once=8):
    """The pod network's and load balancer's own rules (not kube-proxy's), once, at build time:
    a few restores at a time, each in its namespace."""
    per_netns = list(per_netns)
    for start in range(0, len(per_netns), at_once):
        running = []
        for name, text in per_netns[start:start + at_once]:
            proc = subprocess.Popen(netns.enter_argv(name) + ["iptables-restore", "-w", "5", "--noflush"],
                                    stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            proc.stdin.write(text)  # a few hundred bytes: the pipe takes it without waiting
            proc.stdin.close()
            running.append((name, proc))
        failures = []
        for name, proc in running:
            err = proc.stderr.read()
            if proc.wait() != 0:
                failures.append(f"iptables-restore failed in {name}: {err.strip()}")
        if failures:
            raise LabError(failures[0])


def write_etc_files(record, desired, only=None):
    files = {n: t for n, t in etcfiles.files(desired).items() if only is None or n in only}
    record.add_etc_dirs(sorted(files))
    for netns_name, texts in files.items():
        etcfiles.write(netns_name, texts)


def _start_pod_servers(record, desired):
    """One daemon per (node group, app): ``kubia`` for the web pods, ``coredns`` for the DNS pods."""
    return [start_pod_server(record, desired, key, members, app)
            for key, members in agentgroups.groups(n.name for n in desired.nodes) for app in workloads.APPS
            if write_pod_spec(record, desired, key, members, app)]


def write_pod_spec(record, desired, key, members, app):
    """The pods one daemon serves (it re-reads this on SIGHUP). False when there are none."""
    pods = [p for node in members for p in desired.pods_on(node) if p.app == app]
    with open(record.path(f"{app}-{key}.json"), "w") as f:
        json.dump({"pods": [{"name": p.name, "netns": p.netns, "ports": workloads.listen_ports(p)}
                            for p in pods]}, f)
    return bool(pods)


def start_pod_server(record, desired, key, members, app):
    args = ["--spec", record.path(f"{app}-{key}.json")]
    if app == "coredns":
        args += ["--cluster", record.path("cluster.json")]
    else:
        args += ["--app", app]
    d = processes.spawn(app, workloads.MODULES[app], args, desired.node(members[0]).netns,
                        record.path(f"{app}-{key}.log"), desired.lab, record.path("bin"))
    record.add_pid(f"{app}/{key}", d.pid)
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
    own = {key: pid for key, pid in record.pids.items() if processes.is_lab_process(pid, record.lab, record.path())}
    # svclab's agents keep nothing worth an orderly exit: they are killed at once; nginx and
    # anything else running in the lab's namespaces (a user's shell) get SIGTERM first
    agents = {pid for key, pid in own.items() if not key.startswith("nginx/")}
    processes.kill_now(sorted(agents))
    others = {pid for pid in own.values() if pid not in agents}
    for name in names:
        others.update(pid for pid in netns.pids(name) if pid not in agents)
    processes.stop(sorted(others))
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


