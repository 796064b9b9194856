"""``lab trace``: the kernel's own netfilter trace of one connection (monitor: the run, bounded
and undone; analysis: the events read and laid out, pure)."""
