"""``lab explain``: a service's paths through each node's real rules (read back from the kernel),
walked for the first packet of a new connection and said in words; a pod's plumbing."""
