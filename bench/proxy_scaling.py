#!/usr/bin/env python3
"""kube-proxy's iptables mode against its nftables mode as services grow: for S = 100, 1,000,
5,000 and 10,000 ClusterIP services, the time to load one sync of kube-proxy's rules into a
node namespace, and the connect() latency from a pod to the first and the last service and to
a pod directly (median and p99 of many new connections; median of several runs, min-max beside).

Run as root:  sudo python3 bench/proxy_scaling.py [--sizes 100,1000] [--modes iptables,nftables]
              [--connections N] [--runs R] [--plot FILE.png] [--json]
The same as ``lab bench proxy``; the study itself is lab/scaling_study.py and lab/scaling_runtime.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lab.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main.main(["bench", "proxy"] + sys.argv[1:]))
