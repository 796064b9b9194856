"""Malformed and adversarial scenarios, thrown at the loader by hypothesis.

Each starts from the seed (scenarios/seed.yml, its topology and its two manifests, as Python
dicts written to a temporary directory as YAML files) and mutates it: wrong types, huge and
negative numbers, names with shell metacharacters, path tricks, NUL, unicode and 300
characters, duplicated list items (names, addresses), copied CIDRs (overlaps), and so on.
``lab.scenario.load`` + ``lab.cluster.build`` must then either succeed (some mutations stay
valid) or raise ``InputError`` with one line naming the file and the field, never anything
else. Whatever is accepted must give names that are safe to hand to ``ip`` and the kernel.
A few cases go through the CLI (as root: tests/labs/test_input_properties_lab.py): exit code 2, one
line on stderr, and nothing created.
"""

import copy
import os
import re
import tempfile

import pytest

from factories import get_path, seed_files, write_files
from lab.cluster.build import build_cluster
from lab.spec import scenario
from lab.errors import InputError

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed for this python "
                                 "(sudo ./setup installs python3-hypothesis)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


SEED = seed_files()

# adversarial values --------------------------------------------------------------------------

NASTY_STRINGS = [
    "; rm -rf /", "a;b", "$(reboot)", "${IFS}", "`id`", "a|b", "a&b", "a>b", "a b", " ", "\t", "a\nb", "k8s\n",
    "\nk8s", "a\rb", "../", "..", "../../etc/passwd", "/", "/etc/passwd", "/dev/zero", "/proc/self/status",
    "a/b", "a\0b", "\0", "ü", "名前", "node1\u200b", "ⅰ", "\ufeff", "a" * 300, "", "-", "a-", "-a", "a..b",
    ".", "A", "Node1", "a_b", "*", "?", "~", "'", '"', "\\", "%s", "{node1}", "--lab", "-rf", "none", "None",
    "null", "true", "0x10", "1e3", "1.18", "30000-32767", "99999-1", "1-2-3",
    "10.244.0.0/16", "10.244.0.0/8", "10.96.0.0/12", "0.0.0.0/0", "192.168.179.0/24", "192.168.179.99",
    "192.168.179.100", "10.244.2.14", "10.244.0.1", "10.105.182.209", "255.255.255.255", "0.0.0.0",
    "1.2.3.4/33", "::1", "fd00::/64", "192.168.179.240-192.168.179.1", "master", "node1", "client", "lb",
    "kube-system", "kubernetes", "coredns", "pod-nodeport", "nodeport-svc",
]
NASTY_NUMBERS = [0, -1, 1, 2, 3, 2 ** 31, 2 ** 63, -2 ** 63, 2 ** 64 + 1, 10 ** 100, 65535, 65536, 29999, 30090,
                 32768, 1.5, 1.18, -0.0, 1e308, float("inf"), float("-inf"), float("nan")]
NASTY_OTHERS = [None, True, False, [], {}, [None], [[]], [{}], {"a": 1}, {"": None}, ["x", "x"],
                {"name": "x"}, [1, 2, 3]]


def ipv4_text():
    return st.ip_addresses(v=4).map(str)


def cidr_text():
    return st.tuples(st.ip_addresses(v=4), st.integers(0, 33)).map(lambda t: f"{t[0]}/{t[1]}")


def values():
    return st.one_of(
        st.sampled_from(NASTY_STRINGS), st.sampled_from(NASTY_NUMBERS),
        st.sampled_from(NASTY_OTHERS).map(copy.deepcopy),  # never share (and so mutate) the constants
        st.text(max_size=12), st.integers(), ipv4_text(), cidr_text(),
        st.integers(-5, 70000), st.lists(st.text(max_size=4), max_size=3),
    )


FIELD_NAMES = ["name", "ip", "podCIDR", "nodePort", "port", "labels", "namespace", "bogus", "Name", "x y", "",
               "kind", "spec", "$(id)", "__proto__", "items"]

# walking and changing documents --------------------------------------------------------------


def paths(doc, prefix=()):
    """Every location below ``doc``: a tuple of keys and indexes."""
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append(prefix + (k,))
            out += paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append(prefix + (i,))
            out += paths(v, prefix + (i,))
    return out


def containers(doc, kind):
    """Locations of every dict (kind=dict) or list (kind=list), the document itself included."""
    out = [()] if isinstance(doc, kind) else []
    return out + [p for p in paths(doc) if isinstance(get_path(doc, p), kind)]


def mutation(data, files):
    """Apply one drawn mutation to ``files`` (in place); a description of it, for the report."""
    name = data.draw(st.sampled_from(sorted(files)), label="file")
    doc = files[name]
    op = data.draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "duplicate", "copy", "root"]),
                   label="op")
    every = paths(doc)
    if op == "root" or not every:
        files[name] = data.draw(values(), label="whole document")
        return f"{name}: whole document replaced"
    if op in ("replace", "delete"):
        path = data.draw(st.sampled_from(every), label="path")
        parent, key = get_path(doc, path[:-1]), path[-1]
        if op == "delete":
            del parent[key]
        else:
            parent[key] = data.draw(values(), label="value")
        return f"{name}: {op} {path}"
    if op == "add":
        mappings = containers(doc, dict)
        if not mappings:
            return "no mapping to add to"
        path = data.draw(st.sampled_from(mappings), label="mapping")
        key = data.draw(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=6)), label="key")
        get_path(doc, path)[key] = data.draw(values(), label="value")
        return f"{name}: add {key!r} at {path}"
    if op == "duplicate":  # duplicate names, addresses, pins, ports, containers, manifests
        lists = [p for p in containers(doc, list) if get_path(doc, p)]
        if not lists:
            return "nothing to duplicate"
        path = data.draw(st.sampled_from(lists), label="list")
        items = get_path(doc, path)
        items.append(copy.deepcopy(data.draw(st.sampled_from(items), label="item")))
        return f"{name}: duplicate an item of {path}"
    # copy: a value to another place with the same key (overlapping CIDRs, shared IPs and names)
    keyed = [p for p in every if isinstance(p[-1], str)]
    if not keyed:
        return "no field to copy"
    source = data.draw(st.sampled_from(keyed), label="from")
    same = [p for p in keyed if p[-1] == source[-1] and p != source]
    if not same:
        return "nothing to copy onto"
    target = data.draw(st.sampled_from(same), label="to")
    get_path(doc, target[:-1])[target[-1]] = copy.deepcopy(get_path(doc, source))
    return f"{name}: copy {source} onto {target}"


# what every outcome must satisfy -------------------------------------------------------------

SAFE_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def check_outcome(directory, files, description=""):
    """Load and build; True if accepted. Fails on anything but a one-line InputError naming a
    file and a field, and on accepted names unfit for ``ip`` and the kernel."""
    path = write_files(files, directory)
    try:
        desired = build_cluster(scenario.load(path))
    except InputError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, f"{description}: not one line: {message!r}"
        assert exc.file and message.startswith(exc.file + ":"), f"{description}: no file: {message!r}"
        # a problem with a file as a whole (not found, not YAML, no document) names just the file;
        # any other names the field too, e.g. "spec.ports[0].nodePort" or "topology.nodes[1].ip"
        whole_file = re.search(r": (file not found|is a directory|cannot read|malformed YAML|expected one YAML "
                               r"document)", message)
        assert exc.field or whole_file, f"{description}: no field path: {message!r}"
        return False
    # accepted: every name handed to `ip netns`, `ip link` and /etc/netns is plain
    for netns in [desired.switch_netns] + [m.netns for m in desired.nodes + desired.hosts] + \
            [p.netns for p in desired.pods] + ([desired.lb.netns] if desired.lb else []):
        assert SAFE_NAME.fullmatch(netns) and len(netns.encode()) <= 255, f"{description}: netns {netns!r}"
    for pod in desired.pods:
        assert SAFE_NAME.fullmatch(pod.host_veth) and len(pod.host_veth) <= 15, pod.host_veth
    return True


# the properties ------------------------------------------------------------------------------

def test_the_seed_itself_loads():
    with tempfile.TemporaryDirectory() as d:
        assert check_outcome(d, copy.deepcopy(SEED))


@SETTINGS
@given(st.data())
def test_mutated_seed_gives_a_clear_error_or_a_lab(data):
    files = copy.deepcopy(SEED)
    done = [mutation(data, files) for _ in range(data.draw(st.integers(1, 3), label="mutations"))]
    with tempfile.TemporaryDirectory() as d:
        check_outcome(d, files, "; ".join(done))


NAME_FIELDS = [
    ("scenario.yml", ("name",)),
    ("topology.yml", ("nodes", 0, "name")),
    ("topology.yml", ("hosts", 0, "name")),
    ("pod-nodeport.yml", ("metadata", "name")),
    ("pod-nodeport.yml", ("metadata", "namespace")),
    ("pod-nodeport.yml", ("spec", "template", "spec", "containers", 0, "name")),
    ("pod-nodeport.yml", ("spec", "template", "spec", "containers", 0, "image")),
    ("service.yml", ("metadata", "name")),
    ("service.yml", ("spec", "ports", 0, "name")),
    ("scenario.yml", ("pins", "pods", 0, "name")),
    ("scenario.yml", ("pins", "pods", 0, "node")),
    ("scenario.yml", ("pins", "services", 0, "name")),
    ("scenario.yml", ("checks", 0, "from")),
    ("scenario.yml", ("topology",)),
    ("scenario.yml", ("manifests", 1)),
]


@SETTINGS
@given(st.sampled_from(NAME_FIELDS), st.one_of(st.sampled_from(NASTY_STRINGS), st.text(min_size=1, max_size=300)))
def test_names_are_validated_never_passed_raw(where, name):
    files = copy.deepcopy(SEED)
    file, path = where
    get_path(files[file], path[:-1])[path[-1]] = name
    with tempfile.TemporaryDirectory() as d:
        check_outcome(d, files, f"{file}: {path} = {name!r}")


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["master", "node1", "node2", "client", "lb", "x"]),
                          st.sampled_from(["192.168.179.99", "192.168.179.100", "192.168.179.1", "192.168.179.10",
                                           "192.168.179.240", "192.168.179.0", "192.168.179.255", "10.244.0.5"]),
                          st.sampled_from(["10.244.0.0/24", "10.244.1.0/24", "10.244.0.0/16", "10.244.0.128/25",
                                           "10.245.0.0/24", "10.96.0.0/24", "192.168.179.0/28", "10.244.7.0/28"])),
                min_size=1, max_size=5),
       st.sampled_from(["10.96.0.0/12", "10.244.0.0/16", "10.0.0.0/8", "192.168.0.0/16", "10.96.0.0/28"]),
       st.sampled_from(["10.244.0.0/16", "10.244.0.0/24", "10.0.0.0/8", "10.96.0.0/12"]))
def test_duplicate_and_overlapping_machines_and_cidrs(nodes, service_cidr, cluster_cidr):
    files = copy.deepcopy(SEED)
    files["topology.yml"]["nodes"] = [{"name": n, "ip": ip, "podCIDR": c} for n, ip, c in nodes]
    files["scenario.yml"]["cluster"].update(serviceCIDR=service_cidr, clusterCIDR=cluster_cidr)
    del files["scenario.yml"]["pins"]
    with tempfile.TemporaryDirectory() as d:
        check_outcome(d, files, f"nodes {nodes}, service {service_cidr}, cluster {cluster_cidr}")


@SETTINGS
@given(st.one_of(st.integers(-5, 70000), st.sampled_from([2 ** 63, -2 ** 63, 30090, 32767, 32768, 29999])),
       st.one_of(st.integers(-5, 70000), st.sampled_from([2 ** 63, 0, 65536])),
       st.one_of(st.integers(-2, 1002), st.sampled_from([2 ** 63, -2 ** 63])),
       st.sampled_from(["30000-32767", "30000-30001", "1-65535", "0-10", "32767-30000", "30090-30090", "a-b"]))
def test_ports_replicas_and_ranges(node_port, port, replicas, port_range):
    files = copy.deepcopy(SEED)
    files["service.yml"]["spec"]["ports"][0].update(nodePort=node_port, port=port)
    files["pod-nodeport.yml"]["spec"]["replicas"] = replicas
    files["scenario.yml"]["cluster"]["nodePortRange"] = port_range
    with tempfile.TemporaryDirectory() as d:
        check_outcome(d, files, f"nodePort {node_port}, port {port}, replicas {replicas}, range {port_range}")


# gaps found outside the loader modules, now closed ---------------------------------------------

def _outcome_of_text(text, name="scenario.yml"):
    """Load the seed with ``name`` replaced by raw ``text``: an InputError must be one line."""
    with tempfile.TemporaryDirectory() as d:
        write_files(copy.deepcopy(SEED), d)
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
        try:
            build_cluster(scenario.load(os.path.join(d, "scenario.yml")))
        except InputError as exc:
            assert "\n" not in str(exc), str(exc)


def test_a_list_as_a_mapping_key():
    _outcome_of_text("? [a, b]\n: c\n")


def test_a_binary_file_named_as_a_manifest():
    _outcome_of_text("\0\n", "service.yml")


def test_long_names_fit_the_kernel():
    files = copy.deepcopy(SEED)
    files["pod-nodeport.yml"]["metadata"].update(name="a" * 200, namespace="n" * 63)
    del files["scenario.yml"]["pins"]
    with tempfile.TemporaryDirectory() as d:
        check_outcome(d, files, "a 200-character Deployment name in a 63-character namespace")
