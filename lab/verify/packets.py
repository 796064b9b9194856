"""Packet-level probes: follow one TCP SYN through the lab's namespaces and say what NAT did to it.

Two halves, kept apart:

- the pure half (plain data in, plain data out, unit-tested): the classic BPF program the capture
  sockets use, the address book of a cluster state, following a SYN and its SYN-ACK by their
  sequence numbers across capture points, deciding what happened (DNAT, SNAT, neither, dropped)
  and writing the report a student reads;
- the side effects, at the bottom (``open_capture``, ``tcp_connect``, ``arp_probe``,
  ``trace_tcp``): raw AF_PACKET sockets opened inside the lab's namespaces, scapy's
  ``AsyncSniffer`` reading them in a thread, and a real socket ``connect`` from the probing
  namespace. Every wait is bounded by a timeout, and everything happens inside the lab's own
  namespaces (sockets keep the namespace they were created in).

How one SYN is recognised everywhere: the probe's socket sets a DSCP mark (``PROBE_TOS``) so its
SYN can be told apart where it leaves; NAT rewrites addresses and ports but never the TCP
sequence number, so the same SYN is the SYN with the same sequence number at every capture
point, and its answer is the SYN-ACK that acknowledges it (ack = seq + 1).
"""

import ipaddress
import select
import socket
import threading
import time
from dataclasses import asdict, dataclass

PROBE_TOS = 0x20  # DSCP CS1 ("lower effort") on the probe's packets: how its SYN is told apart
SNAPLEN = 262144

# ---------------------------------------------------------------------------------------------
# pure: classic BPF (what ``tcpdump -dd 'arp or icmp or tcp[tcpflags] & tcp-syn != 0'`` gives),
# written out so that capturing needs no libpcap
# ---------------------------------------------------------------------------------------------

BPF_LD_H_ABS, BPF_LD_B_ABS, BPF_LD_B_IND = 0x28, 0x30, 0x50
BPF_LDX_B_MSH, BPF_JEQ_K, BPF_JSET_K, BPF_RET_K = 0xB1, 0x15, 0x45, 0x06


def bpf_program(arp=False, icmp=False, tcp_syn=True):
    """Classic BPF for Ethernet frames: accept ARP, IPv4 ICMP and/or IPv4 TCP segments with SYN
    set (SYN and SYN-ACK), as asked; drop everything else. A list of (code, jt, jf, k)."""
    accept, drop = 11, 12
    arp_to = accept if arp else drop
    icmp_to = accept if icmp else drop
    syn_to = accept if tcp_syn else drop
    # (code, true target, false target, k): targets are absolute, made relative below
    prog = [
        (BPF_LD_H_ABS, None, None, 12),  # 0: ethertype
        (BPF_JEQ_K, arp_to, 2, 0x0806),  # 1: ARP
        (BPF_JEQ_K, 3, drop, 0x0800),  # 2: IPv4
        (BPF_LD_B_ABS, None, None, 23),  # 3: IP protocol
        (BPF_JEQ_K, icmp_to, 5, 1),  # 4: ICMP
        (BPF_JEQ_K, 6, drop, 6),  # 5: TCP
        (BPF_LD_H_ABS, None, None, 20),  # 6: flags and fragment offset
        (BPF_JSET_K, drop, 8, 0x1FFF),  # 7: a later fragment has no TCP header
        (BPF_LDX_B_MSH, None, None, 14),  # 8: X = IP header length
        (BPF_LD_B_IND, None, None, 27),  # 9: TCP flags (14 + X + 13)
        (BPF_JSET_K, syn_to, drop, 0x02),  # 10: SYN
        (BPF_RET_K, None, None, SNAPLEN),  # 11: accept
        (BPF_RET_K, None, None, 0),  # 12: drop
    ]
    out = []
    for i, (code, jt, jf, k) in enumerate(prog):
        out.append((code, 0 if jt is None else jt - i - 1, 0 if jf is None else jf - i - 1, k))
    return out


# ---------------------------------------------------------------------------------------------
# pure: what was seen, where
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """A capture point: an interface in one of the lab's namespaces."""

    machine: str  # node (node1), host (client), pod name, or "lan" (the LAN switch)
    role: str  # node | host | pod | lan
    netns: str
    iface: str  # eth0, br0

    @property
    def label(self):
        return f"{self.machine} {self.iface}"


@dataclass(frozen=True)
class Seen:
    """One frame, as a capture point saw it."""

    machine: str
    role: str
    iface: str
    direction: str  # "in" (arriving at the interface's machine) or "out" (leaving it)
    time: float
    proto: str  # tcp | arp | icmp | other
    src: str = ""
    dst: str = ""
    sport: int = None
    dport: int = None
    flags: str = ""  # scapy's letters: S, SA, R, RA ...
    seq: int = None
    ack: int = None
    tos: int = 0
    mac_src: str = ""
    mac_dst: str = ""
    arp_op: int = None  # 1 who-has, 2 is-at
    icmp: str = ""  # "type/code"

    @property
    def label(self):
        return f"{self.machine} {self.iface}"

    def tuple4(self):
        return (self.src, self.sport, self.dst, self.dport)


def flag_name(flags):
    letters = set(flags or "")
    if "S" in letters:
        return "SYN-ACK" if "A" in letters else "SYN"
    if "R" in letters:
        return "RST"
    if "F" in letters:
        return "FIN"
    return "ACK" if "A" in letters else (flags or "")


def addr(ip, port):
    return f"{ip}:{port}" if port is not None else str(ip)


def address_book(cluster):
    """Who owns each address of a cluster state: ip -> {"kind", "name", "owner"}; ``owner`` is
    the phrase a report uses ("node node1's address")."""
    book = {}
    if getattr(cluster, "gateway", None):
        book[str(cluster.gateway)] = {"kind": "gateway", "name": "gateway", "owner": "the LAN gateway"}
    for n in cluster.nodes:
        book[str(n.ip)] = {"kind": "node", "name": n.name, "owner": f"node {n.name}'s address"}
        book[str(n.pod_gateway)] = {"kind": "cni0", "name": n.name,
                                    "owner": f"node {n.name}'s cni0 address"}
    for h in cluster.hosts:
        book[str(h.ip)] = {"kind": "host", "name": h.name, "owner": f"{h.name}'s own address"}
    if getattr(cluster, "lb", None) is not None:
        book[str(cluster.lb.ip)] = {"kind": "lb", "name": "lb", "owner": "the load balancer's address"}
    for p in cluster.pods:
        book[str(p.ip)] = {"kind": "pod", "name": p.name, "node": p.node, "owner": f"pod {p.name}"}
    for s in cluster.services:
        if s.cluster_ip and s.cluster_ip != "None":
            book[str(s.cluster_ip)] = {"kind": "clusterip", "name": f"{s.namespace}/{s.name}",
                                       "owner": f"the ClusterIP of {s.namespace}/{s.name}"}
    return book


def owner(book, ip):
    entry = book.get(str(ip))
    return entry["owner"] if entry else str(ip)


# ---------------------------------------------------------------------------------------------
# pure: following one SYN
# ---------------------------------------------------------------------------------------------

def find_isn(seen, machine, sport=None, tos=PROBE_TOS):
    """The initial sequence number of the probe's SYN: the first SYN leaving ``machine`` with the
    probe's DSCP mark (and, when given, its source port as the socket saw it). None if not seen."""
    candidates = [s for s in seen if s.proto == "tcp" and flag_name(s.flags) == "SYN" and s.machine == machine
                  and s.direction == "out" and (s.tos & 0xFC) == (tos & 0xFC)]
    exact = [s for s in candidates if sport is None or s.sport == sport]
    pick = exact or candidates
    if not pick:  # the first hop was not captured: any marked SYN will do
        pick = [s for s in seen if s.proto == "tcp" and flag_name(s.flags) == "SYN" and (s.tos & 0xFC) == (tos & 0xFC)]
    return min(pick, key=lambda s: s.time).seq if pick else None


def _hops(frames):
    """One frame per (point, direction), the first (retransmissions dropped), in time order."""
    first = {}
    for s in sorted(frames, key=lambda s: s.time):
        first.setdefault((s.machine, s.iface, s.direction), s)
    return sorted(first.values(), key=lambda s: s.time)


def follow(seen, isn):
    """The probe's SYN and its answer at every point that saw them: (syn hops, reply hops)."""
    if isn is None:
        return [], []
    syn = [s for s in seen if s.proto == "tcp" and flag_name(s.flags) == "SYN" and s.seq == isn]
    reply = [s for s in seen if s.proto == "tcp" and s.ack == (isn + 1) % 2 ** 32
             and flag_name(s.flags) in ("SYN-ACK", "RST")]
    return _hops(syn), _hops(reply)


def _pod_nodes(book):
    return {e["name"]: e.get("node") for e in book.values() if e["kind"] == "pod"}


def _where(prev, hop, pod_nodes):
    """Where the rewrites between two sightings of a packet happened, in words."""
    if prev.get("machine") is None:  # compared with what the socket sent
        if hop["direction"] == "out":
            return f"on {hop['machine']}, before it left"
        return f"before {hop['machine']} {hop['iface']}"
    a, b = prev["machine"], hop["machine"]
    if a == b:
        if hop["role"] == "pod" and prev["direction"] == "out" and hop["direction"] == "in":
            return f"on {pod_nodes.get(b) or 'its node'} (out of the pod and back in: hairpin)"
        return f"on {b}"
    if prev["role"] == "pod" and pod_nodes.get(a) == b:
        return f"on {b}"
    if hop["role"] == "pod" and pod_nodes.get(b) == a:
        return f"on {a}"
    return f"between {a} and {b}"


def annotate(sent, hops, book, reply=False):
    """Plain hop dicts, each with ``changes``: the rewrites since the hop before (for the SYN, the
    first hop is compared with what the socket sent), as {"nat", "field", "before", "after",
    "owner", "where"}; ``nat`` is DNAT or SNAT for the SYN, "reverse" for the answer."""
    pod_nodes = _pod_nodes(book)
    out = []
    prev = dict(sent, machine=None) if sent else None
    for s in hops:
        hop = {"machine": s.machine, "role": s.role, "iface": s.iface, "direction": s.direction,
               "src": s.src, "sport": s.sport, "dst": s.dst, "dport": s.dport, "flags": flag_name(s.flags),
               "time": s.time, "changes": []}
        if prev is not None:
            where = _where(prev, hop, pod_nodes)
            for fld, ip_key, port_key, nat in (("destination", "dst", "dport", "DNAT"),
                                               ("source", "src", "sport", "SNAT")):
                before, after = (prev[ip_key], prev[port_key]), (hop[ip_key], hop[port_key])
                if before != after:
                    hop["changes"].append({
                        "nat": "reverse" if reply else nat, "field": fld, "before": addr(*before),
                        "after": addr(*after), "owner": owner(book, after[0]), "port_only": before[0] == after[0],
                        "where": where})
        out.append(hop)
        prev = hop
    return out


def change_text(changes):
    """One hop's rewrites in words: "on node1: DNAT (destination), SNAT (source: node node1's address)"."""
    if not changes:
        return ""
    where = changes[0]["where"]
    if changes[0]["nat"] == "reverse":
        fields = " and ".join(c["field"] for c in changes)
        return f"{where}: conntrack undoes the NAT ({fields} back)"
    parts = []
    for c in changes:
        if c["nat"] == "DNAT":
            parts.append(f"DNAT (destination: {c['owner']})" if c["owner"] != c["after"].split(":")[0]
                         else "DNAT (destination)")
        elif c["port_only"]:
            parts.append("SNAT (source port only)")
        else:
            parts.append(f"SNAT (source: {c['owner']})")
    return f"{where}: " + ", ".join(parts)


def decide(sent, syn_hops, book, policy="Cluster", target_has_local_pod=None, from_role=None, via=None,
           from_machine=None):
    """What happened to the probe's SYN, from what the socket sent and the hops that saw it.

    ``sent``: {"src", "sport", "dst", "dport"} as the probing socket saw it. ``syn_hops``: from
    ``annotate``. ``via``: "nodeport" or "clusterip". Returns {"landed", "dnat", "snat",
    "summary", "explanation"}: plain data a report prints."""
    pod_hops = [h for h in syn_hops if h["role"] == "pod" and h["direction"] == "in"]
    landed_hop = pod_hops[0] if pod_hops else None
    result = {"landed": None, "dnat": None, "snat": None, "summary": "", "explanation": []}
    lines = result["explanation"]
    if landed_hop is None:
        last = syn_hops[-1] if syn_hops else None
        if last:
            lines.append(f"No pod received the SYN; it was last seen at {last['machine']} {last['iface']} "
                         f"({last['direction']}).")
        else:
            lines.append("No pod received the SYN; no capture point saw it.")
        if via == "clusterip" and from_role in ("host", "lan"):
            gw = [ip for ip, e in book.items() if e["kind"] == "gateway"]
            gateway = f" ({gw[0]}, lan br0)" if gw else ""
            lines.append(f"{sent['dst']} is a ClusterIP: it exists only in the nodes' iptables rules (kube-proxy "
                         "DNATs it as packets pass through a node). No machine holds it, so no one answers ARP "
                         f"for it, and nothing on the LAN routes the service range: the SYN went to the default "
                         f"gateway{gateway}, which does not forward it. From the LAN a ClusterIP is unreachable; "
                         "use a NodePort or a LoadBalancer address.")
        elif via == "nodeport" and policy == "Local" and target_has_local_pod is False:
            lines.append("externalTrafficPolicy is Local and this node runs no pod of the service: kube-proxy "
                         "drops NodePort traffic here instead of sending it to another node.")
        return result
    pod = book.get(landed_hop["dst"], {})
    result["landed"] = {"pod": landed_hop["machine"], "node": pod.get("node"),
                        "address": addr(landed_hop["dst"], landed_hop["dport"])}
    before_dst, after_dst = addr(sent["dst"], sent["dport"]), addr(landed_hop["dst"], landed_hop["dport"])
    before_src, after_src = addr(sent["src"], sent["sport"]), addr(landed_hop["src"], landed_hop["sport"])
    parts = []
    if before_dst != after_dst:
        result["dnat"] = {"from": before_dst, "to": after_dst, "pod": landed_hop["machine"], "node": pod.get("node")}
        parts.append("DNAT: destination rewritten to pod:targetPort")
        lines.append(f"DNAT: {before_dst} -> {after_dst}, pod {landed_hop['machine']}"
                     + (f" on {pod['node']}" if pod.get("node") else "")
                     + ": kube-proxy's rules (KUBE-SVC, then KUBE-SEP) picked this endpoint and rewrote the "
                       "destination.")
    else:
        lines.append(f"No DNAT: the SYN reached {after_dst} as addressed.")
    masq = ("kube-proxy marked the packet for masquerade (KUBE-MARK-MASQ) and KUBE-POSTROUTING rewrote the "
            "source as it left toward the pod" + (", because externalTrafficPolicy is Cluster"
                                                   if via == "nodeport" else ""))
    if sent["src"] != landed_hop["src"]:
        snat_owner = owner(book, landed_hop["src"])
        result["snat"] = {"from": before_src, "to": after_src, "owner": snat_owner, "port_only": False}
        parts.append(f"SNAT: source rewritten to {snat_owner}")
        line = f"SNAT: {before_src} -> {after_src} ({snat_owner}): {masq}."
        if book.get(landed_hop["src"], {}).get("kind") == "cni0":
            line += (" The pod is on that node, so the masquerade took the address of the interface toward "
                     "the pod, cni0.")
        line += (f" The pod answers {landed_hop['src']}, so the reply goes back through that node, which undoes "
                 f"both rewrites; the pod never sees the original source {sent['src']}.")
        lines.append(line)
    elif sent["sport"] is not None and sent["sport"] != landed_hop["sport"]:
        snat_owner = owner(book, landed_hop["src"])
        result["snat"] = {"from": before_src, "to": after_src, "owner": snat_owner, "port_only": True}
        parts.append(f"SNAT: source port rewritten, the address was already {snat_owner}")
        lines.append(f"SNAT: {before_src} -> {after_src}: {masq}. The sender's address was already "
                     f"{snat_owner}, so only the port changed (MASQUERADE --random-fully).")
    else:
        keeps = owner(book, sent["src"])
        if policy == "Local" and via == "nodeport":
            parts.append("no SNAT: the client's address is kept, externalTrafficPolicy: Local")
            lines.append(f"No SNAT: the pod sees {sent['src']} ({keeps}). externalTrafficPolicy: Local keeps the "
                         "client's address: kube-proxy does not masquerade, and only sends the traffic to pods on "
                         "the node it arrived at, so the reply goes back through that node without it.")
        else:
            parts.append(f"no SNAT: {keeps} kept")
            lines.append(f"No SNAT: the pod sees the sender's own address {sent['src']} ({keeps}).")
    if from_machine is not None and landed_hop["machine"] == from_machine:
        lines.append("Hairpin: the pod reached itself through its service. The SYN left the pod and came back "
                     "in through the same veth (hairpin mode on the cni0 port); the masquerade makes the answer "
                     "go back through the node too.")
    result["summary"] = "; ".join(parts)
    return result


def build_trace(sent, seen, book, from_machine, policy="Cluster", target_has_local_pod=None, from_role=None,
                via=None):
    """Everything about one traced connection attempt, as plain data."""
    isn = find_isn(seen, from_machine, sent.get("sport"))
    syn, reply = follow(seen, isn)
    syn_hops = annotate(sent, syn, book)
    reply_hops = annotate(None, reply, book, reply=True)
    verdict = decide(sent, syn_hops, book, policy, target_has_local_pod, from_role, via, from_machine)
    if verdict["landed"]:
        for h in syn_hops:
            if h["role"] == "pod" and h["direction"] == "in":
                h["summary"] = verdict["summary"]
                break
    icmp = [asdict(s) for s in sorted(seen, key=lambda s: s.time) if s.proto == "icmp"]
    return {"isn": isn, "syn": syn_hops, "reply": reply_hops, "icmp": icmp, **verdict}


def nodeport_report(lab, source, node, port, service, connection, seen, book, target_has_local_pod=None):
    """The report of ``lab probe nodeport``: plain data (``--json`` prints it as it is)."""
    sent = {"src": connection.get("src") or source["ip"], "sport": connection.get("sport"),
            "dst": str(node["ip"]), "dport": port}
    policy = service.get("external_traffic_policy", "Cluster") if service else "Cluster"
    trace = build_trace(sent, seen, book, source["name"], policy, target_has_local_pod, source.get("role"),
                        via="nodeport")
    return {"probe": "nodeport", "lab": lab, "from": source,
            "to": {"node": node["name"], "ip": str(node["ip"]), "port": port},
            "service": service, "sent": sent, "connection": connection, **trace}


def clusterip_report(lab, source, ip, port, service, arp, connection, seen, book):
    """The report of ``lab probe clusterip``."""
    sent = {"src": connection.get("src") or source["ip"], "sport": connection.get("sport"), "dst": ip,
            "dport": port}
    trace = build_trace(sent, seen, book, source["name"], from_role=source.get("role"), via="clusterip")
    arp_answered = bool(arp and arp["queries"] and arp["queries"][0]["answers"])
    return {"probe": "clusterip", "lab": lab, "from": source, "to": {"ip": ip, "port": port}, "service": service,
            "arp": arp, "arp_answered": arp_answered, "reachable": connection.get("outcome") == "connected",
            "sent": sent, "connection": connection, **trace}


# ---------------------------------------------------------------------------------------------
# pure: the text a student reads
# ---------------------------------------------------------------------------------------------

def _hop_rows(hops):
    rows = []
    for h in hops:
        note = f"<- {change_text(h['changes'])}" if h["changes"] else ""
        if h.get("summary"):
            where = f"<- {h['changes'][0]['where']}  " if h["changes"] else ""
            note = f"{where}({h['summary']})"
        rows.append([f"{h['machine']} {h['iface']} {h['direction']}",
                     f"{addr(h['src'], h['sport'])} -> {addr(h['dst'], h['dport'])}", h["flags"], note])
    return rows


def _table(rows, indent="  "):
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for r in rows:
        cells = [c.ljust(widths[i]) for i, c in enumerate(r[:-1])] + [r[-1]]
        out.append((indent + "   ".join(cells)).rstrip())
    return out


def _connection_line(connection, dst):
    outcome = connection.get("outcome")
    secs = connection.get("seconds")
    took = ""
    if secs is not None:
        took = f" in {secs * 1000:.1f} ms" if secs < 0.1 else f" after {secs:.1f} s"
    if outcome == "connected":
        return f"Connection to {dst}: established{took}, then closed (FIN): nothing left half-open."
    if outcome == "timeout":
        return f"Connection to {dst}: no answer, gave up{took} (socket closed: nothing left half-open)."
    if outcome == "refused":
        return f"Connection to {dst}: refused{took} (a RST came back)."
    return f"Connection to {dst}: {outcome}{took}" + (f" ({connection['error']})" if connection.get("error") else "")


def _trace_text(report):
    lines = []
    sent = report["sent"]
    if report["syn"]:
        lines.append(f"The SYN, hop by hop (the same TCP sequence number, {report['isn']}, everywhere):")
        rows = [["sent by the socket", f"{addr(sent['src'], sent['sport'])} -> {addr(sent['dst'], sent['dport'])}",
                 "", ""]] + _hop_rows(report["syn"])
        lines += _table(rows)
    else:
        lines.append("The SYN was not seen at any capture point.")
    if report["reply"]:
        lines.append("")
        lines.append("The answer, hop by hop:")
        lines += _table(_hop_rows(report["reply"]))
    if report["icmp"]:
        lines.append("")
        lines.append("ICMP seen meanwhile:")
        for m in report["icmp"]:
            lines.append(f"  {m['machine']} {m['iface']} {m['direction']}   {m['src']} -> {m['dst']}  "
                         f"ICMP type/code {m['icmp']}")
    lines.append("")
    lines.append(_connection_line(report["connection"], addr(sent["dst"], sent["dport"])))
    lines += report["explanation"]
    return lines


def format_nodeport(report):
    src, to, svc = report["from"], report["to"], report["service"]
    lines = [f"Probe: TCP SYN from {src['name']} ({src['ip']}) to node {to['node']}'s NodePort "
             f"{to['ip']}:{to['port']}"]
    if svc:
        lines.append(f"       service {svc['namespace']}/{svc['name']} port {svc['port']} "
                     f"(targetPort {svc['target_port']}), externalTrafficPolicy: {svc['external_traffic_policy']}")
    lines.append("")
    return "\n".join(lines + _trace_text(report)) + "\n"


def format_clusterip(report):
    src, to, svc = report["from"], report["to"], report["service"]
    lines = [f"Probe: ClusterIP {to['ip']}:{to['port']} from {src['name']} ({src['ip']})"
             + (f", service {svc['namespace']}/{svc['name']}" if svc else ""), ""]
    arp = report["arp"]
    if arp:
        lines.append(f"ARP on {src['name']} {arp['iface']} (from {arp['ip']}, {arp['mac']}), "
                     f"waiting up to {arp['timeout']:g} s for each answer:")
        rows = []
        for q in arp["queries"]:
            if q["answers"]:
                ans = ", ".join(f"is-at {a['mac']} in {a['ms']:.1f} ms" for a in q["answers"])
            else:
                ans = "no answer"
            rows.append([f"who-has {q['target']}", f"({q['note']})" if q.get("note") else "", ans])
        lines += _table(rows)
        lines.append("")
    lines += _trace_text(report)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# side effects: capture sockets, the probe's connect, ARP (everything bounded by timeouts)
# ---------------------------------------------------------------------------------------------

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
SOL_PACKET = 263
PACKET_AUXDATA = 8


def attach_bpf(sock, program):
    """Attach a classic BPF program (from ``bpf_program``) to a socket."""
    import ctypes
    import struct

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                    ("k", ctypes.c_uint32)]

    insns = (SockFilter * len(program))(*[SockFilter(*i) for i in program])
    fprog = struct.pack("HL", len(program), ctypes.addressof(insns))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


_socket_class = None


def _capture_class():
    """scapy's SuperSocket for an AF_PACKET socket of a lab namespace (built on first use, so
    that the pure half above does not import scapy)."""
    global _socket_class
    if _socket_class is not None:
        return _socket_class
    import scapy.layers.inet  # noqa: F401  (binds IP, TCP and ICMP under Ether)
    from scapy.layers.l2 import Ether
    from scapy.supersocket import SuperSocket

    class NetnsPacketSocket(SuperSocket):
        desc = "AF_PACKET socket on one interface of the namespace it was opened in, BPF-filtered"
        auxdata_available = True

        def __init__(self, iface, program):
            # protocol 0: receives nothing until bound, so no frame slips past the filter
            self.ins = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            try:
                attach_bpf(self.ins, program)
                self.ins.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
                self.ins.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self.ins.bind((iface, ETH_P_ALL))
            except OSError:
                self.ins.close()
                raise
            self.outs = self.ins
            self.iface = iface
            self.promisc = False
            self.mac = ":".join(f"{b:02x}" for b in self.ins.getsockname()[4][:6])

        def recv(self, x=65535, **kwargs):
            data, sa_ll, ts = self._recv_raw(self.ins, x)
            if not data:
                return None
            pkt = Ether(data)
            pkt.time = ts if ts is not None else time.time()
            pkt.direction = 1 if sa_ll[2] == socket.PACKET_OUTGOING else 0
            return pkt

    _socket_class = NetnsPacketSocket
    return _socket_class


def open_capture(point, program):
    """A capture socket on ``point`` (opened inside its namespace: it stays there)."""
    from lab.kernel import netns

    with netns.entered(point.netns):
        return _capture_class()(point.iface, program)


def seen_from_packet(pkt, point):
    """A scapy packet captured at ``point`` -> Seen."""
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.layers.l2 import ARP, Ether

    base = {"machine": point.machine, "role": point.role, "iface": point.iface,
            "direction": "out" if pkt.direction == 1 else "in", "time": float(pkt.time)}
    if Ether in pkt:
        base.update(mac_src=pkt[Ether].src, mac_dst=pkt[Ether].dst)
    if ARP in pkt:
        a = pkt[ARP]
        return Seen(proto="arp", src=a.psrc, dst=a.pdst, arp_op=int(a.op), **base)
    if IP in pkt:
        ip = pkt[IP]
        if TCP in pkt:
            t = pkt[TCP]
            return Seen(proto="tcp", src=ip.src, dst=ip.dst, sport=t.sport, dport=t.dport, flags=str(t.flags),
                        seq=t.seq, ack=t.ack, tos=ip.tos, **base)
        if ICMP in pkt:
            return Seen(proto="icmp", src=ip.src, dst=ip.dst, tos=ip.tos,
                        icmp=f"{pkt[ICMP].type}/{pkt[ICMP].code}", **base)
        return Seen(proto="other", src=ip.src, dst=ip.dst, tos=ip.tos, **base)
    return Seen(proto="other", **base)


def tcp_connect(netns_name, ip, port, timeout, tos=PROBE_TOS):
    """A real TCP connect from ``netns_name`` (marked with ``tos``), closed again right away.
    Returns {"outcome", "src", "sport", "seconds", "error"}; never waits more than ``timeout``."""
    from lab.kernel import netns

    with netns.entered(netns_name):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    result = {"outcome": None, "src": None, "sport": None, "seconds": None, "error": None}
    try:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
        s.settimeout(timeout)
        start = time.monotonic()
        try:
            s.connect((str(ip), int(port)))
            result["outcome"] = "connected"
        except socket.timeout:
            result["outcome"] = "timeout"
        except ConnectionRefusedError:
            result["outcome"] = "refused"
        except OSError as exc:
            result["outcome"] = "unreachable" if exc.errno in (113, 101) else "error"
            result["error"] = exc.strerror or str(exc)
        result["seconds"] = time.monotonic() - start
        try:
            result["src"], result["sport"] = s.getsockname()[:2]
        except OSError:
            pass
        if result["outcome"] == "connected":
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    finally:
        s.close()
    return result


def trace_tcp(points, from_netns, ip, port, timeout, settle=0.3):
    """Capture at ``points`` while ``from_netns`` connects to ip:port. The capture sockets are open
    (and buffering) before the SYN is sent; scapy's AsyncSniffer reads them in a thread until the
    connect is over (at most ``timeout``) plus ``settle`` seconds. Returns (connection, [Seen])."""
    from scapy.sendrecv import AsyncSniffer

    program = bpf_program(arp=False, icmp=True, tcp_syn=True)
    sockets = {}
    sniffer = None
    started = threading.Event()
    try:
        for i, point in enumerate(points):
            sockets[open_capture(point, program)] = str(i)
        sniffer = AsyncSniffer(opened_socket=dict(sockets), store=True, started_callback=started.set)
        sniffer.start()
        if not started.wait(5):
            raise OSError("the capture thread did not start")
        connection = tcp_connect(from_netns, ip, port, timeout)
        time.sleep(settle)
    finally:
        if sniffer is not None and started.is_set():
            _stop(sniffer)
        for s in sockets:
            s.close()
    results = getattr(sniffer, "results", None) or []
    seen = [seen_from_packet(p, points[int(p.sniffed_on)]) for p in results if p.sniffed_on is not None]
    return connection, seen


def _stop(sniffer, wait=3.0):
    """Stop an AsyncSniffer and wait (bounded) for its thread."""
    try:
        if sniffer.running:
            sniffer.stop(join=False)
    except Exception:  # it stopped by itself in between
        pass
    if sniffer.thread is not None:
        sniffer.thread.join(wait)


def arp_probe(netns_name, iface, src_ip, targets, timeout=1.0):
    """Broadcast an ARP who-has for each target from ``iface`` in ``netns_name`` and collect the
    is-at answers within ``timeout`` seconds each. Returns {"iface", "ip", "mac", "timeout",
    "queries": [{"target", "answers": [{"mac", "ms"}]}]}."""
    from scapy.layers.l2 import ARP, Ether

    from lab.kernel import netns

    with netns.entered(netns_name):
        sock = _capture_class()(iface, bpf_program(arp=True, icmp=False, tcp_syn=False))
    out = {"iface": iface, "ip": str(src_ip), "mac": sock.mac, "timeout": timeout, "queries": []}
    try:
        for target in targets:
            query = {"target": str(target), "answers": []}
            req = Ether(src=sock.mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=sock.mac, psrc=str(src_ip),
                                                                     pdst=str(target))
            start = time.monotonic()
            sock.send(req)
            while True:
                remain = timeout - (time.monotonic() - start)
                if remain <= 0:
                    break
                ready, _, _ = select.select([sock.ins], [], [], remain)
                if not ready:
                    break
                pkt = sock.recv()
                if pkt is None or ARP not in pkt:
                    continue
                a = pkt[ARP]
                if int(a.op) == 2 and a.psrc == str(target) and a.pdst == str(src_ip):
                    query["answers"].append({"mac": a.hwsrc, "ms": (time.monotonic() - start) * 1000})
                    break
            out["queries"].append(query)
    finally:
        sock.close()
    return out


def valid_ipv4(text):
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        return None

