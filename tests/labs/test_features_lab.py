"""kube-proxy's Service features, observed in a running lab (scenarios/features.yml)."""

import collections
import json
import re
import subprocess
import sys
import time

from factories import ROOT, lab_fixture, run_lab

lab = lab_fixture("features.yml", "e")


def pods_by_node(lab):
    rows = [line.split() for line in lab.get("pods", "-o", "wide").splitlines()[1:] if "Terminating" not in line]
    return {r[6].split("-", 1)[1]: r[0] for r in rows if r[0].startswith("web-")}


def hit(body):
    m = re.match(r"You've hit (\S+)", body or "")
    return m.group(1) if m else None


def test_session_affinity_sticks_to_one_pod(lab):
    out = lab.exec("client", "sh", "-c", "for i in $(seq 30); do curl -s -m 2 192.168.179.100:30100; done").stdout
    answers = collections.Counter(hit(line + "\n") for line in out.splitlines())
    assert len(answers) == 1 and sum(answers.values()) == 30, answers
    saved = lab.exec("node1", "iptables-save", "-t", "nat").stdout
    assert re.search(r'-m recent --rcheck --seconds 600 --reap --name KUBE-SEP-\w+ --mask 255.255.255.255 --rsource',
                     saved)


def test_load_balancer_source_ranges_block_other_clients(lab):
    ip = json.loads(lab.get("svc", "ranges", "-o", "json"))["status"]["loadBalancer"]["ingress"][0]["ip"]
    pods = pods_by_node(lab)
    assert hit(lab.curl(pods["master"], f"http://{ip}/")).startswith("web-")  # 10.244.0.0/24 may
    assert lab.curl(pods["node1"], f"http://{ip}/", timeout=1) is None  # 10.244.1.x may not: dropped
    saved = lab.exec("node1", "iptables-save", "-t", "filter").stdout
    assert re.search(rf'-A KUBE-PROXY-FIREWALL -d {re.escape(ip)}/32 -p tcp -m comment --comment '
                     rf'"default/ranges traffic not accepted by KUBE-FW-\w+" -m tcp --dport 80 -j DROP', saved)


def test_internal_traffic_policy_local_keeps_traffic_on_the_node(lab):
    cip = json.loads(lab.get("svc", "node-local", "-o", "json"))["spec"]["clusterIP"]
    for node, pod in pods_by_node(lab).items():
        answers = {hit(lab.curl(pod, f"http://{cip}/")) for _ in range(6)}
        assert answers == {pod}, (node, answers)  # only the pod on the same node


def test_external_ips(lab):
    assert hit(lab.curl("client", "http://192.168.179.100:8888/")).startswith("web-")  # from outside
    assert hit(lab.curl(pods_by_node(lab)["node2"], "http://192.168.179.100:8888/")).startswith("web-")
    saved = lab.exec("node2", "iptables-save", "-t", "nat").stdout
    assert re.search(r'-A KUBE-SERVICES -d 192\.168\.179\.100/32 -p tcp -m comment --comment '
                     r'"default/external external IP" -m tcp --dport 8888 -j KUBE-EXT-\w+', saved)


def test_localhost_node_ports_off_from_the_kube_proxy_configuration(lab):
    assert lab.curl("node1", "http://192.168.179.100:30100/").startswith("You've hit web-")
    assert lab.exec("node1", "curl", "-s", "-m", "1", "http://127.0.0.1:30100/", check=False).returncode != 0
    saved = lab.exec("node1", "iptables-save", "-t", "nat").stdout
    assert ('-A KUBE-SERVICES ! -d 127.0.0.0/8 -m comment --comment "kubernetes service nodeports; NOTE: this must be '
            'the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS') in saved


def test_localhost_node_ports_on_by_default(seed_lab):
    assert seed_lab.curl("node1", "http://127.0.0.1:30090/").startswith("You've hit pod-nodeport-")


def _delete_in_background(lab_name, pod, grace):
    return subprocess.Popen([sys.executable, "-m", "lab", "delete", "pod", pod, "--grace-period", str(grace),
                             "--lab", lab_name], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_terminating_endpoints_serve_when_none_is_ready(lab):
    """current kube-proxy falls back to serving, terminating endpoints (KEP-1669)."""
    assert hit(lab.curl("client", "192.168.179.100:30200")) == "solo"
    deleting = _delete_in_background(lab.name, "solo", 4)
    try:
        _wait_for(lambda: "Terminating" in lab.get("pods"))
        ep = json.loads(lab.get("endpoints", "solo", "-o", "json"))
        assert ep["subsets"][0]["notReadyAddresses"][0]["targetRef"]["name"] == "solo"
        assert hit(lab.curl("client", "192.168.179.100:30200")) == "solo"  # still answered while terminating
    finally:
        out, _ = deleting.communicate(timeout=30)
    assert 'pod "solo" deleted' in out
    assert lab.exec("client", "curl", "-s", "-m", "2", "192.168.179.100:30200", check=False).returncode == 7


def test_kube_proxy_1_18_does_not_fall_back(seed_lab, tmp_path):
    manifest = tmp_path / "solo.yml"
    manifest.write_text("""apiVersion: v1
kind: Pod
metadata: {name: solo, labels: {app: solo}}
spec:
  containers: [{name: solo, image: luksa/kubia, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: solo}
spec:
  type: NodePort
  selector: {app: solo}
  ports: [{port: 80, targetPort: 8080, nodePort: 30200}]
""")
    run_lab("apply", "-f", str(manifest), "--lab", seed_lab.name)
    assert hit(seed_lab.curl("client", "192.168.179.100:30200")) == "solo"
    deleting = _delete_in_background(seed_lab.name, "solo", 4)
    try:
        _wait_for(lambda: "Terminating" in seed_lab.get("pods"))
        # 1.18 uses ready endpoints only: the service has none, so its NodePort is REJECTed
        assert seed_lab.exec("client", "curl", "-s", "-m", "2", "192.168.179.100:30200",
                             check=False).returncode == 7
    finally:
        deleting.communicate(timeout=30)
