"""A running lab is what its scenario said when it came up: editing the scenario's files on disk
changes nothing until the next ``up``; a live change rebuilds from the copy kept in the record."""

import json

from factories import run_lab, scenario_file, unique_lab_name

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: luksa/kubia, ports: [{containerPort: 8080}]}]
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: NODEPORT}]
"""
EXTRA = """\
apiVersion: v1
kind: Service
metadata: {name: extra}
spec:
  selector: {app: web}
  ports: [{port: 81, targetPort: 8080}]
"""


def _pods_and_node_port(name):
    pods = json.loads(run_lab("get", "pods", "-l", "app=web", "-o", "json", "--lab", name).stdout)["items"]
    svc = json.loads(run_lab("get", "svc", "web", "-o", "json", "--lab", name).stdout)
    return len(pods), svc["spec"]["ports"][0]["nodePort"]


def test_editing_the_scenario_of_a_running_lab_changes_nothing_until_the_next_up(tmp_path):
    path = scenario_file(tmp_path, "topology: TOPOLOGY\nmanifests: [deploy.yml, svc.yml]\n",
                         {"deploy.yml": DEPLOYMENT.replace("REPLICAS", "2"),
                          "svc.yml": SERVICE.replace("NODEPORT", "30081")})
    name = unique_lab_name("rec")
    run_lab("up", path, "--name", name, "--no-api-server")
    try:
        assert _pods_and_node_port(name) == (2, 30081)
        (tmp_path / "deploy.yml").write_text(DEPLOYMENT.replace("REPLICAS", "3"))
        (tmp_path / "svc.yml").write_text(SERVICE.replace("NODEPORT", "30082"))
        (tmp_path / "extra.yml").write_text(EXTRA)
        # a live change rebuilds the cluster: from the record's copy, not from the edited files
        out = run_lab("apply", "-f", str(tmp_path / "extra.yml"), "--lab", name).stdout
        assert "service/extra created" in out
        assert _pods_and_node_port(name) == (2, 30081)
        run_lab("kill", "pod", json.loads(run_lab("get", "pods", "-l", "app=web", "-o", "json", "--lab", name)
                                          .stdout)["items"][0]["metadata"]["name"], "--lab", name)
        assert _pods_and_node_port(name) == (2, 30081)
    finally:
        run_lab("down", name)
    run_lab("up", path, "--name", name, "--no-api-server")
    try:
        assert _pods_and_node_port(name) == (3, 30082)  # the next up reads the files again
    finally:
        run_lab("down", name)
