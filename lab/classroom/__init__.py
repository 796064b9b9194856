"""classroom: what a teacher and a student use: ``lab explain`` (a node's real rules walked, in
words), exercises (catalog, runner, grades), diagrams and plots, and ``lab shell`` (a node's shell
set up as the seed's author had it). lab.api only for a lab's kubeconfig (an exercise's reference
fix runs the user's kubectl).

Edge. May import: lab.errors, lab.tables, lab.spec, lab.cluster, lab.proxy, lab.net, lab.kernel,
lab.agents, lab.live, lab.verify, lab.api, lab.images.
"""
