"""Daemons that run inside a lab's namespaces (started by lab.lifecycle, one per node each)."""
