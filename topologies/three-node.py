"""The seed's machines, in Python: the twin of three-node.yml (both load to the same topology).

A master and two workers on one LAN, a client outside the cluster, and a front load balancer
whose controller hands LoadBalancer services addresses from its pool. Use it wherever a topology
file goes: ``topology: ../topologies/three-node.py`` in a scenario, ``lab render --topology``.
"""

from lab.topo_api import Topo

NODES = [("master", "192.168.179.99", "10.244.0.0/24"),
         ("node1", "192.168.179.100", "10.244.1.0/24"),
         ("node2", "192.168.179.101", "10.244.2.0/24")]


class ThreeNode(Topo):
    def build(self):
        lan = self.addSwitch("lan", cidr="192.168.179.0/24", gateway="192.168.179.1")
        for name, ip, pod_cidr in NODES:
            self.addLink(self.addNode(name, ip=ip, podCIDR=pod_cidr), lan)
        self.addLink(self.addHost("client", ip="192.168.179.200"), lan)
        self.addLink(self.addLoadBalancer(ip="192.168.179.10", pool="192.168.179.240-192.168.179.249"), lan)


topos = {"three-node": ThreeNode}
