"""Cluster DNS: the records of the Kubernetes DNS-Based Service Discovery specification."""
