"""The counting table ``lab ui`` adds to each node in nftables mode, and the reading of its
counters. Pure: the table as ``nft -f`` text, its name, and ``nft -j list set`` output parsed.

kube-proxy's nft rules carry no counters, and svclab writes exactly kube-proxy's table, so the ui
counts in a table of its own, ``table ip svclab-ui-<pid>`` (one per ``lab ui`` process, so two of
them on one lab neither count twice nor delete each other's). Its chains are filter chains at
priority dstnat + 1: a nat chain would not do, as the kernel calls a hook's later nat chains no
more once one of them has set up the connection's DNAT. Each new connection that kube-proxy's
rules DNATed adds to one element of a dynamic set with per-element counters, keyed by where the
connection was sent (the conntrack original destination: address, protocol, port) and where it
went (the packet's destination after the DNAT: the pod's address and port). The prerouting chain
sees what comes in (from pods, the client, the load balancer), the output chain what the node
itself starts.
"""

import json
import re

PREFIX = "svclab-ui-"
SET = "conns"
_KEY = ("ct original ip daddr . meta l4proto . ct original proto-dst . ip daddr . th dport")
_RULE = f"ct state new ct status dnat meta l4proto {{ tcp, udp, sctp }} update @{SET} {{ {_KEY} }}"
_TABLE_LINE = re.compile(rf"^table ip ({re.escape(PREFIX)}(\d+))$")


def table_name(pid):
    return f"{PREFIX}{pid}"


def table_text(name):
    """``nft -f`` input that creates the table from scratch (an old one of that name is replaced)."""
    return f"""add table ip {name}
delete table ip {name}
table ip {name} {{
	comment "lab ui's count of the new connections kube-proxy's rules DNAT; removed when lab ui stops"
	set {SET} {{
		type ipv4_addr . inet_proto . inet_service . ipv4_addr . inet_service
		size 65536
		flags dynamic
		counter
	}}
	chain prerouting {{
		type filter hook prerouting priority dstnat + 1; policy accept;
		{_RULE}
	}}
	chain output {{
		type filter hook output priority -99; policy accept;
		{_RULE}
	}}
}}
"""


def list_argv(name):
    return ["nft", "-j", "list", "set", "ip", name, SET]


def delete_argv(name):
    return ["nft", "delete", "table", "ip", name]


def read_elements(text):
    """``nft -j list set`` -> {("ip:port/PROTO" sent to, "ip:port" DNATed to): new connections}."""
    out = {}
    for item in json.loads(text).get("nftables", []):
        for elem in (item.get("set") or {}).get("elem", []):
            inner = elem.get("elem", elem) if isinstance(elem, dict) else elem
            concat = inner["val"]["concat"] if isinstance(inner, dict) and "val" in inner else inner["concat"]
            packets = (inner.get("counter") or {}).get("packets", 0) if isinstance(inner, dict) else 0
            dst, proto, port, to, to_port = concat
            key = (f"{dst}:{port}/{str(proto).upper()}", f"{to}:{to_port}")
            out[key] = out.get(key, 0) + int(packets)
    return out


def ui_tables(listing):
    """``nft list tables`` -> [(table name, pid)] of the lab ui tables in it."""
    return [(m.group(1), int(m.group(2))) for m in map(_TABLE_LINE.match, listing.splitlines()) if m]
