"""classroom: what a teacher and a student use: ``lab explain`` (a node's real rules walked, in
words), exercises (catalog, runner, grades), diagrams and plots, and ``lab shell`` (a node's shell
set up as the seed's author had it).

Edge. May import: lab.errors, lab.tables, lab.spec, lab.cluster, lab.proxy, lab.net, lab.kernel,
lab.agents, lab.live, lab.verify, lab.images.
"""
