"""net: the rest of what the kernel and the daemons are given, as plain data or text: the wiring
plan (namespaces, bridges, veths, addresses, routes), the pod network's own netfilter rules,
resolv.conf and hosts files, nginx's configuration, the DNS records CoreDNS would serve.

Pure. May import: lab.errors, lab.spec, lab.cluster, lab.proxy.
"""
