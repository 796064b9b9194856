"""svclab: Kubernetes Service networking built from Linux network namespaces."""

__version__ = "0.1.0"
