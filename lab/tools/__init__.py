"""tools: svclab seen from outside: Mininet and IPMininet exports and a Mininet CLI over a lab,
the kube-proxy scaling study (bench), and the host check (doctor).

Edge. May import: lab.errors, lab.tables, lab.spec, lab.cluster, lab.proxy, lab.net, lab.kernel,
lab.agents, lab.live, lab.verify, lab.classroom.
"""
