"""classroom: what a teacher and a student use: ``lab explain`` (a node's real rules walked, in
words), exercises (catalog, runner, grades), diagrams and plots.

Edge. May import: lab.errors, lab.tables, lab.spec, lab.cluster, lab.proxy, lab.net, lab.kernel,
lab.agents, lab.live, lab.verify.
"""
