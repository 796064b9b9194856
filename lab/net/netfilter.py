"""Netfilter rules that are not kube-proxy's: the pod network's and the load balancer's. Pure.

- Every node masquerades pod traffic that leaves the cluster CIDR, as flannel does (the seed's
  10.244.0.0/16 is flannel's network), so pods can reach the LAN.
- With a load balancer, each node marks connections that come from the load balancer's MAC
  and routes their replies back through it (policy routing, table 100), and the load balancer
  hands those replies to nginx's transparent socket: nginx can then keep the client's address
  (``proxy_bind $remote_addr transparent``), as a cloud's pass-through load balancer does.
"""

from lab.net import nginx, wiring

FLANNEL = "flanneld masq"


def node_rules(cluster):
    """``iptables-restore --noflush`` input for a node, loaded once when the node is built:
    flannel's masquerade rules, and the load balancer's return path if the lab uses it."""
    return flannel_rules(cluster) + (lb_return_rules(cluster) if nginx.needs_nginx(cluster) else "")


def flannel_rules(cluster):
    cidr = cluster.cluster_cidr
    return "\n".join([
        "*nat", ":FLANNEL-POSTRTG - [0:0]",
        f'-A POSTROUTING -m comment --comment "{FLANNEL}" -j FLANNEL-POSTRTG',
        f'-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "{FLANNEL}" -j RETURN',
        f'-A FLANNEL-POSTRTG -s {cidr} -d {cidr} -m comment --comment "{FLANNEL}" -j RETURN',
        f'-A FLANNEL-POSTRTG -s {cidr} ! -d 224.0.0.0/4 -m comment --comment "{FLANNEL}" -j MASQUERADE --random-fully',
        "COMMIT"]) + "\n"


def lb_return_rules(cluster):
    """A node's side of the load balancer's transparent proxying (lab plumbing, not a cluster's):
    the replies of connections that came from the load balancer go back through it."""
    mark = f"{wiring.LB_RETURN_MARK:#x}/{wiring.LB_RETURN_MARK:#x}"
    comment = '-m comment --comment "svclab: replies to the load balancer go back through it"'
    return "\n".join([
        "*mangle", ":SVCLAB-LB-RETURN - [0:0]", "-A PREROUTING -j SVCLAB-LB-RETURN",
        f"-A SVCLAB-LB-RETURN -i eth0 -m mac --mac-source {wiring.lb_mac(cluster)} -m conntrack --ctstate NEW "
        f"{comment} -j CONNMARK --set-xmark {mark}",
        f"-A SVCLAB-LB-RETURN -m conntrack --ctdir REPLY -m connmark --mark {mark} {comment} -j MARK --set-xmark {mark}",
        "COMMIT"]) + "\n"


def lb_rules():
    """The load balancer's side of transparent proxying: replies for nginx's sockets stay local."""
    mark = f"{wiring.LB_TPROXY_MARK:#x}/{wiring.LB_TPROXY_MARK:#x}"
    return "\n".join(["*mangle", f"-A PREROUTING -p tcp -m socket --transparent -j MARK --set-xmark {mark}",
                      f"-A PREROUTING -p udp -m socket --transparent -j MARK --set-xmark {mark}", "COMMIT"]) + "\n"
