"""kube-proxy: rule renderers (pure) for each proxy mode."""
