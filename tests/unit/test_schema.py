"""The published JSON Schemas (schema/*.schema.json) agree with the loader.

Every shipped scenario and topology validates; a list of bad inputs is rejected by both the
schema and the loader (InputError); inputs only svclab can judge (overlaps, uniqueness, ranges
that depend on other fields) pass the schema and fail the loader, as the schemas' descriptions
say; and a few unusual but valid inputs pass both.
"""

import copy
import glob
import json
import os

import pytest
import yaml

from factories import ROOT, SCENARIOS
from lab.spec import checks, manifests, scenario
from lab.cluster.build import build_cluster
from lab.errors import InputError

jsonschema = pytest.importorskip(
    "jsonschema", reason="the jsonschema package is not installed for this python (sudo ./setup installs "
    "python3-jsonschema)")

SCHEMA_DIR = os.path.join(ROOT, "schema")
TOPOLOGIES = os.path.join(ROOT, "topologies")
DELETE = object()


def schema(name):
    with open(os.path.join(SCHEMA_DIR, f"{name}.schema.json")) as f:
        return json.load(f)


def validator(name):
    """A 2020-12 validator for schema ``name`` (or a schema given as a dict), the schemas reachable
    by their relative $refs (as an editor resolves them, next to each other)."""
    root = schema(name) if isinstance(name, str) else name
    store = {f"{n}.schema.json": schema(n) for n in ("scenario", "topology")}
    try:
        from referencing import Registry, Resource
    except ImportError:  # jsonschema < 4.18
        resolver = jsonschema.RefResolver("", root, store=store)
        return jsonschema.Draft202012Validator(root, resolver=resolver)
    registry = Registry().with_resources(
        (uri, Resource.from_contents(doc, default_specification=_draft())) for uri, doc in store.items())
    return jsonschema.Draft202012Validator(root, registry=registry)


def _draft():
    from referencing.jsonschema import DRAFT202012
    return DRAFT202012


def errors(name, doc):
    return sorted(e.message for e in validator(name).iter_errors(doc))


def read_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def seed_inline():
    """The seed scenario as one document: its topology and manifests inline."""
    doc = read_yaml(os.path.join(SCENARIOS, "seed.yml"))
    doc["topology"] = read_yaml(os.path.join(TOPOLOGIES, "three-node.yml"))
    doc["manifests"] = [read_yaml(os.path.join(SCENARIOS, "seed", f)) for f in ("pod-nodeport.yml", "service.yml")]
    return doc


def mutate(doc, path, value):
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


def load_and_build(tmp_path, doc):
    path = tmp_path / "scenario.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return build_cluster(scenario.load(str(path)))


DEP, SVC = ("manifests", 0), ("manifests", 1)
NODE0 = ("topology", "nodes", 0)
FRONTEND = [{"host": "a.xxx.com", "service": "nodeport-svc"}]
CHECK = {"from": "client", "url": "http://{node1}:30090", "expect": "You've hit"}

# (id, path, value): the mutated seed is invalid to both the schema and the loader
BOTH_REJECT = [
    ("unknown top-level field", ("node",), "x"),
    ("manifests missing", ("manifests",), DELETE),
    ("topology missing", ("topology",), DELETE),
    ("name upper case", ("name",), "K8s"),
    ("name too long", ("name",), "a" * 13),
    ("name with shell metacharacters", ("name",), "k8s;rm -rf /"),
    ("name with command substitution", ("name",), "$(reboot)"),
    ("name with a path", ("name",), "../etc"),
    ("name with an inner newline", ("name",), "a\nb"),
    ("name with a space", ("name",), "my lab"),
    ("name not a string", ("name",), 5),
    ("topology a number", ("topology",), 5),
    ("topology an empty path", ("topology",), ""),
    ("serviceCIDR without prefix", ("cluster", "serviceCIDR"), "10.96.0.0"),
    ("serviceCIDR prefix 33", ("cluster", "serviceCIDR"), "10.96.0.0/33"),
    ("serviceCIDR too small", ("cluster", "serviceCIDR"), "10.96.0.0/29"),
    ("serviceCIDR IPv6", ("cluster", "serviceCIDR"), "fd00::/108"),
    ("clusterCIDR a number", ("cluster", "clusterCIDR"), 10),
    ("domain upper case", ("cluster", "domain"), "Cluster.Local"),
    ("nodePortRange a number", ("cluster", "nodePortRange"), 30000),
    ("nodePortRange one port", ("cluster", "nodePortRange"), "30000"),
    ("dns a string", ("cluster", "dns"), "yes"),
    ("cluster unknown field", ("cluster", "podCIDR"), "10.244.0.0/16"),
    ("cluster a list", ("cluster",), ["10.96.0.0/12"]),
    ("kube-proxy mode ipvs", ("kubeProxy", "mode"), "ipvs"),
    ("profile 1.19", ("kubeProxy", "profile"), "1.19"),
    ("profile 1.2 unquoted", ("kubeProxy", "profile"), 1.2),
    ("masqueradeBit 32", ("kubeProxy", "masqueradeBit"), 32),
    ("masqueradeBit negative", ("kubeProxy", "masqueradeBit"), -1),
    ("masqueradeBit huge", ("kubeProxy", "masqueradeBit"), 2 ** 63),
    ("masqueradeBit a boolean", ("kubeProxy", "masqueradeBit"), True),
    ("masqueradeAll a string", ("kubeProxy", "masqueradeAll"), "true"),
    ("manifests a string", ("manifests",), "seed/service.yml"),
    ("a port name not a string", SVC + ("spec", "ports", 0, "name"), 80),
    ("manifest a number", ("manifests", 0), 5),
    ("manifest an empty path", ("manifests", 0), ""),
    ("kind ConfigMap", DEP + ("kind",), "ConfigMap"),
    ("Deployment as v1", DEP + ("apiVersion",), "v1"),
    ("manifest unknown field", DEP + ("specs",), {}),
    ("manifest without spec", DEP + ("spec",), DELETE),
    ("manifest without metadata", DEP + ("metadata",), DELETE),
    ("metadata name upper case", DEP + ("metadata", "name"), "Web"),
    ("metadata unknown field", DEP + ("metadata", "label"), {"app": "x"}),
    ("label value a number", DEP + ("metadata", "labels"), {"tier": 1}),
    ("namespace with a slash", DEP + ("metadata", "namespace"), "a/b"),
    ("replicas negative", DEP + ("spec", "replicas"), -1),
    ("replicas huge", DEP + ("spec", "replicas"), 2 ** 63),
    ("replicas a string", DEP + ("spec", "replicas"), "2"),
    ("deployment without selector", DEP + ("spec", "selector"), DELETE),
    ("deployment spec unknown field", DEP + ("spec", "replica"), 2),
    ("no containers", DEP + ("spec", "template", "spec", "containers"), []),
    ("container without image", DEP + ("spec", "template", "spec", "containers", 0, "image"), DELETE),
    ("container name with a semicolon", DEP + ("spec", "template", "spec", "containers", 0, "name"), "a;b"),
    ("containerPort 0", DEP + ("spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"), 0),
    ("containerPort 70000", DEP + ("spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"), 70000),
    ("protocol lower case", DEP + ("spec", "template", "spec", "containers", 0, "ports", 0, "protocol"), "tcp"),
    ("service type misspelt", SVC + ("spec", "type"), "Nodeport"),
    ("service port 0", SVC + ("spec", "ports", 0, "port"), 0),
    ("nodePort 70000", SVC + ("spec", "ports", 0, "nodePort"), 70000),
    ("nodePort a string", SVC + ("spec", "ports", 0, "nodePort"), "30090"),
    ("targetPort name upper case", SVC + ("spec", "ports", 0, "targetPort"), "Http"),
    ("targetPort a boolean", SVC + ("spec", "ports", 0, "targetPort"), True),
    ("port name too long", SVC + ("spec", "ports", 0, "name"), "a" * 16),
    ("clusterIP not an address", SVC + ("spec", "clusterIP"), "10.96.0.300"),
    ("sessionAffinity misspelt", SVC + ("spec", "sessionAffinity"), "client"),
    ("service spec unknown field", SVC + ("spec", "port"), 80),
    ("lan missing", ("topology", "lan"), DELETE),
    ("lan too small", ("topology", "lan", "cidr"), "192.168.179.0/30"),
    ("gateway not an address", ("topology", "lan", "gateway"), "gateway"),
    ("no nodes", ("topology", "nodes"), []),
    ("node without podCIDR", NODE0 + ("podCIDR",), DELETE),
    ("node name upper case", NODE0 + ("name",), "Master"),
    ("node name 16 characters", NODE0 + ("name",), "n" * 16),
    ("node name with a space", NODE0 + ("name",), "node 1"),
    ("node name with backticks", NODE0 + ("name",), "`id`"),
    ("node ip 256", NODE0 + ("ip",), "192.168.179.256"),
    ("node ip a number", NODE0 + ("ip",), 3232281443),
    ("node podCIDR too small", NODE0 + ("podCIDR",), "10.244.0.0/29"),
    ("host with a podCIDR", ("topology", "hosts", 0, "podCIDR"), "10.244.9.0/24"),
    ("topology unknown field", ("topology", "switch"), "br0"),
    ("load balancer without ip", ("topology", "loadBalancer", "ip"), DELETE),
    ("pool not a range", ("topology", "loadBalancer", "pool"), "192.168.179.240..249"),
    ("pin ip not an address", ("pins", "pods", 0, "ip"), "10.244.2.300"),
    ("pin unknown field", ("pins", "pods", 0, "replica"), 1),
    ("pin without deployment", ("pins", "pods", 0, "deployment"), DELETE),
    ("service pin without clusterIP", ("pins", "services", 0, "clusterIP"), DELETE),
    ("pins a list", ("pins",), []),
    ("frontend without service", ("frontend",), [{"host": "a.xxx.com"}]),
    ("frontend host upper case", ("frontend",), [{"host": "A.xxx.com", "service": "nodeport-svc"}]),
    ("frontend port 0", ("frontend",), [dict(FRONTEND[0], port=0)]),
    ("check with url and dns", ("checks", 0), dict(CHECK, dns="nodeport-svc")),
    ("check with neither url nor dns", ("checks", 0), {"from": "client", "expect": "x"}),
    ("check without expect", ("checks", 0), {"from": "client", "url": "http://x"}),
    ("check without from", ("checks", 0), {"url": "http://x", "expect": "x"}),
    ("check distribution 5", ("checks", 0), dict(CHECK, distribution=5)),
    ("dns check with distribution", ("checks", 0), {"from": "client", "dns": "x", "expect": "x",
                                                     "distribution": 100}),
    ("check timeout 0", ("checks", 0), dict(CHECK, timeout=0)),
    ("check timeout 31", ("checks", 0), dict(CHECK, timeout=31)),
    ("check timeout a string", ("checks", 0), dict(CHECK, timeout="1")),
    ("check timeout a boolean", ("checks", 0), dict(CHECK, timeout=True)),
    ("check from empty", ("checks", 0), dict(CHECK, **{"from": ""})),
    ("checks a mapping", ("checks",), CHECK),
]

# valid to the schema, but svclab rejects them: what the schemas' descriptions say a schema cannot check
ONLY_SVCLAB_REJECTS = [
    ("duplicate node names", ("topology", "nodes", 1, "name"), "master"),
    ("duplicate machine addresses", ("topology", "hosts", 0, "ip"), "192.168.179.99"),
    ("overlapping pod CIDRs", ("topology", "nodes", 1, "podCIDR"), "10.244.0.0/24"),
    ("pod CIDR outside the cluster CIDR", NODE0 + ("podCIDR",), "10.245.0.0/24"),
    ("pod CIDR inside the LAN", NODE0 + ("podCIDR",), "192.168.179.0/28"),
    ("CIDR with host bits", NODE0 + ("podCIDR",), "10.244.0.1/24"),
    ("service CIDR overlapping the cluster CIDR", ("cluster", "serviceCIDR"), "10.244.0.0/12"),
    ("node outside the LAN", NODE0 + ("ip",), "10.1.1.1"),
    ("nodePort outside the range", SVC + ("spec", "ports", 0, "nodePort"), 29999),
    ("pin of an unknown deployment", ("pins", "pods", 0, "deployment"), "nope"),
    ("pin on an unknown node", ("pins", "pods", 0, "node"), "node9"),
    ("frontend host twice", ("frontend",), FRONTEND * 2),
    ("frontend of an unknown service", ("frontend",), [{"host": "a.xxx.com", "service": "nope"}]),
    ("port range reversed", ("cluster", "nodePortRange"), "32767-30000"),
    ("selector not matching the template", DEP + ("spec", "selector", "matchLabels", "app"), "other"),
]

# unusual but valid: both accept
BOTH_ACCEPT = [
    ("profile 1.18 unquoted", ("kubeProxy", "profile"), 1.18),
    ("topology as a path", ("topology",), os.path.join(TOPOLOGIES, "three-node.yml")),
    ("no pins", ("pins",), DELETE),
    ("no checks", ("checks",), DELETE),
    ("clusterIP empty", SVC + ("spec", "clusterIP"), ""),
    ("frontend", ("frontend",), FRONTEND),
    ("a List of objects", ("manifests",), [{"apiVersion": "v1", "kind": "List", "items": [
        read_yaml(os.path.join(SCENARIOS, "seed", "pod-nodeport.yml")),
        read_yaml(os.path.join(SCENARIOS, "seed", "service.yml"))]}]),
    ("integer timeout", ("checks", 0), dict(CHECK, timeout=1)),
    ("pool as a CIDR", ("topology", "loadBalancer", "pool"), "192.168.179.240/29"),
    ("node name of 15 characters", ("topology", "hosts", 0, "name"), "c" * 15),
    ("a single port named ''", SVC + ("spec", "ports", 0, "name"), ""),
    ("a pod's hostname", DEP + ("spec", "template", "spec", "hostname"), "web"),
    ("a pod's subdomain", DEP + ("spec", "template", "spec", "subdomain"), "nodeport-svc"),
    ("an EndpointSlice port named ''", ("manifests",), seed_inline()["manifests"] + [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
         "spec": {"ports": [{"name": "", "port": 5432}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "db-1", "labels": {"kubernetes.io/service-name": "db"}}, "addressType": "IPv4",
         "ports": [{"name": "", "port": 5432}], "endpoints": [{"addresses": ["10.244.1.5"], "hostname": "db-0"}]}]),
]


def _ids(cases):
    return [c[0] for c in cases]


def test_the_schemas_are_valid_2020_12_and_tell_editors_how_to_use_them():
    for name in ("scenario", "topology"):
        doc = schema(name)
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(doc)
        assert f"# yaml-language-server: $schema=../schema/{name}.schema.json" in doc["description"]


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(SCENARIOS, "*.yml"))), ids=os.path.basename)
def test_every_scenario_validates(path):
    assert errors("scenario", read_yaml(path)) == []
    scenario.load(path)  # and the loader agrees


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(TOPOLOGIES, "*.yml"))), ids=os.path.basename)
def test_every_topology_validates(path):
    assert errors("topology", read_yaml(path)) == []


def test_every_manifest_file_validates():
    manifest = validator({"$schema": "https://json-schema.org/draft/2020-12/schema",
                          "$ref": "scenario.schema.json#/$defs/manifest"})
    paths = glob.glob(os.path.join(SCENARIOS, "*", "*.yml"))
    assert paths
    for path in paths:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc.get("kind") == "KubeProxyConfiguration":  # kube-proxy's own file (kubeProxy.config)
                    continue
                assert [e.message for e in manifest.iter_errors(doc)] == [], path


def test_the_seed_inline_validates_and_loads(tmp_path):
    doc = seed_inline()
    assert errors("scenario", doc) == []
    assert errors("topology", doc["topology"]) == []
    load_and_build(tmp_path, doc)


@pytest.mark.parametrize("case", BOTH_REJECT, ids=_ids(BOTH_REJECT))
def test_bad_input_is_rejected_by_schema_and_loader(case, tmp_path):
    _, path, value = case
    doc = mutate(seed_inline(), path, value)
    assert errors("scenario", doc), "the schema accepts it"
    if path[0] == "topology" and isinstance(doc.get("topology"), dict):
        assert errors("topology", doc["topology"]), "the topology schema accepts it"
    with pytest.raises(InputError) as err:
        load_and_build(tmp_path, doc)
    assert "\n" not in str(err.value) and str(tmp_path / "scenario.yml") in str(err.value)


@pytest.mark.parametrize("case", ONLY_SVCLAB_REJECTS, ids=_ids(ONLY_SVCLAB_REJECTS))
def test_what_only_svclab_can_judge(case, tmp_path):
    _, path, value = case
    doc = mutate(seed_inline(), path, value)
    assert errors("scenario", doc) == []
    with pytest.raises(InputError):
        load_and_build(tmp_path, doc)


@pytest.mark.parametrize("case", BOTH_ACCEPT, ids=_ids(BOTH_ACCEPT))
def test_unusual_valid_input_passes_both(case, tmp_path):
    _, path, value = case
    doc = mutate(seed_inline(), path, value)
    assert errors("scenario", doc) == []
    load_and_build(tmp_path, doc)


def test_a_trailing_newline_in_a_name_is_rejected(tmp_path):
    # Python's re.match lets "$" match before a final newline, so "k8s\n" once passed as a lab
    # name (and reached `ip -batch` as two lines). The schema's ECMA-262 "$" rejects it; the
    # jsonschema package uses Python's re.search, so only the loader is checked here.
    for path in (("name",), NODE0 + ("name",), DEP + ("metadata", "name")):
        with pytest.raises(InputError, match="is not a valid"):
            load_and_build(tmp_path, mutate(seed_inline(), path, "node1\n"))


def test_the_schemas_list_the_fields_the_loader_knows():
    s = schema("scenario")
    assert set(s["properties"]) == scenario.SCENARIO_FIELDS
    check = s["properties"]["checks"]["items"]
    assert set(check["properties"]) == checks.CHECK_FIELDS
    assert check["properties"]["expect"]["description"].startswith(", ".join(checks.OUTCOMES[:3]))
    assert s["properties"]["kubeProxy"]["properties"]["profile"]["enum"][:2] == list(scenario.PROFILES)
    defs = s["$defs"]
    assert set(defs["podSpec"]["propertyNames"]["enum"]) == manifests.POD_SPEC_FIELDS
    container = defs["podSpec"]["properties"]["containers"]["items"]
    assert set(container["propertyNames"]["enum"]) == manifests.CONTAINER_FIELDS
    assert set(container["properties"]["ports"]["items"]["propertyNames"]["enum"]) == manifests.CONTAINER_PORT_FIELDS
    by_kind = {b["if"]["properties"]["kind"]["const"]: b for b in defs["manifest"]["allOf"]
               if "const" in b["if"]["properties"]["kind"]}
    service = by_kind["Service"]["then"]["properties"]["spec"]
    assert set(service["propertyNames"]["enum"]) == manifests.SERVICE_SPEC_FIELDS
    assert set(service["properties"]["ports"]["items"]["propertyNames"]["enum"]) == manifests.SERVICE_PORT_FIELDS
    assert service["properties"]["type"]["enum"] == list(manifests.SERVICE_TYPES)
    deployment = by_kind["Deployment"]["then"]["properties"]
    assert set(deployment["spec"]["propertyNames"]["enum"]) == manifests.DEPLOYMENT_SPEC_FIELDS
    assert set(deployment["metadata"]["propertyNames"]["enum"]) == manifests.METADATA_FIELDS
    kinds = {(b["then"]["properties"]["apiVersion"]["const"], k) for k, b in by_kind.items() if k != "List"}
    assert kinds == manifests.SUPPORTED_KINDS
