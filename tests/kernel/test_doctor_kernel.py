"""``lab doctor``'s real probe on this host (root): it passes and leaves nothing behind, names a
module the kernel lacks, and does not touch a scratch namespace that already exists."""

import json
import os
import subprocess

from factories import by_name, doctor_facts, netns_list, netns_of, run_lab
from lab.tools import doctor


def _root_links():
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout.split("\n")


def test_doctor_on_this_host_passes_and_leaves_nothing_behind():
    before_links = [line.split("<")[0] for line in _root_links()]
    r = run_lab("doctor", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("✓ root") and lines[-1].startswith("All required checks passed")
    assert not [line for line in lines if line.startswith("✗")]
    assert "Traceback" not in r.stderr
    assert [line.split("<")[0] for line in _root_links()] == before_links
    assert not netns_of("svclab-doctor")

    j = run_lab("doctor", "--json", check=False)
    doc = json.loads(j.stdout)
    assert j.returncode == 0 and doc["ok"] is True
    assert {c["name"] for c in doc["checks"]} >= {"root", "br_netfilter", "iptables-restore in a namespace"}
    assert all(set(c) == {"name", "ok", "required", "detail", "fix"} for c in doc["checks"])


def test_a_module_the_kernel_lacks_is_named(monkeypatch):
    monkeypatch.setattr(doctor, "IPTABLES_MODULES", doctor.IPTABLES_MODULES + (
        ("nosuchmatch", "filter", "-A INPUT -m nosuchmatch -j ACCEPT"),))
    name = f"svclab-doctor-t{os.getpid()}"
    scratch = doctor._scratch(name, {"iptables-restore": "/usr/sbin/iptables-restore"})
    assert name not in netns_list()
    assert scratch["netns"] is None and scratch["leftover"] is None
    assert list(scratch["iptables_missing"]) == ["nosuchmatch"]
    result = by_name(doctor.evaluate(doctor_facts(scratch=scratch)))["iptables-restore in a namespace"]
    assert result.failed and "nosuchmatch" in result.detail


def test_an_existing_scratch_name_is_not_touched(scratch_netns):
    scratch = doctor._scratch(scratch_netns, {"iptables-restore": "/usr/sbin/iptables-restore"})
    assert "already exists" in scratch["netns"]
    assert scratch_netns in netns_list()
