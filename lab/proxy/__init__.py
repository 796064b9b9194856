"""proxy: ClusterState x node -> what kube-proxy writes there. One object per mode (modes: its
tools, sysctls, renderer, load and read-back commands, parser); the Kubernetes logic every mode
shares (serviceports), every chain name (names), the iptables and nftables renderers, their
save/list forms, partial syncs, health-check answers, and the model of rules read back.

Pure. May import: lab.errors, lab.spec, lab.cluster.
"""
