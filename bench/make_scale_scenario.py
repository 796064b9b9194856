#!/usr/bin/env python3
"""Write a scale scenario: N nodes on one LAN, D Deployments of R replicas, and for each
Deployment a ClusterIP Service and a NodePort Service.

The default (50 nodes, 500 x 2 = 1,000 pods, 1,000 Services) is ``scenarios/scale.yml``, checked
in; the benchmark also writes smaller and larger ones to a temporary folder to show that time
and memory grow in proportion. Needs no root.

    python3 bench/make_scale_scenario.py [--nodes 50] [--deployments 500] [--replicas 2] [-o DIR]
"""

import argparse
import ipaddress
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAN = ipaddress.ip_network("192.168.176.0/22")
FIRST_NODE_PORT = 30000


def topology_text(nodes):
    hosts = list(LAN.hosts())
    lines = [f"# {nodes} nodes on one LAN, written by bench/make_scale_scenario.py",
             f"lan: {{cidr: {LAN}, gateway: {hosts[0]}}}", "nodes:"]
    for i in range(nodes):
        name = "master" if i == 0 else f"node{i}"
        lines.append(f"  - {{name: {name}, ip: {hosts[99 + i]}, podCIDR: 10.244.{i}.0/24}}")
    lines += ["hosts:", f"  - {{name: client, ip: {hosts[-1]}}}"]
    return "\n".join(lines) + "\n"


def manifests_text(deployments, replicas):
    docs = []
    for i in range(deployments):
        app = f"app{i:04d}"
        docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {app}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {app}}}}}
  template:
    metadata: {{labels: {{app: {app}}}}}
    spec:
      containers: [{{name: web, image: luksa/kubia, ports: [{{containerPort: 8080}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {app}}}
spec:
  selector: {{app: {app}}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {app}-np}}
spec:
  type: NodePort
  selector: {{app: {app}}}
  ports: [{{port: 80, targetPort: 8080, nodePort: {FIRST_NODE_PORT + i}}}]
""")
    return "---\n".join(docs)


def scenario_text(name, topology_file, manifests_file, nodes, deployments, replicas):
    return f"""# {nodes} nodes, {deployments * replicas} pods, {2 * deployments} Services (plus kubernetes and kube-dns),
# written by bench/make_scale_scenario.py. kube-proxy's current layout, as a cluster of this size runs it.
name: {name}
topology: {topology_file}
kubeProxy: {{mode: iptables, profile: current}}
manifests:
  - {manifests_file}
"""


def write(directory, name, nodes, deployments, replicas, topology_dir=None):
    """Write the scenario (and its topology and manifests); return the scenario's path."""
    topology_dir = topology_dir or directory
    os.makedirs(os.path.join(directory, name), exist_ok=True)
    os.makedirs(topology_dir, exist_ok=True)
    topology_path = os.path.join(topology_dir, f"{name}-{nodes}-nodes.yml")
    manifests_path = os.path.join(directory, name, "workloads.yml")
    scenario_path = os.path.join(directory, f"{name}.yml")
    with open(topology_path, "w") as f:
        f.write(topology_text(nodes))
    with open(manifests_path, "w") as f:
        f.write(manifests_text(deployments, replicas))
    with open(scenario_path, "w") as f:
        f.write(scenario_text(name, os.path.relpath(topology_path, directory),
                              os.path.relpath(manifests_path, directory), nodes, deployments, replicas))
    return scenario_path


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=50)
    p.add_argument("--deployments", type=int, default=500)
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--name", default="scale")
    p.add_argument("-o", "--output", default=os.path.join(ROOT, "scenarios"), help="scenario folder")
    args = p.parse_args()
    topology_dir = os.path.join(ROOT, "topologies") if args.output == os.path.join(ROOT, "scenarios") else None
    print(write(args.output, args.name, args.nodes, args.deployments, args.replicas, topology_dir))


if __name__ == "__main__":
    main()
