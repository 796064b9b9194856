"""``lab doctor``: facts into results, lines and an exit code (pure). The real probe, as root, is
tests/kernel/test_doctor_kernel.py."""

import pytest

from factories import DOCTOR_FACTS, by_name, doctor_facts
from lab.tools import doctor


def test_a_ready_host_passes_every_check():
    results = doctor.evaluate(DOCTOR_FACTS)
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
    f = doctor_facts(**changes)
    if "tools" in changes:
        f["tools"] = {**DOCTOR_FACTS["tools"], **changes["tools"]}
    if "python" in changes:
        f["python"] = {**DOCTOR_FACTS["python"], **changes["python"]}
    results = doctor.evaluate(f)
    failed = [r for r in results if r.ok is False]
    assert [r.name for r in failed] == [name]
    assert doctor.exit_code(results) == 1
    line = next(line for line in doctor.render(results) if f" {name} " in line)
    assert line.startswith("✗ ") and " — fix: " in line and fix in line.split(" — fix: ")[1], line
    assert "checks failed" in doctor.summary(results)


def test_missing_iptables_modules_are_named():
    f = doctor_facts(scratch={"name": "n", "netns": None, "veth": None, "bridge": None, "leftover": None,
                              "iptables_missing": {"recent": "Couldn't load match `recent'", "mac": "no mac"}})
    line = next(line for line in doctor.render(doctor.evaluate(f)) if "iptables-restore in a namespace" in line)
    assert "mac (no mac)" in line and "recent (Couldn't load match `recent')" in line


def test_warnings_do_not_fail():
    f = doctor_facts(nofile=1024)
    f["tools"] = {**DOCTOR_FACTS["tools"], "xtables-monitor": None, "conntrack": None}
    results = doctor.evaluate(f)
    assert doctor.exit_code(results) == 0
    warned = [line for line in doctor.render(results) if line.startswith("! ")]
    assert len(warned) == 3
    assert any("ulimit -n" in line and "1024" in line and "fix: " in line for line in warned)
    assert "3 warnings" in doctor.summary(results)


def test_without_root_the_kernel_checks_are_not_run():
    f = doctor_facts(euid=1000)
    del f["scratch"]
    results = by_name(doctor.evaluate(f))
    assert results["root"].ok is False
    for name in ("network namespaces", "veth", "bridge", "iptables-restore in a namespace"):
        assert results[name].ok is None and "needs root" in results[name].detail
    assert doctor.exit_code(list(results.values())) == 1


def test_a_scratch_namespace_left_behind_is_reported():
    f = doctor_facts(scratch={**DOCTOR_FACTS["scratch"], "leftover": "Device or resource busy"})
    result = by_name(doctor.evaluate(f))["scratch cleanup"]
    assert result.failed and "ip netns delete svclab-doctor-1" in result.fix


def test_no_netns_means_the_rest_is_not_checked():
    results = by_name(doctor.evaluate(doctor_facts(scratch={"name": "x", "netns": "boom"})))
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
    lines = doctor.render(doctor.evaluate(doctor_facts(br_netfilter=False)), unicode=False)
    assert any(line.startswith("x br_netfilter") and "-- fix: sudo modprobe br_netfilter" in line for line in lines)
    assert all(line.isascii() for line in lines)
