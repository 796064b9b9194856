"""A lab that changes while a client keeps sending requests: scale 2 -> 5 -> 2, a pod killed, a node
down and up. Once each change has converged, only live pods answer and nothing fails."""

import json
import os
import time


from factories import Lab, SCENARIOS, lab_fixture, run_lab, unique_lab_name
from lab.kernel.record import find_running
from lab.cluster import lookup
from lab.verify import steady
from lab.proxy import names

DEPLOYMENT = open(os.path.join(SCENARIOS, "seed", "pod-nodeport.yml")).read()


def live_pods(lab):
    pods = json.loads(lab.get("pods", "-o", "json"))["items"]
    return {p["metadata"]["name"] for p in pods
            if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])}


def scaled(tmp_path, replicas):
    path = tmp_path / f"scale{replicas}.yml"
    path.write_text(DEPLOYMENT.replace("replicas: 2", f"replicas: {replicas}"))
    return str(path)


lab = lab_fixture("seed.yml", "x")


def test_rolling_changes_converge(lab, tmp_path):
    _, state = find_running(lab.name)
    client = lookup.netns_of(state, "client")
    steps = []
    with steady.SteadyLoad(client, "192.168.179.100", 30090, interval=0.01) as load:
        time.sleep(0.5)
        for what, args in (("scale to 5", ("apply", "-f", scaled(tmp_path, 5))),
                           ("scale to 2", ("apply", "-f", scaled(tmp_path, 2))),
                           ("kill a pod", ("kill", "pod", sorted(live_pods(lab))[0])),
                           ("node2 down", ("node", "down", "node2", "--grace", "1")),
                           ("node2 up", ("node", "up", "node2"))):
            began = time.monotonic()
            out = run_lab(*args, "--lab", lab.name).stdout
            converged = time.monotonic()
            steps.append((what, began, converged, live_pods(lab), out))
            time.sleep(1.0)
        ended = time.monotonic()
    report = []
    for i, (what, began, converged, live, out) in enumerate(steps):
        next_began = steps[i + 1][1] if i + 1 < len(steps) else ended
        during = load.between(began, converged)
        after = load.between(converged + 0.05, next_began)
        requests, failures, strays = steady.summary(after, live)
        report.append(f"{what}: converged in {converged - began:.2f} s; {sum(not s.outcome.ok for s in during)} "
                      f"failed while converging; after: {requests} requests, {failures} failed, {strays} stray")
        assert "converged in" in out
        assert requests > 20, what
        assert failures == 0 and strays == 0, "\n".join(report)
    print("\n".join(report))


def test_events_tell_the_story(lab):
    out = run_lab("events", "--lab", lab.name).stdout
    for reason in ("Scheduled", "Started", "Killing", "NodeNotReady", "NodeReady"):
        assert reason in out, reason


def test_apply_bad_manifest_exits_2(lab, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(DEPLOYMENT.replace("replicas: 2", "replicas: many"))
    r = run_lab("apply", "-f", str(bad), "--lab", lab.name, check=False)
    assert r.returncode == 2 and "spec.replicas: expected an integer" in r.stderr and "Traceback" not in r.stderr


def test_delete_service_and_deployment(lab, tmp_path):
    svc = tmp_path / "svc.yml"
    svc.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: extra}\n"
                   "spec: {type: NodePort, selector: {app: myapp}, ports: [{port: 80, targetPort: 8080, nodePort: 30111}]}\n")
    assert "service/extra created" in run_lab("apply", "-f", str(svc), "--lab", lab.name).stdout
    assert lab.curl("client", "192.168.179.101:30111").startswith("You've hit pod-nodeport-")
    chain = "KUBE-SVC-" + names.port_proto_hash("default/extra:", "tcp")  # the seed runs the 1.18 profile
    assert f":{chain}" in lab.exec("node1", "iptables-save", "-t", "nat").stdout
    run_lab("delete", "svc", "extra", "--lab", lab.name)
    assert lab.curl("client", "192.168.179.101:30111", timeout=1) is None
    assert chain not in lab.exec("node1", "iptables-save", "-t", "nat").stdout  # stale chains removed
    run_lab("delete", "deployment", "pod-nodeport", "--lab", lab.name)
    assert not any(line.startswith("pod-nodeport") for line in lab.get("pods").splitlines())
    assert lab.exec("client", "curl", "-s", "-m", "2", "192.168.179.101:30090", check=False).returncode == 7  # REJECT


def test_a_thousand_concurrent_connections_through_a_node_port():
    from lab.verify import probe
    lab = Lab(os.path.join(SCENARIOS, "seed.yml"), unique_lab_name("y"))
    lab.up()
    try:
        _, state = find_running(lab.name)
        client = lookup.netns_of(state, "client")
        outcomes = probe.run(probe.many([(client, "192.168.179.99", 30090, "/", 10.0)] * 1000, concurrency=1000))
        failed = [o.describe() for o in outcomes if not o.ok]
        assert failed == [], failed[:5]
        assert {o.pod for o in outcomes} == {"pod-nodeport-6cc49c7999-gdqbg", "pod-nodeport-6cc49c7999-5fjdh"}
    finally:
        lab.down()
