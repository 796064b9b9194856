"""remote: a scenario's checks against any Kubernetes cluster (kind, k3s, a cloud's, or a lab's
own API server), through the Kubernetes API only: the official Python client reads the
kubeconfig, applies the scenario's manifests under a label naming the run, waits for them, runs
each check by exec in a pod (or a hostNetwork probe pod on a node), and deletes what it made.
Nothing here enters a namespace or touches the lab's kernel: this package may not import
lab.kernel, lab.live, lab.agents or lab.api, nor the verify modules that probe from inside a lab.

Edge. May import: lab.errors, lab.tables, lab.spec, lab.cluster, lab.verify.report,
lab.verify.outcome, lab.verify.split, lab.verify.expect, lab.verify.stats, lab.verify.urls.
"""
