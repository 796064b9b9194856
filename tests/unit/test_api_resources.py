"""lab.cluster.resources.render for the seed: the objects kube-apiserver would show, with the
control plane's defaults (Service clusterIPs, ipFamilies, ipFamilyPolicy, internalTrafficPolicy,
externalTrafficPolicy; port protocol and targetPort), the owner chain Pod -> ReplicaSet ->
Deployment as store keys, EndpointSlice port names, and nothing left to chance."""

import json
import os

import pytest

from factories import SCENARIOS, SEED_CLUSTER_IP, SEED_PODS
from lab.cluster import objects, resources
from lab.cluster.build import build_cluster
from lab.spec import scenario


def render(name="seed.yml"):
    spec = scenario.load(os.path.join(SCENARIOS, name))
    return resources.render(build_cluster(spec), objects.with_addons(spec, spec.objects), (), {"kernel": "k"})


@pytest.fixture(scope="module")
def seed():
    return render()


def test_render_is_pure_and_repeatable(seed):
    assert json.dumps(render(), sort_keys=True) == json.dumps(seed, sort_keys=True)


def test_the_seeds_objects(seed):
    kinds = sorted({k.rsplit("/", 2)[0] for k in seed})
    assert kinds == ["apps/v1/Deployment", "apps/v1/ReplicaSet", "coordination.k8s.io/v1/Lease",
                     "discovery.k8s.io/v1/EndpointSlice", "v1/ConfigMap", "v1/Endpoints",
                     "v1/Namespace", "v1/Node", "v1/Pod", "v1/Service"]
    pods = {k.rsplit("/", 1)[1] for k in seed if k.startswith("v1/Pod/default/")}
    assert pods == set(SEED_PODS)


def test_owner_references_chain_pod_replicaset_deployment(seed):
    name = next(iter(SEED_PODS))
    pod = seed[f"v1/Pod/default/{name}"]
    (rs_ref,) = pod["metadata"]["ownerReferences"]
    assert rs_ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "pod-nodeport-6cc49c7999",
                      "controller": True, "blockOwnerDeletion": True,
                      "_key": "apps/v1/ReplicaSet/default/pod-nodeport-6cc49c7999"}
    rs = seed[rs_ref["_key"]]
    (deploy_ref,) = rs["metadata"]["ownerReferences"]
    assert deploy_ref["_key"] == "apps/v1/Deployment/default/pod-nodeport" and deploy_ref["kind"] == "Deployment"
    deploy = seed[deploy_ref["_key"]]
    assert "ownerReferences" not in deploy["metadata"]
    assert pod["metadata"]["generateName"] == "pod-nodeport-6cc49c7999-"
    assert pod["metadata"]["labels"]["pod-template-hash"] == "6cc49c7999"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "myapp", "pod-template-hash": "6cc49c7999"}
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "3"  # 2 + 25% rounded up


def test_service_defaults(seed):
    spec = seed["v1/Service/default/nodeport-svc"]["spec"]
    assert spec["clusterIP"] == SEED_CLUSTER_IP and spec["clusterIPs"] == [SEED_CLUSTER_IP]
    assert (spec["ipFamilies"], spec["ipFamilyPolicy"]) == (["IPv4"], "SingleStack")
    assert (spec["internalTrafficPolicy"], spec["externalTrafficPolicy"]) == ("Cluster", "Cluster")
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"protocol": "TCP", "port": 3000, "targetPort": 8080, "nodePort": 30090}]
    api = seed["v1/Service/default/kubernetes"]["spec"]
    assert "externalTrafficPolicy" not in api  # a ClusterIP Service has none
    assert api["clusterIPs"] == ["10.96.0.1"] and api["ports"][0]["name"] == "https"
    dns = seed["v1/Service/kube-system/kube-dns"]
    assert dns["spec"]["clusterIP"] == "10.96.0.10"
    assert dns["metadata"]["labels"]["kubernetes.io/cluster-service"] == "true"


def test_endpoint_slices_name_every_port_and_reference_pods(seed):
    slices = [o for k, o in seed.items() if k.startswith("discovery.k8s.io/v1/EndpointSlice/default/nodeport-svc")]
    (eps,) = slices
    assert eps["ports"] == [{"name": "", "protocol": "TCP", "port": 8080}]
    assert eps["metadata"]["labels"]["kubernetes.io/service-name"] == "nodeport-svc"
    assert eps["metadata"]["ownerReferences"][0]["_key"] == "v1/Service/default/nodeport-svc"
    assert {e["targetRef"]["_key"] for e in eps["endpoints"]} == {f"v1/Pod/default/{p}" for p in SEED_PODS}
    assert all(e["conditions"] == {"ready": True, "serving": True, "terminating": False} for e in eps["endpoints"])


def test_pods_status_and_spec_defaults(seed):
    for name, (ip, node) in SEED_PODS.items():
        pod = seed[f"v1/Pod/default/{name}"]
        assert pod["status"]["podIP"] == ip and pod["status"]["podIPs"] == [{"ip": ip}]
        assert pod["spec"]["nodeName"] == f"k8s-{node}"
        assert pod["status"]["containerStatuses"][0]["ready"] is True
        assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Always"  # luksa/kubia: no tag
        assert pod["status"]["startTime"] is None  # the store sets it


def test_nodes_and_namespaces(seed):
    master = seed["v1/Node//k8s-master"]
    assert "node-role.kubernetes.io/master" in master["metadata"]["labels"]  # the 1.18 profile's role
    assert master["status"]["nodeInfo"]["kubeletVersion"] == "v1.18.20"
    assert {n["metadata"]["name"] for k, n in seed.items() if k.startswith("v1/Namespace/")} == \
        {"default", "kube-node-lease", "kube-public", "kube-system"}


def test_max_surge_rounds_up():
    assert [resources._max_surge(n) for n in (0, 1, 2, 4, 10)] == [0, 1, 1, 1, 3]


def test_nothing_system_owned_is_rendered(seed):
    for obj in seed.values():
        assert not set(obj["metadata"]) & {"uid", "resourceVersion", "creationTimestamp"}, obj["metadata"]["name"]
