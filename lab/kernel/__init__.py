"""kernel: the only code that touches the host: namespaces, netlink (rtnl, dataplane), running
commands (commands: one runner, a typed failure), processes (spawn, wait, kill only the lab's
own), /etc/netns files, and the lab's ownership record under /run/svclab.

Edge. May import: lab.errors, lab.spec, lab.cluster, lab.proxy, lab.net.
"""
