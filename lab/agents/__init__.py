"""agents: the daemons that run inside a lab's namespaces (kube-proxy, the pod servers kubia/echo
and coredns, the load balancer's controller and its nginx), how the lab starts them (launch,
loadbalancer), and how it finds and signals each one (registry).

Edge. May import: lab.errors, lab.spec, lab.cluster, lab.proxy, lab.net, lab.kernel.
"""
