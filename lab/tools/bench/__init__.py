"""``lab bench proxy``: kube-proxy's rule load time and first-packet latency against the number
of services, iptables mode against nftables mode (proxy_study: pure; proxy_testbed: the runs)."""
