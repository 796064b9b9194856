"""``lab ui``: a lab as a live page for a classroom's projector. counters (the kernel's packet
counters of the rules each new connection takes, per path and per endpoint: pure), nftcount (the
table of its own that counts them in nftables mode, and its counters read: pure), snapshot (what
the page shows, from the cluster state, the counters and the exercise: pure), page (the HTML and
its script: no build step, nothing fetched from elsewhere), server (the edge: the standard
library's HTTP server on 127.0.0.1 with a token, server-sent events, the poller)."""
