"""Scenario, topology and manifest input: what is accepted, and the one-line errors for the rest."""

import os
import textwrap

import pytest
import yaml

from factories import SCENARIOS, WEB_SERVICE, run_lab, scenario_file
from lab.cluster.build import build_cluster
from lab.spec import scenario
from lab.errors import InputError
from lab.spec.fields import DNS_LABEL, Field
from lab.spec.manifests import BarePod, Deployment, ServiceSpec, parse_object

DEPLOYMENT = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 3
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - name: web
            image: luksa/kubia
            ports: [{containerPort: 8080, name: http}]
    """)


def load_error(tmp_path, body, manifests=None):
    with pytest.raises(InputError) as err:
        scenario.load(scenario_file(tmp_path, body, manifests))
    return str(err.value)


def test_seed_scenario_loads_the_seed_manifests():
    s = scenario.load(os.path.join(SCENARIOS, "seed.yml"))
    assert s.name == "k8s" and s.kube_proxy.profile == "1.18"
    kinds = [type(o) for o in s.objects]
    assert kinds == [Deployment, ServiceSpec]
    dep, svc = s.objects
    assert (dep.name, dep.namespace, dep.replicas) == ("pod-nodeport", "default", 2)
    assert dep.template.containers[0].image == "luksa/kubia"
    assert (svc.type, svc.ports[0].port, svc.ports[0].target_port, svc.ports[0].node_port) == (
        "NodePort", 3000, 8080, 30090)
    assert [n.name for n in s.topology.nodes] == ["master", "node1", "node2"]
    assert str(s.topology.nodes[1].ip) == "192.168.179.100"


def test_inline_and_multi_document_manifests(tmp_path):
    path = scenario_file(tmp_path, """\
        topology: TOPOLOGY
        manifests:
          - both.yml
          - apiVersion: v1
            kind: Pod
            metadata: {name: solo, labels: {app: solo}}
            spec: {containers: [{name: c, image: luksa/kubia}]}
        """, {"both.yml": DEPLOYMENT + "---\n" + WEB_SERVICE})
    s = scenario.load(path)
    assert [type(o) for o in s.objects] == [Deployment, ServiceSpec, BarePod]
    assert s.kube_proxy.profile == "current" and s.name == "k8s"


@pytest.mark.parametrize("body, manifests, expected", [
    ("topology: TOPOLOGY\nmanifests: []\nbogus: 1\n", None, "scenario.yml: bogus: unknown field"),
    ("topology: TOPOLOGY\n", None, "scenario.yml: manifests: is required"),
    ("topology: TOPOLOGY\nmanifests: [missing.yml]\n", None, "missing.yml: file not found"),
    ("topology: TOPOLOGY\nmanifests: [bad.yml]\n", {"bad.yml": "a: [1, 2\n"}, "bad.yml: malformed YAML: line"),
    ("topology: TOPOLOGY\nmanifests: [dup.yml]\n", {"dup.yml": "kind: Pod\nkind: Pod\n"}, "duplicate key 'kind'"),
    ("name: Bad_Name\ntopology: TOPOLOGY\nmanifests: []\n", None, "name: 'Bad_Name' is not a valid lab name"),
    ("topology: TOPOLOGY\ncluster: {serviceCIDR: 10.244.0.0/12}\nmanifests: []\n", None,
     "cluster.serviceCIDR: '10.244.0.0/12' is not a network in CIDR form: 10.244.0.0/12 has host bits set"),
    ("topology: TOPOLOGY\ncluster: {serviceCIDR: 10.240.0.0/12}\nmanifests: []\n", None,
     "cluster.serviceCIDR: service CIDR 10.240.0.0/12 overlaps the cluster CIDR 10.244.0.0/16"),
    ("topology: TOPOLOGY\ncluster: {clusterCIDR: 10.245.0.0/16}\nmanifests: []\n", None,
     "node master's pod CIDR 10.244.0.0/24 is outside the cluster CIDR"),
    ("topology: TOPOLOGY\nkubeProxy: {profile: '1.99'}\nmanifests: []\n", None,
     "kubeProxy.profile: '1.99' is not allowed (use one of: 1.18, current)"),
    ("topology: TOPOLOGY\nmanifests: [svc.yml]\n", {"svc.yml": WEB_SERVICE.replace("targetPort", "targetport")},
     "svc.yml: spec.ports[0].targetport: unknown field"),
    ("topology: TOPOLOGY\nmanifests: [svc.yml]\n", {"svc.yml": WEB_SERVICE.replace("port: 80,", "port: '80',")},
     "spec.ports[0].port: expected an integer, got a string"),
    ("topology: TOPOLOGY\nmanifests: [d.yml]\n", {"d.yml": DEPLOYMENT.replace("kind: Deployment", "kind: CronJob")},
     "d.yml: (top level): CronJob (apps/v1) is not supported by svclab"),
    ("topology: TOPOLOGY\nmanifests: [d.yml]\n", {"d.yml": DEPLOYMENT.replace("{app: web}}", "{app: other}}", 1)},
     "d.yml: spec.selector: selector does not match the template's labels"),
    ("topology: TOPOLOGY\nmanifests: [both.yml]\n", {"both.yml": WEB_SERVICE + "---\n" + WEB_SERVICE},
     "Service default/web is defined twice"),
    ("topology: {lan: {cidr: 192.168.9.0/24}, nodes: [{name: a, ip: 192.168.8.1, podCIDR: 10.244.0.0/24}]}\n"
     "manifests: []\n", None, "scenario.yml: topology.nodes[0].ip: 192.168.8.1 is not a host address in the LAN"),
    ("topology: {lan: {cidr: 192.168.9.0/24}, nodes: [{name: a, ip: 192.168.9.2, podCIDR: 10.244.0.0/24},"
     " {name: b, ip: 192.168.9.3, podCIDR: 10.244.0.0/25}]}\nmanifests: []\n", None,
     "topology.nodes[1].podCIDR: 10.244.0.0/25 overlaps a's pod CIDR 10.244.0.0/24"),
    ("topology: {lan: {cidr: 192.168.9.0/24}, nodes: [{name: a, ip: 192.168.9.2, podCIDR: 10.244.0.0/24},"
     " {name: a, ip: 192.168.9.3, podCIDR: 10.244.1.0/24}]}\nmanifests: []\n", None,
     "topology.nodes[1].name: machine name 'a' is used twice"),
])
def test_bad_input_names_file_and_field(tmp_path, body, manifests, expected):
    message = load_error(tmp_path, body, manifests)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize("body, manifests, expected", [
    ("topology: TOPOLOGY\nmanifests: [svc.yml]\n", {"svc.yml": WEB_SERVICE.replace("30080", "29999")},
     "svc.yml: spec.ports[0].nodePort: Invalid value: 29999: provided port is not in the valid range. The range of valid ports is 30000-32767"),
    ("topology: TOPOLOGY\nmanifests: [a.yml, b.yml]\n",
     {"a.yml": WEB_SERVICE, "b.yml": WEB_SERVICE.replace("name: web}", "name: web2}")},
     "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"),
    ("topology: TOPOLOGY\nmanifests: [svc.yml]\n",
     {"svc.yml": WEB_SERVICE.replace("type: NodePort", "type: NodePort\n  clusterIP: 10.200.0.1")},
     "svc.yml: spec.clusterIP: Invalid value: \"10.200.0.1\": provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12"),
    ("topology: TOPOLOGY\nmanifests: [d.yml]\npins: {pods: [{deployment: web, node: node9}]}\n",
     {"d.yml": DEPLOYMENT}, "pins.pods[0].node: no node named 'node9'"),
    ("topology: TOPOLOGY\nmanifests: [d.yml]\npins: {pods: [{deployment: web, ip: 10.244.1.1}]}\n",
     {"d.yml": DEPLOYMENT}, "pins.pods[0].ip: 10.244.1.1 is the node's cni0 gateway"),
])
def test_bad_input_found_while_building_the_cluster(tmp_path, body, manifests, expected):
    with pytest.raises(InputError) as err:
        build_cluster(scenario.load(scenario_file(tmp_path, body, manifests)))
    assert expected in str(err.value)


def test_selector_matching_nothing_is_valid_with_a_warning(tmp_path):
    path = scenario_file(tmp_path, "topology: TOPOLOGY\nmanifests: [svc.yml]\n", {"svc.yml": WEB_SERVICE})
    state = build_cluster(scenario.load(path))
    svc = state.service("default", "web")
    assert state.endpoints_for(svc, svc.ports[0]) == ()
    assert any("matches no pods" in w for w in state.warnings)


def test_cli_usage_and_help():
    r = run_lab("--help")
    assert "up" in r.stdout and "down" in r.stdout and "exec" in r.stdout
    r = run_lab("get", "widgets", "--lab", "nolab", check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr


# strings, and ports with no name ------------------------------------------------------------------

@pytest.mark.parametrize("value, empty, problem", [
    ("", False, "expected a non-empty string, got an empty string"),
    (None, False, "expected a non-empty string, got empty"),
    (80, False, "expected a non-empty string, got an integer"),
    (True, False, "expected a non-empty string, got true or false"),
    (["http"], False, "expected a non-empty string, got a list"),
    ({"a": 1}, False, "expected a non-empty string, got a mapping"),
    (80, True, "expected a string, got an integer"),
    (None, True, "expected a string, got empty"),
    ("Web_1", True, "'Web_1' is not a valid port name (use lower-case letters, digits and '-')"),
])
def test_a_string_field_says_what_it_got(value, empty, problem):
    with pytest.raises(InputError) as err:
        Field(value, "svc.yml", "spec.ports[0].name").str(DNS_LABEL, "port name", empty=empty)
    assert str(err.value) == f"svc.yml: spec.ports[0].name: {problem}"


def test_a_string_field_that_may_be_empty():
    assert Field("", "f", "x").str(DNS_LABEL, "port name", empty=True) == ""
    assert Field("http", "f", "x").str(DNS_LABEL, "port name", empty=True) == "http"
    assert Field("http", "f", "x").str() == "http"


def parse(text):
    return [parse_object(Field(doc, "m.yml")) for doc in yaml.safe_load_all(textwrap.dedent(text))]


def test_ports_with_no_name():
    objects = parse("""\
        apiVersion: v1
        kind: Service
        metadata: {name: a}
        spec: {selector: {app: a}, ports: [{port: 80, targetPort: 8080}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: b}
        spec: {ports: [{name: "", port: 81}]}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: b-1, labels: {kubernetes.io/service-name: b}}
        addressType: IPv4
        ports: [{name: "", port: 8080}]
        endpoints: [{addresses: [10.244.1.7]}]
        ---
        apiVersion: v1
        kind: Endpoints
        metadata: {name: c}
        subsets: [{addresses: [{ip: 10.244.1.8}], ports: [{name: "", port: 8080}]}]
        """)
    a, b, b_slice, c = objects
    assert [p.name for p in a.ports] == [""] and [p.name for p in b.ports] == [""]
    assert b_slice.ports == (("", 8080, "TCP"),) and c.ports == (("", 8080, "TCP"),)


@pytest.mark.parametrize("text, problem", [
    ("kind: Service\nmetadata: {name: a}\nspec: {ports: [{name: '', port: 80}, {name: x, port: 81}]}",
     "m.yml: spec.ports[0]: every port of a multi-port service needs a name"),
    ("kind: Service\nmetadata: {name: a}\nspec: {ports: [{name: 8080, port: 80}]}",
     "m.yml: spec.ports[0].name: expected a string, got an integer"),
    ("kind: Service\nmetadata: {name: a}\nspec: {ports: [{name: null, port: 80}, {name: x, port: 81}]}",
     "m.yml: spec.ports[0]: every port of a multi-port service needs a name"),
    ("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: a-1, labels: "
     "{kubernetes.io/service-name: a}}\naddressType: IPv4\nports: [{name: 7, port: 8080}]\nendpoints: []",
     "m.yml: ports[0].name: expected a string, got an integer"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {subdomain: Sub_1, containers: [{name: c, image: i}]}",
     "m.yml: spec.subdomain: 'Sub_1' is not a valid subdomain"),
])
def test_bad_port_names_and_hostnames(text, problem):
    if "apiVersion" not in text:
        text = "apiVersion: v1\n" + text
    with pytest.raises(InputError) as err:
        parse(text)
    assert str(err.value).startswith(problem), str(err.value)


def test_configmaps_with_other_data_are_other_objects():
    from lab.spec.fields import Field
    from lab.spec.manifests import parse_object

    def cm(value):
        return parse_object(Field({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                   "data": {"k": value}}, "cm.yml"))
    assert cm("a") == cm("a") and cm("a") != cm("b")  # so applying a changed one says configured
    assert cm("a").value("k") == "a" and cm("a").value("nope") is None


def test_a_value_with_a_newline_is_quoted_in_one_line():
    from lab.errors import InputError
    from lab.spec.fields import Field
    with pytest.raises(InputError) as caught:
        Field("a\nb", "m.yml", "spec.ports[0].targetPort").port_name()
    assert str(caught.value) == ('m.yml: spec.ports[0].targetPort: Invalid value: "a\\nb": must contain only '
                                 'alpha-numeric characters (a-z, 0-9), and hyphens (-)')
