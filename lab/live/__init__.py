"""live: moving a lab between states: ``up`` as a list of named steps, ``down``, ``status``, and the
live changes (apply, delete, kill, node, link) as a library that returns what it did; reconcile
tells every agent and waits for them; events records what happened.

Edge. May import: lab.errors, lab.tables, lab.spec, lab.cluster, lab.proxy, lab.net, lab.kernel, lab.agents,
lab.images.
"""
