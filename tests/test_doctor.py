"""``lab doctor``: facts into results, lines and an exit code (pure), and the real probe (root)."""

import json
import os
import subprocess

import pytest

from conftest import netns_list, needs_root, run_lab
from lab.tools import doctor

GOOD = {
    "euid": 0,
    "python_executable": "/usr/bin/python3",
    "python": {label: (True, f"{dist} 1.0") for label, _, dist, _ in doctor.PYTHON_PACKAGES},
    "tools": {tool: f"/usr/sbin/{tool}" for tool, *_ in doctor.TOOLS},
    "nginx_stream": True,
    "iptables_version": "iptables v1.8.9 (nf_tables)",
    "br_netfilter": True,
    "nofile": 1048576,
    "state_dir": ("/run/svclab", None),
    "scratch": {"name": "svclab-doctor-1", "netns": None, "veth": None, "bridge": None, "iptables_missing": {},
                "leftover": None},
}


def facts(**changes):
    out = json.loads(json.dumps(GOOD))  # a deep copy
    for key, value in changes.items():
        out[key] = value
    return out


def by_name(results):
    return {r.name: r for r in results}


def test_a_ready_host_passes_every_check():
    results = doctor.evaluate(GOOD)
    assert doctor.exit_code(results) == 0
    names = [r.name for r in results]
    for expected in ("root", "python: yaml", "python: scapy", "python: dnspython",
                     "tool: ip", "tool: iptables-restore", "tool: xtables-monitor", "tool: nginx",
                     "nginx stream module", "iptables backend", "br_netfilter", "network namespaces", "veth",
                     "bridge", "iptables-restore in a namespace", "ulimit -n", "state dir"):
        assert expected in names
    lines = doctor.render(results)
    assert all(line.startswith("✓ ") for line in lines), lines
    assert all("fix:" not in line for line in lines)
    assert "All required checks passed" in doctor.summary(results)


@pytest.mark.parametrize("changes, name, fix", [
    ({"euid": 1000}, "root", "sudo"),
    ({"python": {"dnspython": (False, "ModuleNotFoundError: No module named 'dns'")}}, "python: dnspython",
     "sudo ./setup (installs python3-dnspython)"),
    ({"tools": {"iptables-restore": None}}, "tool: iptables-restore", "sudo ./setup (installs iptables)"),
    ({"tools": {"nginx": None}}, "tool: nginx", "sudo ./setup (installs nginx)"),
    ({"tools": {"dig": None}}, "tool: dig", "sudo ./setup (installs dnsutils)"),
    ({"nginx_stream": False}, "nginx stream module", "libnginx-mod-stream"),
    ({"iptables_version": "something else"}, "iptables backend", "sudo ./setup"),
    ({"br_netfilter": False}, "br_netfilter", "sudo modprobe br_netfilter"),
    ({"state_dir": ("/run/svclab", "not writable (Permission denied)")}, "state dir", "writable"),
    ({"scratch": {"name": "svclab-doctor-1", "netns": "Operation not permitted"}}, "network namespaces",
     "CAP_SYS_ADMIN"),
    ({"scratch": {"name": "n", "netns": None, "veth": "Unknown device type.", "bridge": None,
                  "iptables_missing": {}, "leftover": None}}, "veth", "sudo modprobe veth"),
    ({"scratch": {"name": "n", "netns": None, "veth": None, "bridge": "Unknown device type.",
                  "iptables_missing": {}, "leftover": None}}, "bridge", "sudo modprobe bridge"),
    ({"scratch": {"name": "n", "netns": None, "veth": None, "bridge": None,
                  "iptables_missing": {"socket": "Couldn't load match `socket'"}, "leftover": None}},
     "iptables-restore in a namespace", "modprobe xt_socket"),
])
def test_each_required_gap_fails_with_a_fix(changes, name, fix):
    f = facts(**changes)
    if "tools" in changes:
        f["tools"] = {**GOOD["tools"], **changes["tools"]}
    if "python" in changes:
        f["python"] = {**GOOD["python"], **changes["python"]}
    results = doctor.evaluate(f)
    failed = [r for r in results if r.ok is False]
    assert [r.name for r in failed] == [name]
    assert doctor.exit_code(results) == 1
    line = next(line for line in doctor.render(results) if f" {name} " in line)
    assert line.startswith("✗ ") and " — fix: " in line and fix in line.split(" — fix: ")[1], line
    assert "checks failed" in doctor.summary(results)


def test_missing_iptables_modules_are_named():
    f = facts(scratch={"name": "n", "netns": None, "veth": None, "bridge": None, "leftover": None,
                       "iptables_missing": {"recent": "Couldn't load match `recent'", "mac": "no mac"}})
    line = next(line for line in doctor.render(doctor.evaluate(f)) if "iptables-restore in a namespace" in line)
    assert "mac (no mac)" in line and "recent (Couldn't load match `recent')" in line


def test_warnings_do_not_fail():
    f = facts(nofile=1024)
    f["tools"] = {**GOOD["tools"], "xtables-monitor": None, "conntrack": None}
    results = doctor.evaluate(f)
    assert doctor.exit_code(results) == 0
    warned = [line for line in doctor.render(results) if line.startswith("! ")]
    assert len(warned) == 3
    assert any("ulimit -n" in line and "1024" in line and "fix: " in line for line in warned)
    assert "3 warnings" in doctor.summary(results)


def test_without_root_the_kernel_checks_are_not_run():
    f = facts(euid=1000)
    del f["scratch"]
    results = by_name(doctor.evaluate(f))
    assert results["root"].ok is False
    for name in ("network namespaces", "veth", "bridge", "iptables-restore in a namespace"):
        assert results[name].ok is None and "needs root" in results[name].detail
    assert doctor.exit_code(list(results.values())) == 1


def test_a_scratch_namespace_left_behind_is_reported():
    f = facts(scratch={**GOOD["scratch"], "leftover": "Device or resource busy"})
    result = by_name(doctor.evaluate(f))["scratch cleanup"]
    assert result.failed and "ip netns delete svclab-doctor-1" in result.fix


def test_no_netns_means_the_rest_is_not_checked():
    results = by_name(doctor.evaluate(facts(scratch={"name": "x", "netns": "boom"})))
    assert results["network namespaces"].failed
    assert results["veth"].ok is None and results["iptables-restore in a namespace"].ok is None


@pytest.mark.parametrize("text, backend", [
    ("iptables v1.8.9 (nf_tables)", "nf_tables"),
    ("iptables v1.8.7 (legacy)", "legacy"),
    ("iptables v1.6.1", "legacy"),
    ("bash: iptables: command not found", None),
    ("", None),
])
def test_iptables_backend(text, backend):
    assert doctor.iptables_backend(text) == backend


def test_ruleset_uses_each_module_once_per_table():
    text = doctor.ruleset([n for n, _, _ in doctor.IPTABLES_MODULES])
    assert text.count("COMMIT") == text.count("*") == 3  # filter, nat, mangle
    for module in ("comment", "statistic", "recent", "addrtype", "conntrack", "mark", "socket", "mac", "connmark"):
        assert f"-m {module} " in text
    for target in ("MASQUERADE", "DNAT", "REJECT", "MARK", "CONNMARK"):
        assert f"-j {target}" in text
    assert doctor.ruleset(["mac"]) == "*filter\n-A INPUT -m mac --mac-source 02:00:00:00:00:01 -j ACCEPT\nCOMMIT\n"


def test_ascii_rendering():
    lines = doctor.render(doctor.evaluate(facts(br_netfilter=False)), unicode=False)
    assert any(line.startswith("x br_netfilter") and "-- fix: sudo modprobe br_netfilter" in line for line in lines)
    assert all(line.isascii() for line in lines)


# the real thing --------------------------------------------------------------------------------

def _root_links():
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout.split("\n")


@needs_root
def test_doctor_on_this_host_passes_and_leaves_nothing_behind():
    before_ns, before_links = netns_list(), [line.split("<")[0] for line in _root_links()]
    r = run_lab("doctor", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("✓ root") and lines[-1].startswith("All required checks passed")
    assert not [line for line in lines if line.startswith("✗")]
    assert "Traceback" not in r.stderr
    assert netns_list() == before_ns
    assert [line.split("<")[0] for line in _root_links()] == before_links
    assert not any(n.startswith("svclab-doctor-") for n in netns_list())

    j = run_lab("doctor", "--json", check=False)
    doc = json.loads(j.stdout)
    assert j.returncode == 0 and doc["ok"] is True
    assert {c["name"] for c in doc["checks"]} >= {"root", "br_netfilter", "iptables-restore in a namespace"}
    assert all(set(c) == {"name", "ok", "required", "detail", "fix"} for c in doc["checks"])


@needs_root
def test_a_module_the_kernel_lacks_is_named(monkeypatch):
    monkeypatch.setattr(doctor, "IPTABLES_MODULES", doctor.IPTABLES_MODULES + (
        ("nosuchmatch", "filter", "-A INPUT -m nosuchmatch -j ACCEPT"),))
    name = f"svclab-doctor-t{os.getpid()}"
    scratch = doctor._scratch(name, {"iptables-restore": "/usr/sbin/iptables-restore"})
    assert name not in netns_list()
    assert scratch["netns"] is None and scratch["leftover"] is None
    assert list(scratch["iptables_missing"]) == ["nosuchmatch"]
    result = by_name(doctor.evaluate(facts(scratch=scratch)))["iptables-restore in a namespace"]
    assert result.failed and "nosuchmatch" in result.detail


@needs_root
def test_an_existing_scratch_name_is_not_touched():
    name = f"svclab-doctor-u{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        scratch = doctor._scratch(name, {"iptables-restore": "/usr/sbin/iptables-restore"})
        assert "already exists" in scratch["netns"]
        assert name in netns_list()
    finally:
        subprocess.run(["ip", "netns", "delete", name])
