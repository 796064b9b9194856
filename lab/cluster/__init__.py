"""cluster: Scenario -> ClusterState, what the apiserver, the scheduler and the controllers decide:
pod names, nodes and addresses, ClusterIPs and node ports, endpoints, load-balancer addresses;
then how the state moves when objects change (controllers), what changed between two states
(diff) and how to find things in it (lookup). Deterministic: hashes stand in for randomness.

Pure. May import: lab.errors, lab.spec.
"""
