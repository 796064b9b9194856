"""``lab doctor``: what the host needs for svclab, checked, and how to fix each gap.

Two halves. ``probe()`` looks at the host and returns plain facts (a dict of strings, numbers
and booleans); it changes nothing in the root network namespace: everything that needs a
namespace happens in a scratch one (``svclab-doctor-<pid>``) that it always deletes.
``evaluate(facts)`` turns facts into results, ``render`` into lines and ``exit_code`` into the
exit code: pure functions, tested without root.
"""

import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

SETUP = "sudo ./setup"
MIN_NOFILE = 4096
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"

# (what the user knows it as, module to import, distribution for the version, Debian package)
PYTHON_PACKAGES = (
    ("yaml", "yaml", "PyYAML", "python3-yaml"),
    ("scapy", "scapy.layers.inet", "scapy", "python3-scapy"),
    ("dnspython", "dns.message", "dnspython", "python3-dnspython"),
)

# (tool, Debian package, required, what needs it)
TOOLS = (
    ("ip", "iproute2", True, "builds the namespaces"),
    ("iptables-restore", "iptables", True, "loads kube-proxy's rules"),
    ("iptables-save", "iptables", True, "shows the rules"),
    ("xtables-monitor", "iptables", False, "lab trace follows packets with it"),
    ("nft", "nftables", False, "lab trace sets trace rules with it"),
    ("conntrack", "conntrack", False, "kube-proxy clears stale UDP flows with it"),
    ("curl", "curl", True, "the tour and the tests probe services with it"),
    ("nslookup", "dnsutils", True, "queries the cluster DNS"),
    ("dig", "dnsutils", True, "queries the cluster DNS"),
    ("netstat", "net-tools", True, "shows kube-proxy's node ports"),
    ("ss", "iproute2", True, "shows sockets"),
    ("nginx", "nginx", True, "the front load balancer"),
)

# kube-proxy's (and the lab's own) match and target modules: (name, table, rule in a built-in chain)
IPTABLES_MODULES = (
    ("comment", "filter", '-A INPUT -m comment --comment "svclab doctor" -j ACCEPT'),
    ("statistic", "nat", "-A PREROUTING -m statistic --mode random --probability 0.50000000000 -j RETURN"),
    ("recent", "nat", "-A PREROUTING -m recent --name SVCLAB-DOCTOR --rcheck --seconds 10800 --reap -j RETURN"),
    ("addrtype", "nat", "-A PREROUTING -m addrtype --dst-type LOCAL -j RETURN"),
    ("conntrack", "filter", "-A FORWARD -m conntrack --ctstate INVALID -j DROP"),
    ("mark", "nat", "-A OUTPUT -m mark --mark 0x4000/0x4000 -j MARK --set-xmark 0x4000/0x4000"),
    ("MASQUERADE", "nat", "-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE"),
    ("DNAT", "nat", "-A PREROUTING -d 192.0.2.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.0.2.2:8080"),
    ("REJECT", "filter", "-A INPUT -d 192.0.2.1/32 -p tcp -j REJECT --reject-with icmp-port-unreachable"),
    ("socket", "mangle", "-A PREROUTING -p tcp -m socket --transparent -j MARK --set-xmark 0x1/0x1"),
    ("mac", "filter", "-A INPUT -m mac --mac-source 02:00:00:00:00:01 -j ACCEPT"),
    ("connmark", "mangle", "-A PREROUTING -m connmark --mark 0x2/0x2 -j CONNMARK --set-xmark 0x2/0x2"),
)


@dataclass(frozen=True)
class HostCheck:
    """One check: ``ok`` True (passed), False (failed) or None (not checked)."""

    name: str
    ok: object
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def failed(self):
        return self.ok is False and self.required

    def as_dict(self):
        return {"name": self.name, "ok": self.ok, "required": self.required, "detail": self.detail,
                "fix": self.fix or None}


# pure logic: facts -> results -> lines and exit code ------------------------------------------

def iptables_backend(version_text):
    """``nf_tables`` or ``legacy`` from ``iptables --version`` output, or None if unreadable."""
    m = re.search(r"iptables v[\d.]+(?:\s+\((\w+)\))?", version_text or "")
    if not m:
        return None
    return m.group(1) or "legacy"  # before 1.8, iptables was legacy only and did not say so


def ruleset(modules):
    """An ``iptables-restore`` input using the named modules (from IPTABLES_MODULES)."""
    tables = {}
    for name, table, rule in IPTABLES_MODULES:
        if name in modules:
            tables.setdefault(table, []).append(rule)
    return "".join(f"*{t}\n" + "".join(r + "\n" for r in rules) + "COMMIT\n" for t, rules in tables.items())


def evaluate(facts):
    """The results for a dict of facts from ``probe()`` (missing facts: not checked)."""
    results = []
    root = facts.get("euid") == 0
    results.append(HostCheck("root", root, "running as root" if root else f"running as uid {facts.get('euid')}",
                          "" if root else "run it with sudo: sudo python3 -m lab doctor"))

    python = facts.get("python", {})
    for label, _module, _dist, deb in PYTHON_PACKAGES:
        got = python.get(label)
        if got is None:
            continue
        ok, text = got
        python3 = facts.get("python_executable", "python3")
        results.append(HostCheck(f"python: {label}", ok, text if ok else f"cannot import: {text}",
                              "" if ok else f"{SETUP} (installs {deb}) for {python3}"))

    tools = facts.get("tools", {})
    for tool, deb, required, why in TOOLS:
        if tool not in tools:
            continue
        where = tools[tool]
        results.append(HostCheck(f"tool: {tool}", bool(where), where or f"not on PATH ({why})",
                              "" if where else f"{SETUP} (installs {deb})", required))
    if "nginx_stream" in facts:
        ok = facts["nginx_stream"]
        results.append(HostCheck("nginx stream module", ok, STREAM_MODULE if ok else f"{STREAM_MODULE} is missing "
                              "(LoadBalancer services need nginx's stream module)",
                              "" if ok else f"{SETUP} (installs libnginx-mod-stream)"))

    if "iptables_version" in facts:
        text = facts["iptables_version"]
        backend = iptables_backend(text)
        results.append(HostCheck("iptables backend", backend is not None,
                              f"{backend} ({text.strip()})" if backend else f"cannot tell from {text.strip()!r}",
                              "" if backend else f"{SETUP} (installs iptables)"))

    if "br_netfilter" in facts:
        ok = facts["br_netfilter"]
        results.append(HostCheck("br_netfilter", ok, "loaded (/proc/sys/net/bridge exists)" if ok else
                              "not loaded: pods could not reach services on their own node",
                              "" if ok else "sudo modprobe br_netfilter"))

    results += _namespace_results(facts, root)

    if "nofile" in facts:
        soft = facts["nofile"]
        ok = soft < 0 or soft >= MIN_NOFILE  # RLIM_INFINITY is -1
        results.append(HostCheck("ulimit -n", ok, f"{'unlimited' if soft < 0 else soft} open files"
                              + ("" if ok else f" (below {MIN_NOFILE}; big labs open many)"),
                              "" if ok else "raise it: ulimit -n 65536 (or LimitNOFILE= for a service)", False))

    if "state_dir" in facts:
        path, error = facts["state_dir"]
        results.append(HostCheck("state dir", error is None, f"{path} is writable" if error is None else
                              f"{path}: {error}", "" if error is None else f"run as root, or make {path} writable"))
    return results


def _namespace_results(facts, root):
    scratch = facts.get("scratch")
    names = ("network namespaces", "veth", "bridge", "iptables-restore in a namespace")
    if scratch is None:
        if not root:
            return [HostCheck(n, None, "not checked: needs root") for n in names]
        return []
    out = []
    netns_error = scratch.get("netns")
    out.append(HostCheck(names[0], netns_error is None,
                      f"created and deleted {scratch.get('name')}" if netns_error is None
                      else f"cannot create {scratch.get('name')}: {netns_error}",
                      "" if netns_error is None else "run as root on a kernel with network namespaces "
                      "(CONFIG_NET_NS); in a container, give it CAP_SYS_ADMIN"))
    if netns_error is not None:
        return out + [HostCheck(n, None, "not checked: no scratch namespace") for n in names[1:]]
    if scratch.get("leftover"):
        out.append(HostCheck("scratch cleanup", False, f"{scratch['name']} could not be deleted: {scratch['leftover']}",
                          f"sudo ip netns delete {scratch['name']}"))
    for key, label, fix in (("veth", names[1], "load the veth module: sudo modprobe veth"),
                            ("bridge", names[2], "load the bridge module: sudo modprobe bridge")):
        error = scratch.get(key)
        out.append(HostCheck(label, error is None, "created in the scratch namespace" if error is None
                          else f"cannot create one: {error}", "" if error is None else fix))
    missing = scratch.get("iptables_missing")
    if missing is not None:
        ok = not missing
        wanted = ", ".join(n for n, _, _ in IPTABLES_MODULES)
        detail = (f"loaded rules using {wanted}" if ok else
                  "rejected: " + "; ".join(f"{name} ({why})" for name, why in sorted(missing.items())))
        out.append(HostCheck(names[3], ok, detail, "" if ok else
                          f"{SETUP} (iptables), and a kernel with these netfilter modules "
                          "(e.g. sudo modprobe xt_" + next(iter(sorted(missing))).lower() + ")"))
    return out


def exit_code(results):
    return 1 if any(r.failed for r in results) else 0


def render(results, unicode=True):
    """One line per check: ``✓ name  detail`` or ``✗ name  detail — fix: how``."""
    marks = {True: "✓", False: "✗", None: "-"} if unicode else {True: "+", False: "x", None: "-"}
    dash = "—" if unicode else "--"
    width = max((len(r.name) for r in results), default=0)
    lines = []
    for r in results:
        mark = "!" if r.ok is False and not r.required else marks[r.ok]
        line = f"{mark} {r.name.ljust(width)}  {r.detail}"
        if r.ok is False and r.fix:
            line += f" {dash} fix: {r.fix}"
        lines.append(line)
    return lines


def summary(results):
    failed = [r for r in results if r.failed]
    warned = [r for r in results if r.ok is False and not r.required]
    if failed:
        return f"{len(failed)} of {len(results)} checks failed: svclab cannot run here until they are fixed."
    extra = f" ({len(warned)} warnings)" if warned else ""
    return f"All required checks passed{extra}: try sudo python3 -m lab up scenarios/seed.yml"


# probing the host ---------------------------------------------------------------------------

def probe(netns_name=None):
    """The facts ``evaluate`` reads. Touches only the scratch namespace, and always deletes it."""
    facts = {"euid": os.geteuid(), "python_executable": sys.executable, "python": _python_packages(),
             "tools": {tool: shutil.which(tool) for tool, *_ in TOOLS}}
    facts["nginx_stream"] = os.path.exists(STREAM_MODULE)
    facts["iptables_version"] = _output(["iptables", "--version"])
    facts["br_netfilter"] = os.path.isdir("/proc/sys/net/bridge")
    facts["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    facts["state_dir"] = _state_dir()
    if facts["euid"] == 0 and facts["tools"]["ip"]:
        facts["scratch"] = _scratch(netns_name or f"svclab-doctor-{os.getpid()}", facts["tools"])
    return facts


def _python_packages():
    import importlib.metadata  # 20 ms: only for lab doctor, not every command's start-up
    out = {}
    for label, module, dist, _ in PYTHON_PACKAGES:
        try:
            importlib.import_module(module)
        except Exception as exc:  # a broken install raises more than ImportError
            out[label] = (False, f"{type(exc).__name__}: {exc}")
            continue
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "installed"
        out[label] = (True, f"{dist} {version}")
    return out


def _output(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot run {argv[0]}: {exc}"
    return (r.stdout + r.stderr).strip()


def _run(argv, input=None):
    """None when ``argv`` succeeded, else its error message (one line)."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20, input=input)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if r.returncode == 0:
        return None
    text = (r.stderr or r.stdout).strip()
    return " / ".join(text.splitlines()[:3]) or f"exit code {r.returncode}"


def _state_dir():
    from lab.kernel import record
    path = record.ROOT
    existing = path
    while not os.path.isdir(existing):  # lab up creates it: check the closest existing parent
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=".doctor-", dir=existing)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        return (path, f"not writable ({exc.strerror})")
    return (path, None)


def _scratch(name, tools):
    """Create ``name``, make a veth pair and a bridge in it, load a ruleset with kube-proxy's
    modules into it, and delete it again (in any case)."""
    from lab.kernel import commands, netns
    facts = {"name": name}
    if name in netns.existing():
        facts["netns"] = f"{name} already exists (left by an earlier doctor?); delete it with: ip netns delete {name}"
        return facts
    try:  # from here on the name is ours: whatever happens (Ctrl-C included), it is deleted
        facts["netns"] = _run(["ip", "netns", "add", name])
        if facts["netns"] is None:
            facts["veth"] = _run(["ip", "-n", name, "link", "add", "sd-veth0", "type", "veth", "peer", "name",
                                  "sd-veth1"])
            facts["bridge"] = _run(["ip", "-n", name, "link", "add", "sd-br0", "type", "bridge"])
            if tools.get("iptables-restore"):
                facts["iptables_missing"] = _iptables_modules(name, commands)
    finally:
        if name in netns.existing():
            facts["leftover"] = _run(["ip", "netns", "delete", name])
    return facts


def _iptables_modules(name, commands):
    """{module: why} for the modules the scratch namespace's iptables-restore rejects."""
    def load(modules):
        r = commands.run(["iptables-restore", "-w", "5"], name, input=ruleset(modules), timeout=20, check=False)
        return None if r.returncode == 0 else " / ".join(r.stderr.strip().splitlines()[:2]) or "rejected"

    everything = [n for n, _, _ in IPTABLES_MODULES]
    if load(everything) is None:
        return {}
    missing = {}
    for module in everything:
        why = load([module])
        if why is not None:
            missing[module] = why
    return missing or {"(together)": "each module loads alone, but not all at once"}
