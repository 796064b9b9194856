"""lab.api.tables: the cells of kube-apiserver's server-side Tables (pkg/printers/internalversion/
printers.go), for the seed's own objects and for the states the seed does not show (waiting and
terminated containers, init containers, readiness gates, restarts, Terminating, NotReady nodes,
LoadBalancers, endpoints beyond three)."""

import os

import pytest

from factories import SCENARIOS
from lab.api import tables
from lab.cluster import objects, resources
from lab.cluster.build import build_cluster
from lab.spec import scenario

T0 = "2020-01-01T00:00:00Z"
NOW = tables.parse_time("2020-01-01T00:27:00Z")  # every object 27 minutes old


@pytest.fixture(scope="module")
def seed():
    spec = scenario.load(os.path.join(SCENARIOS, "seed.yml"))
    events = [{"time": tables.parse_time(T0), "type": "Normal", "reason": "Scheduled", "source": "default-scheduler",
               "object": "pod/pod-nodeport-6cc49c7999-gdqbg", "message": "Successfully assigned default/x to k8s-master "}]
    rendered = resources.render(build_cluster(spec), objects.with_addons(spec, spec.objects), events,
                                {"kernel": "6.1.0-test"})
    for obj in rendered.values():
        obj.pop("_written", None)
        obj["metadata"]["creationTimestamp"] = T0
        if obj["kind"] == "Event":
            obj["firstTimestamp"] = obj["lastTimestamp"] = T0
    return rendered


def cells(plural, obj):
    return tables.row(plural, obj, NOW)["cells"]


def test_seed_pods(seed):
    assert cells("pods", seed["v1/Pod/default/pod-nodeport-6cc49c7999-gdqbg"]) == [
        "pod-nodeport-6cc49c7999-gdqbg", "1/1", "Running", "0", "27m", "10.244.0.23", "k8s-master", "<none>", "<none>"]
    assert cells("pods", seed["v1/Pod/default/pod-nodeport-6cc49c7999-5fjdh"])[5:7] == ["10.244.2.14", "k8s-node2"]


def test_seed_services(seed):
    assert cells("services", seed["v1/Service/default/kubernetes"]) == [
        "kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP", "27m", "<none>"]
    assert cells("services", seed["v1/Service/default/nodeport-svc"]) == [
        "nodeport-svc", "NodePort", "10.105.182.209", "<none>", "3000:30090/TCP", "27m", "app=myapp"]
    assert cells("services", seed["v1/Service/kube-system/kube-dns"])[4] == "53/UDP,53/TCP,9153/TCP"


def test_seed_endpoints_list_ports_then_addresses(seed):
    # formatEndpoints walks each port's addresses: two coredns pods, three ports, three shown
    name, shown, _ = cells("endpoints", seed["v1/Endpoints/kube-system/kube-dns"])
    ips = sorted(a["ip"] for a in seed["v1/Endpoints/kube-system/kube-dns"]["subsets"][0]["addresses"])
    assert (name, shown) == ("kube-dns", f"{ips[0]}:53,{ips[1]}:53,{ips[0]}:53 + 3 more...")
    assert cells("endpoints", seed["v1/Endpoints/default/nodeport-svc"])[1] == "10.244.0.23:8080,10.244.2.14:8080"
    assert cells("endpoints", seed["v1/Endpoints/default/kubernetes"])[1] == "192.168.179.99:6443"


def test_endpoints_edge_cases():
    def ep(subsets):
        return cells("endpoints", {"metadata": {"name": "e", "creationTimestamp": T0}, **subsets})
    assert ep({})[1] == "<none>"
    assert ep({"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]})[1] == ""
    assert ep({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}]})[1] == "10.0.0.1,10.0.0.2"


def test_seed_endpoint_slices(seed):
    assert cells("endpointslices", seed["discovery.k8s.io/v1/EndpointSlice/default/nodeport-svc-p6754"]) == [
        "nodeport-svc-p6754", "IPv4", "8080", "10.244.0.23,10.244.2.14", "27m"]
    empty = {"metadata": {"name": "s", "creationTimestamp": T0}, "addressType": "IPv4", "ports": [{"name": "http"}],
             "endpoints": []}
    assert cells("endpointslices", empty)[2:4] == ["http", "<unset>"]


def test_seed_deployment_and_replicaset(seed):
    assert cells("deployments", seed["apps/v1/Deployment/default/pod-nodeport"]) == [
        "pod-nodeport", "2/2", 2, 2, "27m", "myapp", "luksa/kubia", "app=myapp"]
    assert cells("replicasets", seed["apps/v1/ReplicaSet/default/pod-nodeport-6cc49c7999"]) == [
        "pod-nodeport-6cc49c7999", 2, 2, 2, "27m", "myapp", "luksa/kubia", "app=myapp,pod-template-hash=6cc49c7999"]


def test_label_selector_cells_sort_requirements():
    selector = {"matchLabels": {"tier": "web", "app": "x"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                     {"key": "legacy", "operator": "DoesNotExist"}]}
    rs = {"metadata": {"name": "r", "creationTimestamp": T0}, "spec": {"replicas": 1, "selector": selector}}
    assert cells("replicasets", rs)[-1] == "app=x,env in (dev,prod),!legacy,tier=web"
    rs["spec"]["selector"] = {}
    assert cells("replicasets", rs)[-1] == "<none>"  # FormatLabelSelector
    assert cells("deployments", rs)[-1] == ""  # printDeployment's selector.String()


def test_seed_nodes(seed):
    master = cells("nodes", seed["v1/Node//k8s-master"])
    assert master[:5] == ["k8s-master", "Ready", "master", "27m", "v1.18.20"]
    assert master[5:7] == ["192.168.179.99", "<none>"]
    assert master[8] == "6.1.0-test"
    assert cells("nodes", seed["v1/Node//k8s-node1"])[2] == "<none>"


def test_node_status_from_its_ready_condition():
    def node(conditions, **spec):
        return cells("nodes", {"metadata": {"name": "n", "creationTimestamp": T0,
                                            "labels": {"node-role.kubernetes.io/": "", "kubernetes.io/role": "edge",
                                                       "node-role.kubernetes.io/worker": ""}},
                               "spec": spec, "status": {"conditions": conditions}})
    assert node([{"type": "Ready", "status": "Unknown"}])[1] == "NotReady"  # not "Unknown": kubectl says NotReady
    assert node([{"type": "Ready", "status": "False"}], unschedulable=True)[1] == "NotReady,SchedulingDisabled"
    assert node([])[1] == "Unknown"
    assert node([])[2] == "edge,worker"


def test_seed_events(seed):
    event = next(o for k, o in seed.items() if k.startswith("v1/Event/"))
    assert cells("events", event) == [
        "27m", "Normal", "Scheduled", "pod/pod-nodeport-6cc49c7999-gdqbg", "", "default-scheduler",
        "Successfully assigned default/x to k8s-master", "27m", 1, event["metadata"]["name"]]


def test_event_source_times_and_series():
    ev = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Node"}, "reportingComponent": "ctl",
          "source": {"host": "h1"}, "eventTime": "2020-01-01T00:20:00.000000Z", "message": "x",
          "series": {"count": 4, "lastObservedTime": "2020-01-01T00:26:00.000000Z"}}
    row = cells("events", ev)
    assert row[0] == "60s" and row[7] == "7m" and row[8] == 4
    assert row[3] == "node" and row[5] == "ctl, h1"


def pod(statuses, *, init=(), init_statuses=(), phase="Running", conditions=(), gates=(), deleting=False, **status):
    meta = {"name": "p", "creationTimestamp": T0}
    if deleting:
        meta["deletionTimestamp"] = "2020-01-01T00:26:00Z"
    return {"metadata": meta,
            "spec": {"containers": [{"name": f"c{i}"} for i in range(len(statuses))], "initContainers": list(init),
                     "readinessGates": [{"conditionType": g} for g in gates]},
            "status": {"phase": phase, "containerStatuses": list(statuses), "initContainerStatuses": list(init_statuses),
                       "conditions": list(conditions), "podIPs": [{"ip": "10.0.0.9"}], **status}}


RUNNING = {"ready": True, "restartCount": 0, "state": {"running": {}}}


@pytest.mark.parametrize("obj,ready,status_text,restarts", [
    (pod([RUNNING, RUNNING]), "2/2", "Running", "0"),
    (pod([RUNNING, {"ready": False, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"finishedAt": "2020-01-01T00:25:00Z"}}}]),
     "1/2", "CrashLoopBackOff", "3 (2m ago)"),
    (pod([{"ready": False, "state": {"terminated": {"exitCode": 137}}}], phase="Failed"), "0/1", "ExitCode:137", "0"),
    (pod([{"ready": False, "state": {"terminated": {"signal": 9}}}]), "0/1", "Signal:9", "0"),
    (pod([{"ready": False, "state": {"terminated": {"reason": "Completed"}}}, RUNNING],
         conditions=[{"type": "Ready", "status": "False"}]), "1/2", "NotReady", "0"),
    (pod([{"ready": False, "state": {"terminated": {"reason": "Completed"}}}, RUNNING],
         conditions=[{"type": "Ready", "status": "True"}]), "1/2", "Running", "0"),
    (pod([{"ready": False, "state": {"waiting": {"reason": "A"}}}, {"ready": False, "state": {"waiting": {"reason": "B"}}}]),
     "0/2", "A", "0"),  # the first container's reason (printPod walks them from the last)
    (pod([{"ready": True, "state": {"waiting": {"reason": "PodInitializing"}}}],
         init=[{"name": "i0"}, {"name": "i1"}],
         init_statuses=[{"name": "i0", "state": {"terminated": {"exitCode": 0}}}, {"name": "i1", "state": {}}],
         phase="Pending"), "0/1", "Init:1/2", "0"),
    (pod([{"ready": False, "state": {}}], init=[{"name": "i0"}],
         init_statuses=[{"name": "i0", "state": {"waiting": {"reason": "ImagePullBackOff"}}}], phase="Pending"),
     "0/1", "Init:ImagePullBackOff", "0"),
    (pod([RUNNING], init=[{"name": "side", "restartPolicy": "Always"}],
         init_statuses=[{"name": "side", "started": True, "ready": True, "state": {"running": {}}}],
         conditions=[{"type": "Initialized", "status": "True"}]), "2/2", "Running", "0"),
    (pod([RUNNING], deleting=True), "1/1", "Terminating", "0"),
    (pod([], phase="Succeeded", deleting=True), "0/0", "Succeeded", "0"),
    (pod([RUNNING], deleting=True, reason="NodeLost"), "1/1", "Unknown", "0"),
    (pod([RUNNING], conditions=[{"type": "PodScheduled", "reason": "SchedulingGated"}], phase="Pending"),
     "1/1", "SchedulingGated", "0"),
])
def test_pod_cells_like_print_pod(obj, ready, status_text, restarts):
    row = cells("pods", obj)
    assert row[1:4] == [ready, status_text, restarts]


def test_pod_readiness_gates_count_true_conditions():
    obj = pod([RUNNING], gates=("a", "b"), conditions=[{"type": "a", "status": "True"}, {"type": "b", "status": "False"}])
    assert cells("pods", obj)[8] == "1/2"


def test_service_external_ips():
    def svc(kind, ingress=(), external=(), **spec):
        return cells("services", {"metadata": {"name": "s", "creationTimestamp": T0},
                                  "spec": {"type": kind, "externalIPs": list(external), **spec},
                                  "status": {"loadBalancer": {"ingress": list(ingress)}}})[3]
    assert svc("LoadBalancer") == "<pending>"
    assert svc("LoadBalancer", [{"ip": "192.168.179.241"}, {"hostname": "lb.example"}, {"ip": "192.168.179.240"},
                                {"ip": "192.168.179.240"}], ["1.2.3.4"]) == \
        "192.168.179.240,192.168.179.241,lb.example,1.2.3.4"  # a sorted set, then externalIPs
    assert svc("NodePort", external=["1.2.3.4", "5.6.7.8"]) == "1.2.3.4,5.6.7.8"
    assert svc("ExternalName", externalName="example.com") == "example.com"
    assert svc("Other") == "<unknown>"


def test_cluster_ip_cell_from_cluster_ips():
    row = cells("services", {"metadata": {"name": "s", "creationTimestamp": T0},
                             "spec": {"type": "ExternalName", "externalName": "x", "ports": []}})
    assert row[2] == "<none>" and row[4] == "<none>"
    row = cells("services", {"metadata": {"name": "h", "creationTimestamp": T0},
                             "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 53, "protocol": "UDP"}]}})
    assert row[1:5] == ["ClusterIP", "None", "<none>", "53/UDP"]


def test_ages_as_kubectl_shows_them():
    assert tables.age({"metadata": {"creationTimestamp": "2020-01-01T00:27:02Z"}}, NOW) == "<invalid>"
    assert tables.age({"metadata": {"creationTimestamp": "2020-01-01T00:27:01Z"}}, NOW) == "0s"
    assert tables.age({"metadata": {}}, NOW) == "<unknown>"
    assert tables.age({"metadata": {"creationTimestamp": "yesterday"}}, NOW) == "<unknown>"


def test_table_shape_and_wide_columns(seed):
    pods = [seed["v1/Pod/default/pod-nodeport-6cc49c7999-gdqbg"]]
    table = tables.table("pods", pods, 42, NOW)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    assert [(c["name"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1), ("Node", 1),
        ("Nominated Node", 1), ("Readiness Gates", 1)]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    headers, rows = tables.text("pods", pods, NOW)
    assert headers == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert tables.table("pods", pods, 1, NOW, with_columns=False)["columnDefinitions"] == []
