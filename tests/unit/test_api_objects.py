"""What the API shows that kubectl prints, beyond the seed's get lines: a node that stopped posting
its status, node leases, /version per release, a Deployment at 0, a bare pod relabelled, and which
writes change a lab."""

import os
import textwrap

import pytest

from factories import SCENARIOS, TOPOLOGY
from lab.api import kinds, status, tables, writes
from lab.cluster import controllers, naming, objects, resources
from lab.cluster.build import build_cluster
from lab.spec import scenario

NOW = tables.parse_time("2020-01-01T00:10:00Z")


def _render(spec, cluster=None):
    cluster = cluster or build_cluster(spec)
    rendered = resources.render(cluster, objects.with_addons(spec, spec.objects))
    for obj in rendered.values():
        obj.pop("_written", None)
        obj["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    return rendered


def _scenario(tmp_path, manifests):
    (tmp_path / "m.yml").write_text(textwrap.dedent(manifests))
    (tmp_path / "s.yml").write_text(f"topology: {TOPOLOGY}\nmanifests: [m.yml]\ncluster: {{dns: false}}\n")
    return scenario.load(str(tmp_path / "s.yml"))


def test_a_node_that_stopped_posting_is_not_ready():
    spec = scenario.load(os.path.join(SCENARIOS, "seed.yml"))
    cluster = controllers.set_node_ready(build_cluster(spec), "node2", False)
    node = _render(spec, cluster)["v1/Node//k8s-node2"]
    assert {(c["type"], c["status"], c["reason"]) for c in node["status"]["conditions"]} == {
        (t, "Unknown", "NodeStatusUnknown") for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")}
    assert all(c["lastHeartbeatTime"] is None for c in node["status"]["conditions"])  # the store's times
    # kubectl's rule: Unknown is NotReady; no Ready condition at all is Unknown
    assert tables.row("nodes", node, NOW)["cells"][:3] == ["k8s-node2", "NotReady", "<none>"]
    node["status"]["conditions"] = []
    node["spec"]["unschedulable"] = True
    assert tables.row("nodes", node, NOW)["cells"][1] == "Unknown,SchedulingDisabled"


def test_every_node_has_its_lease():
    rendered = _render(scenario.load(os.path.join(SCENARIOS, "seed.yml")))
    lease = rendered["coordination.k8s.io/v1/Lease/kube-node-lease/k8s-node1"]
    assert lease["spec"] == {"holderIdentity": "k8s-node1", "leaseDurationSeconds": 40, "renewTime": None}
    assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
    assert tables.text("leases", [lease], NOW) == (["NAME", "HOLDER", "AGE"], [["k8s-node1", "k8s-node1", "10m"]])
    assert kinds.named("lease").api_version == "coordination.k8s.io/v1"
    assert "coordination.k8s.io" in [g["name"] for g in kinds.api_group_list()["groups"]]


def test_version_as_each_release_answers():
    old = kinds.version_info("v1.18.20")
    assert list(old) == ["major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion",
                         "compiler", "platform"]
    assert (old["minor"], old["gitCommit"][:8], old["goVersion"]) == ("18", "1f3e19b7", "go1.13.15")
    new = kinds.version_info("v1.33.0")
    assert (new["emulationMinor"], new["minCompatibilityMinor"], new["gitVersion"]) == ("33", "32", "v1.33.0")


def test_a_deployment_at_zero_keeps_its_replicaset(tmp_path):
    spec = _scenario(tmp_path, """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: idle}
        spec:
          replicas: 0
          selector: {matchLabels: {app: idle}}
          template:
            metadata: {labels: {app: idle}}
            spec: {containers: [{name: web, image: luksa/kubia}]}
        """)
    rendered = _render(spec)
    template_hash = naming.pod_template_hash(spec.objects[0].template.raw)
    rs = rendered[f"apps/v1/ReplicaSet/default/idle-{template_hash}"]
    assert rs["spec"]["replicas"] == 0 and rs["status"] == {"replicas": 0, "fullyLabeledReplicas": 0,
                                                            "observedGeneration": 1}
    deployment = rendered["apps/v1/Deployment/default/idle"]
    assert "replicas" not in deployment["status"]  # DeploymentStatus's counts are omitempty
    assert f'"idle-{template_hash}"' in deployment["status"]["conditions"][1]["message"]
    assert tables.row("deployments", deployment, NOW)["cells"][1:4] == ["0/0", 0, 0]


BARE_POD = """\
    apiVersion: v1
    kind: Pod
    metadata: {{name: solo, labels: {labels}}}
    spec: {{containers: [{{name: web, image: luksa/kubia, ports: [{{containerPort: 8080}}]}}]}}
    ---
    apiVersion: v1
    kind: Service
    metadata: {{name: front}}
    spec: {{selector: {{tier: front}}, ports: [{{port: 80, targetPort: 8080}}]}}
    """


def test_a_bare_pod_takes_new_labels_in_place(tmp_path):
    old = build_cluster(_scenario(tmp_path, BARE_POD.format(labels="{app: solo}")))
    fresh = build_cluster(_scenario(tmp_path, BARE_POD.format(labels="{app: solo, tier: front}")))
    moved = controllers.carry_over(old, fresh)
    (before,), (after,) = old.pods, moved.pods
    assert (after.name, after.ip, after.node, after.netns) == (before.name, before.ip, before.node, before.netns)
    assert after.labels == (("app", "solo"), ("tier", "front"))
    front = moved.service("default", "front")
    assert [e.ip for e in moved.endpoints_for(front, front.ports[0])] == [after.ip]


def test_writes_that_change_nothing_or_a_controlled_pod():
    spec = scenario.load(os.path.join(SCENARIOS, "seed.yml"))
    pod = _render(spec)["v1/Pod/default/pod-nodeport-6cc49c7999-5fjdh"]
    assert writes.unchanged(pod, dict(pod, status={"phase": "Pending"}))
    relabelled = dict(pod, metadata=dict(pod["metadata"], labels={"app": "other"}))
    assert not writes.unchanged(pod, relabelled)
    resource = kinds.named("pods")
    with pytest.raises(status.ApiError) as refused:
        writes.refuse_controlled_pod_change(resource, pod)
    assert refused.value.code == 422 and 'of ReplicaSet "pod-nodeport-6cc49c7999"' in refused.value.message
    bare = dict(pod, metadata={k: v for k, v in pod["metadata"].items() if k != "ownerReferences"})
    writes.refuse_controlled_pod_change(resource, bare)  # a pod of its own may change
    writes.refuse_controlled_pod_change(kinds.named("svc"), pod)  # only pods are refused
