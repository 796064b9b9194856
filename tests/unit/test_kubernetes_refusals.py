"""Input Kubernetes rejects is rejected, in kube-apiserver's words where it has them: label keys and
values (metadata, selectors, matchExpressions) that are not label syntax or too long, a container
port name of digits only, a cluster domain longer than DNS allows, non-boolean and non-string values
of fields svclab does not model, an externalName that is no DNS name, IPv6, more pins than replicas.
Each error names the file the wrong value came from, and for a file the scenario names, the
scenario's field that named it. The running-lab half (``lab apply -f FILE`` names FILE) is
tests/labs/test_refusals_lab.py."""

import os

import pytest

from factories import SCENARIOS, WEB_SERVICE, scenario_file
from lab.cluster.build import build_cluster
from lab.errors import InputError
from lab.spec import scenario

DEPLOYMENT = open(os.path.join(SCENARIOS, "seed", "pod-nodeport.yml")).read()
SELECTOR = "matchLabels:\n      app: myapp"
LABEL_SYNTAX = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                "alphanumeric character")
VALUE_SYNTAX = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character")
EXTERNAL = "apiVersion: v1\nkind: Service\nmetadata: {{name: ext}}\nspec: {{type: ExternalName, externalName: {}}}\n"
LONG = "a" * 64


def error_of(tmp_path, body, manifest=None):
    path = scenario_file(tmp_path, body, {"m.yml": manifest} if manifest is not None else None)
    with pytest.raises(InputError) as err:
        build_cluster(scenario.load(path))
    message = str(err.value)
    assert "\n" not in message
    return message.replace(str(tmp_path) + "/", "")


IN_A_MANIFEST = [
    ("label key", DEPLOYMENT.replace("app: myapp\n  template", "-bad: x\n      app: myapp\n  template"),
     f'spec.selector.matchLabels.-bad: Invalid value: "-bad": name part {LABEL_SYNTAX}'),
    ("label key too long", WEB_SERVICE.replace("{app: web}", "{" + LONG + ": x}"),
     f'spec.selector.{LONG}: Invalid value: "{LONG}": name part must be no more than 63 characters'),
    ("label key prefix", WEB_SERVICE.replace("{app: web}", "{'Example.com/a': x}"),
     'spec.selector.Example.com/a: Invalid value: "Example.com/a": prefix part a lowercase RFC 1123 subdomain'),
    ("label value", WEB_SERVICE.replace("{app: web}", "{app: '-web'}"),
     f'spec.selector.app: Invalid value: "-web": {VALUE_SYNTAX}'),
    ("label value too long", WEB_SERVICE.replace("{app: web}", "{app: " + LONG + "}"),
     f'spec.selector.app: Invalid value: "{LONG}": must be no more than 63 characters'),
    ("metadata label", WEB_SERVICE.replace("metadata: {name: web}", "metadata: {name: web, labels: {'a b': c}}"),
     f"metadata.labels['a b']: Invalid value: \"a b\": name part {LABEL_SYNTAX}"),
    ("template label", DEPLOYMENT.replace("      labels:\n        app: myapp", "      labels:\n        app: my_app_"),
     f'spec.template.metadata.labels.app: Invalid value: "my_app_": {VALUE_SYNTAX}'),
    ("matchExpressions key", DEPLOYMENT.replace(SELECTOR, SELECTOR + "\n    matchExpressions: "
                                                "[{key: '-bad', operator: DoesNotExist}]"),
     f'spec.selector.matchExpressions[0].key: Invalid value: "-bad": name part {LABEL_SYNTAX}'),
    ("matchExpressions key too long", DEPLOYMENT.replace(SELECTOR, SELECTOR + "\n    matchExpressions: "
                                                         f"[{{key: {LONG}, operator: DoesNotExist}}]"),
     f'spec.selector.matchExpressions[0].key: Invalid value: "{LONG}": name part must be no more than 63'),
    ("matchExpressions value", DEPLOYMENT.replace(SELECTOR, "matchExpressions: [{key: app, operator: In, "
                                                  "values: [myapp, '-x']}]"),
     f'spec.selector.matchExpressions[0].values[1]: Invalid value: "-x": {VALUE_SYNTAX}'),
    ("matchExpressions value too long", DEPLOYMENT.replace(SELECTOR, "matchExpressions: [{key: app, operator: In, "
                                                           f"values: [myapp, {LONG}]}}]"),
     f'spec.selector.matchExpressions[0].values[1]: Invalid value: "{LONG}": must be no more than 63 characters'),
    ("container port name of digits", DEPLOYMENT.replace("- containerPort: 8080", "- containerPort: 8080\n"
                                                         "          name: '8080'"),
     'spec.template.spec.containers[0].ports[0].name: Invalid value: "8080": must contain at least one letter'),
    ("publishNotReadyAddresses: 'yes'", WEB_SERVICE.replace("type: NodePort", "type: NodePort\n"
                                                            "  publishNotReadyAddresses: 'yes'"),
     "spec.publishNotReadyAddresses: expected true or false, got a string"),
    ("appProtocol: 5", WEB_SERVICE.replace("targetPort: http,", "targetPort: http, appProtocol: 5,"),
     "spec.ports[0].appProtocol: expected a non-empty string, got an integer"),
    ("externalName with a space", EXTERNAL.format("'not a name'"),
     'spec.externalName: Invalid value: "not a name": a lowercase RFC 1123 subdomain must consist of lower case'),
    ("externalName in capitals", EXTERNAL.format("Example.COM"), 'spec.externalName: Invalid value: "Example.COM"'),
    ("externalName too long", EXTERNAL.format(".".join(["a" * 60] * 5)), "spec.externalName: Invalid value:"),
    ("ipFamilies IPv6", WEB_SERVICE.replace("type: NodePort", "type: NodePort\n  ipFamilies: [IPv6]"),
     'spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster'),
]


@pytest.mark.parametrize("what, manifest, said", IN_A_MANIFEST, ids=[c[0] for c in IN_A_MANIFEST])
def test_a_manifest_kubernetes_rejects(tmp_path, what, manifest, said):
    message = error_of(tmp_path, "topology: TOPOLOGY\nmanifests: [m.yml]\n", manifest)
    assert message.startswith(f"m.yml: {said}"), message
    assert message.endswith("named by scenario.yml: manifests[0])"), message


def test_externalname_as_kubernetes_allows_it(tmp_path):
    path = scenario_file(tmp_path, "topology: TOPOLOGY\nmanifests: [m.yml]\n",
                         {"m.yml": EXTERNAL.format("db.example.com.")})
    assert build_cluster(scenario.load(path)).service("default", "ext").external_name == "db.example.com."


@pytest.mark.parametrize("domain, said", [
    (".".join(["a" * 60] * 5), "is longer than 253 characters"),
    ("a" * 64 + ".local", "is 64 characters, over DNS's 63"),
    ("Cluster.Local", "is not a valid domain"),
])
def test_a_cluster_domain_dns_does_not_allow(tmp_path, domain, said):
    message = error_of(tmp_path, f"topology: TOPOLOGY\ncluster: {{domain: {domain}}}\nmanifests: []\n")
    assert message.startswith("scenario.yml: cluster.domain: ") and said in message


def test_more_pins_than_replicas(tmp_path):
    pins = ", ".join(["{deployment: pod-nodeport}"] * 3)
    message = error_of(tmp_path, f"topology: TOPOLOGY\nmanifests: [m.yml]\npins: {{pods: [{pins}]}}\n", DEPLOYMENT)
    assert message.startswith("scenario.yml: pins.pods[2]: Deployment default/pod-nodeport has 2 replicas, "
                              "and this is pin 3 for it")


def test_a_build_error_names_the_manifest_it_came_from(tmp_path):
    pod = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
           "spec: {nodeName: nosuch, containers: [{name: c, image: x}]}\n")
    message = error_of(tmp_path, "topology: TOPOLOGY\nmanifests: [m.yml]\n", pod)
    assert message.startswith("m.yml: spec.nodeName: no node named 'nosuch'"), message


def test_a_file_the_scenario_names_is_named_with_the_field(tmp_path):
    """Errors in the topology file, a kube-proxy configuration and the second of two manifests each
    say which field of the scenario named the file."""
    (tmp_path / "t.yml").write_text("lan: {cidr: 192.168.9.0/24}\nnodes: [{name: n1, ip: 192.168.9.2, podCIDR: x}]\n")
    message = error_of(tmp_path, "topology: t.yml\nmanifests: []\n")
    assert message.startswith("t.yml: nodes[0].podCIDR: 'x' is not a network") and \
        message.endswith("named by scenario.yml: topology)")
    (tmp_path / "kp.yml").write_text("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                                     "mode: ipvs\n")
    message = error_of(tmp_path, "topology: TOPOLOGY\nkubeProxy: {config: kp.yml}\nmanifests: []\n")
    assert message.startswith("kp.yml: mode: ") and message.endswith("named by scenario.yml: kubeProxy.config)")
    (tmp_path / "ok.yml").write_text(WEB_SERVICE)
    (tmp_path / "bad.yml").write_text(WEB_SERVICE.replace("name: web}", "name: web2, labels: {'-x': y}}"))
    message = error_of(tmp_path, "topology: TOPOLOGY\nmanifests: [ok.yml, bad.yml]\n")
    assert message.startswith("bad.yml: metadata.labels.-x: ") and \
        message.endswith("named by scenario.yml: manifests[1])")
