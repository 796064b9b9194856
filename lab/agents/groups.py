"""Which agent process serves which nodes.

A small lab runs one kube-proxy (and one pod server per app) for every node, as a cluster does,
so each node's ``netstat -p`` shows a kube-proxy of its own. A large lab would pay about 25 MB
and 50 ms of start-up per Python process, so its nodes share at most ``MAX_PROCESSES`` processes
per agent kind, each serving a run of consecutive nodes.
"""

MAX_PROCESSES = 8


def groups(node_names, max_processes=MAX_PROCESSES):
    """``[(key, [node names])]``: consecutive runs of nodes, as even as possible. The key names
    the process's files and its record entry: the node's own name when it serves one node."""
    names = list(node_names)
    count = min(len(names), max_processes)
    out, start = [], 0
    for i in range(count):
        size = len(names) // count + (1 if i < len(names) % count else 0)
        run = names[start:start + size]
        start += size
        out.append((run[0] if len(run) == 1 else f"{run[0]}..{run[-1]}", run))
    return out


def group_of(node_names, node, max_processes=MAX_PROCESSES):
    """``(key, members)`` of the group serving ``node``."""
    return next(g for g in groups(node_names, max_processes) if node in g[1])
