"""kind: a scenario as the configuration of a kind cluster (and its manifests)."""
