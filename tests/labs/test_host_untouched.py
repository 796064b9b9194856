"""The host's root network namespace is untouched by a lab: before ``up``, while it is up (with
traffic) and after ``down``, its addresses, links, routes, rules, sysctls, iptables and nftables
rulesets are identical. Two labs at once: the load-balancer scenario (nginx too) and the seed."""

import difflib
import os
import re
import shutil
import subprocess

from factories import SCENARIOS, run_lab, unique_lab_name

# Sysctls that change on their own, without any lab. Found by reading every file under
# /proc/sys/net twice, seconds apart, on an idle host: none changed there; this one counts the
# host's live connections (any traffic of the host moves it), so it is left out. Files that
# cannot be read (stable_secret before it is set, the write-only route/flush) are skipped.
VOLATILE_SYSCTLS = {"net/netfilter/nf_conntrack_count"}

LAB_ADDRESS = re.compile(r"\binet6? (192\.168\.179\.|10\.244\.|10\.96\.)")


def _out(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"{' '.join(cmd)}: {r.stderr}"
    return r.stdout


def _sysctls():
    """Every readable file under /proc/sys/net of this (the root) namespace."""
    out = {}
    for directory, _, files in os.walk("/proc/sys/net"):
        for name in files:
            path = os.path.join(directory, name)
            key = path[len("/proc/sys/"):]
            if key in VOLATILE_SYSCTLS:
                continue
            try:
                with open(path) as f:
                    out[key] = f.read().strip()
            except OSError:
                continue
    return out


def _rules(text):
    """iptables-save without its dated comment lines and with counters zeroed."""
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return "\n".join(re.sub(r"\[\d+:\d+\]", "[0:0]", line) for line in lines)


def snapshot():
    snap = {
        "ip -d addr": re.sub(r"(valid|preferred)_lft \d+sec", r"\1_lft N", _out("ip", "-d", "addr")),
        "ip -d link": _out("ip", "-d", "link"),  # no -s: no counters
        "ip route show table all": re.sub(r"expires \d+sec", "expires N", _out("ip", "route", "show", "table", "all")),
        "ip -6 route show table all": re.sub(r"expires \d+sec", "expires N",
                                             _out("ip", "-6", "route", "show", "table", "all")),
        "ip rule": _out("ip", "rule"),
        "ip -6 rule": _out("ip", "-6", "rule"),
        "iptables-save": _rules(_out("iptables-save")),
        "sysctl": _sysctls(),
    }
    if shutil.which("ip6tables-save"):
        snap["ip6tables-save"] = _rules(_out("ip6tables-save"))
    if shutil.which("nft"):
        snap["nft list ruleset"] = re.sub(r"packets \d+ bytes \d+", "packets N bytes N", _out("nft", "list", "ruleset"))
    return snap


def differences(before, after):
    """A readable diff of two snapshots ('' when equal). A kernel module a lab loads (an xt_
    match, say) may add sysctls; settings that existed before must keep their values."""
    out = []
    for key in before:
        a, b = before[key], after[key]
        if key == "sysctl":
            a = "\n".join(f"{k} = {v}" for k, v in sorted(a.items()))
            b = "\n".join(f"{k} = {after['sysctl'][k]}" if k in after["sysctl"] else f"{k} (gone)"
                          for k in sorted(before["sysctl"]))
        if a != b:
            out.append("".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), f"{key} before",
                                                    f"{key} after")))
    return "\n".join(out)


def _processes_naming(*markers):
    args = _out("ps", "-eo", "pid,args").splitlines()[1:]
    return [line for line in args if any(m in line for m in markers)]


def _etc_netns(labs):
    try:
        entries = os.listdir("/etc/netns")
    except FileNotFoundError:
        return []
    return [e for e in entries if any(e.startswith(f"{lab}-") for lab in labs)]


def test_the_root_namespace_is_the_same_before_during_and_after():
    labs = {unique_lab_name("hl"): "loadbalancer.yml", unique_lab_name("hs"): "seed.yml"}
    before = snapshot()
    try:
        for name, file in labs.items():
            run_lab("up", os.path.join(SCENARIOS, file), "--name", name)
        lb, seed = labs
        answers = [
            run_lab("exec", "client", "--lab", seed, "--", "curl", "-s", "-m", "3", "http://192.168.179.100:30090"),
            run_lab("exec", "client", "--lab", lb, "--", "curl", "-s", "-m", "3", "http://192.168.179.240/"),
            run_lab("exec", "node1", "--lab", seed, "--", "curl", "-s", "-m", "3", "http://10.105.182.209:3000"),
        ]
        assert all(a.stdout for a in answers), [a.stdout + a.stderr for a in answers]

        during = snapshot()
        addresses = [line.strip() for line in during["ip -d addr"].splitlines() if LAB_ADDRESS.search(line)]
        assert not addresses, f"lab addresses in the root namespace: {addresses}"
        links = re.findall(r"^\d+: ([^:@]+)", _out("ip", "-o", "link"), re.M)
        assert not [link for link in links if any(lab in link for lab in labs) or link in ("cni0", "lan")]
        assert differences(before, during) == "", "the root namespace changed while the labs were up:\n" + \
            differences(before, during)
    finally:
        for name in labs:
            run_lab("down", name, check=False)

    after = snapshot()
    assert differences(before, after) == "", "the root namespace changed:\n" + differences(before, after)
    assert not _etc_netns(labs), "/etc/netns entries left behind"
    netns = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    assert not [n for n in netns if any(n.startswith(f"{lab}-") for lab in labs)]
    assert not _processes_naming(*(f"--lab {lab}" for lab in labs), *(f"/run/svclab/{lab}/" for lab in labs))
    assert not any(os.path.exists(f"/run/svclab/{lab}") for lab in labs)


def test_the_comparison_is_not_blind():
    """A changed sysctl, an extra address or rule shows in the diff (on copies: the host is not touched)."""
    before = snapshot()
    assert differences(before, snapshot()) == ""
    key = sorted(before["sysctl"])[0]
    after = dict(before, sysctl=dict(before["sysctl"], **{key: "changed"}),
                 **{"ip -d addr": before["ip -d addr"] + "    inet 10.244.0.1/24 scope global cni0\n",
                    "iptables-save": before["iptables-save"] + "\n-A INPUT -j ACCEPT"})
    diff = differences(before, after)
    assert f"+{key} = changed" in diff and "+    inet 10.244.0.1/24" in diff and "+-A INPUT -j ACCEPT" in diff
    gone = dict(before, sysctl={k: v for k, v in before["sysctl"].items() if k != key})
    assert f"+{key} (gone)" in differences(before, gone)
    assert LAB_ADDRESS.search("    inet 10.96.0.1/32 scope global kube-ipvs0")
