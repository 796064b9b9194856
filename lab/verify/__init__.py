"""verify: probes of a running lab against Kubernetes' promises: HTTP and DNS probes from inside
its namespaces, scenario checks, the reachability matrix, distributions (chi-square), steady
traffic, packet-level probes (scapy) and netfilter traces. urls, expect and stats are pure.

Edge. May import: lab.errors, lab.tables, lab.spec, lab.cluster, lab.proxy, lab.net, lab.kernel.
"""
