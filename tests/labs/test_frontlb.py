"""The front load balancer: real nginx in the lab's lb namespace, virtual hosts and LoadBalancer
services, probed from the client with real curl."""

import json
import os
import re
import textwrap
import threading
import time


from factories import Lab, lab_fixture, netns_list, run_lab, unique_lab_name

NODE_IPS = {"192.168.179.99", "192.168.179.100", "192.168.179.101"}
CLIENT = "192.168.179.200"


def hit(body):
    m = re.match(r"You've hit (\S+)\n", body or "")
    return m.group(1) if m else None


def client_address(body):
    m = re.search(r"client address ([\d.]+):\d+", body or "")
    return m.group(1) if m else None


vhost_lab = lab_fixture("frontend-vhosts.yml", "v")


lb_lab = lab_fixture("loadbalancer.yml", "l")


def test_nginx_runs_in_the_lb_namespace_with_files_in_the_state_dir(vhost_lab):
    assert vhost_lab.netns("lb") in netns_list()
    listeners = vhost_lab.exec("lb", "ss", "-tlnp").stdout
    assert re.search(r'192\.168\.179\.10:80 .*users:\(\("nginx"', listeners)
    state_dir = f"/run/svclab/{vhost_lab.name}/nginx"
    for name in ("nginx.conf", "nginx.pid", "error.log", "access.log"):
        assert os.path.exists(os.path.join(state_dir, name)), name


def test_virtual_hosts_reach_their_services(vhost_lab):
    for host, deployment in (("a.xxx.com", "demo"), ("b.xxx.com", "demo2"), ("c.xxx.com", "demo3")):
        for _ in range(3):
            body = vhost_lab.exec("client", "curl", "-s", "-m", "5", "-H", f"Host: {host}",
                                  "http://192.168.179.10/").stdout
            assert re.fullmatch(rf"{deployment}-[a-z0-9]+-[a-z0-9]{{5}}", hit(body) or ""), (host, body)
    body = vhost_lab.exec("client", "curl", "-s", "-m", "5", "-H", "Host: z.xxx.com", "http://192.168.179.10/").stdout
    assert body == "no virtual host here has that name\n"


def test_lb_config_lists_every_node_port(vhost_lab):
    conf = run_lab("lb", "config", "--lab", vhost_lab.name).stdout
    for upstream, port in (("demo", 31964), ("demo2", 31965), ("demo3", 31966)):
        block = re.search(rf"upstream {upstream} {{\n(.*?)\n    }}", conf, re.S).group(1)
        assert {m for m in re.findall(rf"server ([\d.]+):{port};", block)} == NODE_IPS
    assert "server_name b.xxx.com;" in conf and "proxy_pass http://demo2;" in conf


def test_load_balancer_services_get_addresses(lb_lab):
    rows = {line.split()[0]: line.split() for line in lb_lab.get("svc").splitlines()[1:]}
    assert rows["echo-cluster"][1:4] == ["LoadBalancer", rows["echo-cluster"][2], "192.168.179.240"]
    assert rows["echo-local"][3] == "192.168.179.241"
    assert re.fullmatch(r"80:\d{5}/TCP", rows["echo-local"][4])
    svc = json.loads(lb_lab.get("svc", "echo-local", "-o", "json"))
    assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": "192.168.179.241", "ipMode": "VIP"}]
    assert svc["spec"]["externalTrafficPolicy"] == "Local" and svc["spec"]["healthCheckNodePort"] > 30000
    conf = run_lab("lb", "config", "--lab", lb_lab.name).stdout
    assert "listen 192.168.179.240:80;" in conf and "listen 192.168.179.241:80;" in conf


def test_cluster_policy_pod_sees_a_node_address(lb_lab):
    seen = set()
    for _ in range(6):
        body = lb_lab.exec("client", "curl", "-s", "-m", "5", "http://192.168.179.240/").stdout
        assert hit(body) and hit(body).startswith("echo-"), body
        seen.add(client_address(body))
    assert CLIENT not in seen
    assert all(ip in NODE_IPS or re.fullmatch(r"10\.244\.\d+\.1", ip) for ip in seen), seen


def echo_nodes(lab):
    rows = [line.split() for line in lab.get("pods", "-o", "wide").splitlines()[1:]]
    return {r[0]: r[6].split("-", 1)[1] for r in rows if r[0].startswith("echo-")}


def test_local_policy_keeps_the_client_address(lb_lab):
    pods = echo_nodes(lb_lab)
    for _ in range(6):
        body = lb_lab.exec("client", "curl", "-s", "-m", "5", "http://192.168.179.241/").stdout
        assert hit(body) in pods, body
        assert client_address(body) == CLIENT, body


def test_health_check_node_port_and_the_load_balancer_follow_local_endpoints(lb_lab):
    svc = json.loads(lb_lab.get("svc", "echo-local", "-o", "json"))
    hcnp = svc["spec"]["healthCheckNodePort"]
    with_pods = set(echo_nodes(lb_lab).values())
    ips = {"master": "192.168.179.99", "node1": "192.168.179.100", "node2": "192.168.179.101"}
    for node, ip in ips.items():
        out = lb_lab.exec("client", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "3",
                          f"http://{ip}:{hcnp}/healthz").stdout
        assert out == ("200" if node in with_pods else "503"), node
    conf = run_lab("lb", "config", "--lab", lb_lab.name).stdout
    block = re.search(r"upstream echo-local_80_tcp {\n(.*?)\n    }", conf, re.S).group(1)
    for node, ip in ips.items():
        line = next(x for x in block.splitlines() if f"{ip}:" in x)
        assert (" down;" in line) == (node not in with_pods), line


def test_the_external_ip_works_from_inside_the_cluster(lb_lab):
    pod = sorted(echo_nodes(lb_lab))[0]
    assert hit(lb_lab.exec(pod, "curl", "-s", "-m", "5", "http://192.168.179.240/").stdout).startswith("echo-")
    assert hit(lb_lab.exec("node1", "curl", "-s", "-m", "5", "http://192.168.179.241/").stdout).startswith("echo-")


def test_upstreams_follow_pods_without_failing_requests(lb_lab):
    failures, answers = [], []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            r = lb_lab.exec("client", "curl", "-s", "-m", "5", "http://192.168.179.241/", check=False)
            (answers if r.returncode == 0 and hit(r.stdout) else failures).append(r.stdout)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        for pod in sorted(echo_nodes(lb_lab)):
            run_lab("delete", "pod", pod, "--lab", lb_lab.name)
        time.sleep(2.5)  # the controller probes every second and reloads nginx on a change
    finally:
        stop.set()
        worker.join()
    assert failures == [] and len(answers) >= 3
    with_pods = set(echo_nodes(lb_lab).values())
    conf = run_lab("lb", "config", "--lab", lb_lab.name).stdout
    block = re.search(r"upstream echo-local_80_tcp {\n(.*?)\n    }", conf, re.S).group(1)
    up = {line.split("# ")[1].split("-", 1)[1].split(":")[0] for line in block.splitlines() if " down;" not in line}
    assert up == with_pods


def test_pool_exhausted_is_pending_with_a_reason(tmp_path):
    (tmp_path / "topo.yml").write_text(textwrap.dedent("""\
        lan: {cidr: 192.168.179.0/24}
        nodes: [{name: node1, ip: 192.168.179.100, podCIDR: 10.244.1.0/24}]
        hosts: [{name: client, ip: 192.168.179.200}]
        loadBalancer: {ip: 192.168.179.10, pool: 192.168.179.240-192.168.179.240}
        """))
    services = "".join(f"""
          - apiVersion: v1
            kind: Service
            metadata: {{name: {name}}}
            spec: {{type: LoadBalancer, selector: {{app: x}}, ports: [{{port: 80}}]}}""" for name in ("first", "second"))
    (tmp_path / "s.yml").write_text(f"topology: topo.yml\ncluster: {{dns: false}}\nmanifests:{services}\n")
    lab = Lab(str(tmp_path / "s.yml"), unique_lab_name("p"))
    lab.up()
    try:
        rows = {line.split()[0]: line.split() for line in lab.get("svc").splitlines()[1:]}
        assert rows["first"][3] == "192.168.179.240"
        assert rows["second"][3] == "<pending>"
        described = run_lab("describe", "svc", "second", "--lab", lab.name).stdout
        assert "AllocationFailed" in described and "no addresses left in the pool 192.168.179.240-192.168.179.240" \
            in described
    finally:
        lab.down()
