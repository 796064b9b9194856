"""The proxy scaling study, the pure part: the workload, its rules, the statistics, the report.

S ClusterIP services (``default/svc-00000`` …, port 80 -> 8080), each with the same two
endpoints, on one node. Their rules come from svclab's own renderers of kube-proxy (profile
``current``): ``iptables.render`` for what kube-proxy feeds ``iptables-restore --noflush``,
``nftables.render`` for its ``nft -f`` transaction. The topology is one node namespace with a
``cni0`` bridge, two endpoint pods and a client pod on it. With br_netfilter, the client's
connections, even those straight to a pod IP, pass through the node's nat hooks, so the
iptables walk of KUBE-SERVICES is paid by every new connection.

The side effects (namespaces, loading, connecting) are in ``lab.scaling_runtime``.
"""

import ipaddress
import json
import math
import statistics
from dataclasses import dataclass, field

from lab.cluster import model
from lab.errors import LabError
from lab.net import wiring
from lab.proxy import modes

MODES = ("iptables", "nftables")
DEFAULT_SIZES = (100, 1000, 5000, 10000)
MAX_SIZE = 100000
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
CLUSTER_CIDR = ipaddress.ip_network("10.244.0.0/16")
POD_CIDR = ipaddress.ip_network("10.244.0.0/24")
NODE_IP = ipaddress.ip_address("192.168.179.100")  # the node's LAN address in the rules (no LAN here)
GATEWAY = POD_CIDR.network_address + 1  # cni0
ENDPOINT_IPS = (POD_CIDR.network_address + 2, POD_CIDR.network_address + 3)
CLIENT_IP = POD_CIDR.network_address + 4
SERVICE_PORT, TARGET_PORT = 80, 8080
FIRST_CLUSTER_IP = SERVICE_CIDR.network_address + 100  # clear of kubernetes (.1) and kube-dns (.10)
TARGETS = ("first", "last", "direct")  # first / last service's ClusterIP, an endpoint pod's own IP


@dataclass(frozen=True)
class Options:
    sizes: tuple = DEFAULT_SIZES
    modes: tuple = MODES
    connections: int = 300
    warmup: int = 20
    runs: int = 3
    baseline: bool = True  # also a node with no rules at all (direct connects only)


# options -----------------------------------------------------------------------------------------

def parse_sizes(text):
    sizes = []
    for part in text.split(","):
        part = part.strip().replace("_", "")
        if not part.isdigit() or not 1 <= int(part) <= MAX_SIZE:
            raise LabError(f"--sizes: {part!r} is not a number of services from 1 to {MAX_SIZE} "
                           "(give a comma-separated list, e.g. 100,1000,5000,10000)")
        sizes.append(int(part))
    return tuple(sorted(set(sizes)))


def parse_modes(text):
    modes = tuple(dict.fromkeys(m.strip() for m in text.split(",")))
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise LabError(f"--modes: unknown mode {bad[0] if bad else text!r} (use iptables, nftables or both)")
    return modes


def positive(name, value, minimum=1):
    if value < minimum:
        raise LabError(f"{name} must be at least {minimum} (got {value})")
    return value


# the workload --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Names:
    """The namespaces of one testbed, all under the study's unique prefix."""

    node: str
    pods: tuple
    client: str

    @property
    def all(self):
        return (self.node,) + self.pods + (self.client,)


def names(prefix):
    return Names(f"{prefix}-node", (f"{prefix}-pod0", f"{prefix}-pod1"), f"{prefix}-client")


def service_name(index, size):
    return f"svc-{index:0{max(5, len(str(size - 1)))}d}"  # zero-padded: name order is index order


def cluster_state(size, mode, netns_names):
    """The cluster kube-proxy sees: ``size`` ClusterIP services, every one backed by both pods."""
    endpoints = tuple(model.Endpoint(ip=ip, port=TARGET_PORT, node="node", pod=f"pod{i}")
                      for i, ip in enumerate(ENDPOINT_IPS))
    services, by_port = [], {}
    for i in range(size):
        name = service_name(i, size)
        services.append(model.Service(
            namespace="default", name=name, type="ClusterIP", cluster_ip=str(FIRST_CLUSTER_IP + i),
            ports=(model.ServicePort(name="", protocol="TCP", port=SERVICE_PORT, target_port=TARGET_PORT),),
            selector=(("app", "scaling"),)))
        by_port[("default", name, "")] = endpoints
    node = model.Node(name="node", hostname="node", ip=NODE_IP, pod_cidr=POD_CIDR, netns=netns_names.node)
    return model.ClusterState(
        lab="scaling", lan_cidr=ipaddress.ip_network(f"{NODE_IP}/24", strict=False), gateway=GATEWAY,
        nodes=(node,), hosts=(), service_cidr=SERVICE_CIDR, cluster_cidr=CLUSTER_CIDR, domain="cluster.local",
        kube_proxy=model.KubeProxyConfig(mode=mode, profile="current"), pods=(), services=tuple(services),
        endpoints=by_port)


@dataclass(frozen=True)
class StudyRules:
    mode: str
    bootstrap: str  # loaded first, not timed (iptables: kube-proxy's jump chains; nftables: nothing)
    text: str  # what kube-proxy loads in one sync, timed
    rules: int
    chains: int
    elements: int

    def describe(self):
        return f"{self.rules} rules" + (f", {self.elements} elements" if self.mode == "nftables" else "")


def ruleset(cluster):
    """kube-proxy's first sync on the node, exactly as svclab's renderers write it."""
    mode = modes.of(cluster)
    loads = mode.initial_loads(cluster, "node")  # iptables: the jump chains, then the rules
    bootstrap, text = ("", loads[0][1]) if len(loads) == 1 else (loads[0][1], loads[1][1])
    rules, chains, elements = mode.size(text)
    return StudyRules(mode.name, bootstrap, text, rules=rules, chains=chains, elements=elements)


def targets(cluster):
    """{target: (ip, port)}: the first and last service in KUBE-SERVICES order, and a pod directly."""
    ordered = sorted(cluster.services, key=lambda s: (s.namespace, s.name))
    return {"first": (ordered[0].cluster_ip, SERVICE_PORT), "last": (ordered[-1].cluster_ip, SERVICE_PORT),
            "direct": (str(ENDPOINT_IPS[0]), TARGET_PORT)}


def topology_plan(netns_names, mode):
    """One node with ``cni0``, the two endpoint pods and the client pod on it. IPv6 off everywhere."""
    node = netns_names.node
    pods = tuple(zip(netns_names.pods + (netns_names.client,), ENDPOINT_IPS + (CLIENT_IP,)))
    return wiring.Plan(
        namespaces=(wiring.Namespace(node, "node", wiring.node_sysctls(mode)),)
        + tuple(wiring.Namespace(ns, "pod", wiring.COMMON_SYSCTLS) for ns, _ in pods),
        bridges=(wiring.Bridge(node, wiring.POD_BRIDGE, f"{GATEWAY}/{POD_CIDR.prefixlen}"),),
        veths=tuple(wiring.Veth(node, f"veth{i}", wiring.POD_BRIDGE, ns, wiring.ETH, f"{ip}/{POD_CIDR.prefixlen}",
                                hairpin=True) for i, (ns, ip) in enumerate(pods)),
        routes=tuple(wiring.Route(ns, "default", str(GATEWAY)) for ns, _ in pods))


# statistics ----------------------------------------------------------------------------------------

def percentile(values, q):
    """The q-th percentile (0-100), linear between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency(samples_ns):
    """One run's connect times (ns) as {median_us, p99_us, n}."""
    return {"median_us": round(statistics.median(samples_ns) / 1000, 2),
            "p99_us": round(percentile(samples_ns, 99) / 1000, 2), "n": len(samples_ns)}


def spread(values):
    """The median of several runs with the min and max beside it."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


@dataclass
class StudyResult:
    """One (S, mode) of the study: the rules' size and each run's measurements."""

    size: int
    mode: str  # iptables, nftables, or none (no rules loaded)
    rules: int = 0
    chains: int = 0
    elements: int = 0
    runs: list = field(default_factory=list)  # {load_s, unload_s, first, last, direct}

    def summary(self):
        out = {}
        for key in ("load_s", "load_flush_s"):
            loads = [r[key] for r in self.runs if r.get(key) is not None]
            if loads:
                out[key] = spread(loads)
        for target in TARGETS:
            per_run = [r[target] for r in self.runs if r.get(target)]
            if per_run:
                out[target] = {"median_us": spread([p["median_us"] for p in per_run]),
                               "p99_us": spread([p["p99_us"] for p in per_run])}
        return out

    def as_dict(self):
        return {"size": self.size, "mode": self.mode, "rules": self.rules, "chains": self.chains,
                "elements": self.elements, "runs": self.runs, "summary": self.summary()}


# the report ----------------------------------------------------------------------------------------

def _seconds(s):
    return f"{s:.3f}" if s < 10 else f"{s:.1f}"


def _load_cell(summary, key="load_s"):
    load = summary.get(key)
    if not load:
        return "-"
    if load["min"] == load["max"]:
        return f"{_seconds(load['median'])} s"
    return f"{_seconds(load['median'])} s ({_seconds(load['min'])}-{_seconds(load['max'])})"


def _latency_cell(summary, target, runs):
    lat = summary.get(target)
    if not lat:
        return "-"
    med, p99 = lat["median_us"], lat["p99_us"]
    cell = f"{med['median']:.0f} / {p99['median']:.0f}"
    return cell + (f" ({med['min']:.0f}-{med['max']:.0f})" if runs > 1 else "")


def table(results):
    """The study as a text table: one row per (S, mode)."""
    from lab.tables import table as tabulate
    headers = ["S", "MODE", "RULES", "LOAD (min-max)", "NO --noflush", "FIRST SVC µs med/p99",
               "LAST SVC µs med/p99", "POD DIRECT µs med/p99"]
    rows = []
    for r in results:
        s = r.summary()
        rules = "-" if r.mode == "none" else (f"{r.rules}" + (f" + {r.elements} el." if r.elements else ""))
        rows.append([f"{r.size:,}", r.mode, rules, _load_cell(s), _load_cell(s, "load_flush_s")]
                    + [_latency_cell(s, t, len(r.runs)) for t in TARGETS])
    return tabulate(headers, rows)


def legend(options):
    return (f"connect() time from the client pod, {options.connections} new connections per target and run "
            f"(after {options.warmup} warm-up), each closed with RST; med/p99: median over {options.runs} run(s) "
            "of each run's median / p99, (min-max) of the run medians. LOAD: one iptables-restore --noflush / "
            "nft -f of kube-proxy's first sync into the node, median (min-max) of the runs; NO --noflush: "
            "the same iptables text restored without --noflush, for comparison.")


def to_json(results, options):
    return json.dumps({"options": {"sizes": list(options.sizes), "modes": list(options.modes),
                                   "connections": options.connections, "warmup": options.warmup,
                                   "runs": options.runs},
                       "results": [r.as_dict() for r in results]}, indent=1)


def plotting():
    """matplotlib's pyplot on the Agg backend, imported only when a plot is asked for."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise LabError("--plot needs matplotlib (apt install python3-matplotlib, or pip install matplotlib)")
    return plt


def plot(results, path):
    """Left: load time vs S (log-log); right: connect median vs S, p99 as a band. Written as PNG."""
    plt = plotting()
    import matplotlib
    import matplotlib.ticker  # noqa: F401 (matplotlib.ticker below)
    colors = {"iptables": "tab:red", "nftables": "tab:blue"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for mode in MODES:
        rows = sorted((r for r in results if r.mode == mode and r.runs), key=lambda r: r.size)
        if not rows:
            continue
        sizes = [r.size for r in rows]
        sums = [r.summary() for r in rows]
        load = [s["load_s"] for s in sums]
        med = [x["median"] for x in load]
        left.errorbar(sizes, med, yerr=[[m - x["min"] for m, x in zip(med, load)],
                                        [x["max"] - m for m, x in zip(med, load)]],
                      marker="o", capsize=3, color=colors[mode], label=f"{mode} (kube-proxy's load)")
        if all("load_flush_s" in s for s in sums):
            left.plot(sizes, [s["load_flush_s"]["median"] for s in sums], "--", marker="s", color=colors[mode],
                      label=f"{mode}: restore without --noflush")
        for target, style in (("last", "-"), ("direct", "--"), ("first", ":")):
            medians = [s[target]["median_us"]["median"] for s in sums]
            p99 = [s[target]["p99_us"]["median"] for s in sums]
            right.plot(sizes, medians, style, marker="o", color=colors[mode], label=f"{mode}: {target} median")
            if target == "last":
                right.fill_between(sizes, medians, p99, color=colors[mode], alpha=0.15,
                                   label=f"{mode}: last, median to p99")
    base = next((r for r in results if r.mode == "none" and r.runs), None)
    if base is not None:
        right.axhline(base.summary()["direct"]["median_us"]["median"], color="gray", linewidth=1,
                      label="no rules: pod direct median")
    left.set(xscale="log", yscale="log", xlabel="services (S)", ylabel="seconds",
             title="kube-proxy rules: one sync's load time")
    right.set(xscale="log", xlabel="services (S)", ylabel="µs", title="connect() from a pod (first packet)")
    right.set_ylim(bottom=0)
    for ax in (left, right):
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
