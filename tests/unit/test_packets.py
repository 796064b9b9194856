"""lab probe: the pure report logic of lab.packets. Real probes in real labs (root) are
tests/labs/test_packets_lab.py."""

import json
import os
import socket
import subprocess
import sys

import pytest

from factories import SEED_CLIENT as CLIENT, SEED_CLUSTER_IP as CLUSTER_IP, SEED_NODE_IPS as NODE_IPS
from factories import SEED_POD_MASTER as POD_MASTER, SEED_POD_NODE2 as POD_NODE2, SEED_PODS as PODS
from factories import SCENARIOS
from lab.cluster.build import build_cluster
from lab.verify import probes
from lab.verify import packets
from lab.spec import scenario
from lab.verify.packets import PROBE_TOS, Point, Seen


@pytest.fixture(scope="module")
def seed_state():
    return build_cluster(scenario.load(os.path.join(SCENARIOS, "seed.yml")))


@pytest.fixture(scope="module")
def book(seed_state):
    return packets.address_book(seed_state)


def seen(machine, role, direction, src, sport, dst, dport, t, flags="S", seq=1000, ack=0, tos=PROBE_TOS,
         iface="eth0"):
    return Seen(machine=machine, role=role, iface=iface, direction=direction, time=t, proto="tcp", src=src,
                dst=dst, sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, tos=tos)


def client_to_node1_landing_on_master():
    """What the captures of client -> node1:30090 -> pod on master look like (as observed in a lab)."""
    n1, pod = NODE_IPS["node1"], PODS[POD_MASTER][0]
    syn = [
        seen("client", "host", "out", CLIENT, 40000, n1, 30090, 1.0),
        seen("client", "host", "out", CLIENT, 40000, n1, 30090, 2.0),  # a retransmission: same seq
        seen("node1", "node", "in", CLIENT, 40000, n1, 30090, 1.1),
        seen("node1", "node", "out", n1, 5555, pod, 8080, 1.2),
        seen("master", "node", "in", n1, 5555, pod, 8080, 1.3),
        seen(POD_MASTER, "pod", "in", n1, 5555, pod, 8080, 1.4),
    ]
    reply = [
        seen(POD_MASTER, "pod", "out", pod, 8080, n1, 5555, 1.5, "SA", 9000, 1001, 0),
        seen("master", "node", "out", pod, 8080, n1, 5555, 1.6, "SA", 9000, 1001, 0),
        seen("node1", "node", "in", pod, 8080, n1, 5555, 1.7, "SA", 9000, 1001, 0),
        seen("node1", "node", "out", n1, 30090, CLIENT, 40000, 1.8, "SA", 9000, 1001, 0),
        seen("client", "host", "in", n1, 30090, CLIENT, 40000, 1.9, "SA", 9000, 1001, 0),
    ]
    noise = [
        seen("node1", "node", "in", "192.168.179.10", 41000, n1, 31303, 1.05, seq=5, tos=0),  # a health check
        seen("client", "host", "out", CLIENT, 40001, n1, 30090, 0.5, seq=77, tos=0),  # someone else's curl
    ]
    return syn + reply + noise


def connection(sport=40000, src=CLIENT, outcome="connected"):
    return {"outcome": outcome, "src": src, "sport": sport, "seconds": 0.002, "error": None}


# BPF -----------------------------------------------------------------------------------------

def run_bpf(program, frame):
    """A classic BPF interpreter for the instructions bpf_program uses: the kernel's answer."""
    a = x = pc = 0
    while True:
        code, jt, jf, k = program[pc]
        try:
            if code == packets.BPF_LD_H_ABS:
                if k + 2 > len(frame):
                    return 0
                a = int.from_bytes(frame[k:k + 2], "big")
            elif code == packets.BPF_LD_B_ABS:
                a = frame[k]
            elif code == packets.BPF_LD_B_IND:
                a = frame[x + k]
            elif code == packets.BPF_LDX_B_MSH:
                x = (frame[k] & 0x0F) * 4
            elif code == packets.BPF_JEQ_K:
                pc += jt if a == k else jf
            elif code == packets.BPF_JSET_K:
                pc += jt if a & k else jf
            elif code == packets.BPF_RET_K:
                return k
            else:
                raise AssertionError(f"unexpected BPF code {code:#x}")
        except IndexError:
            return 0
        pc += 1


def frames():
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP
    from scapy.layers.l2 import ARP, Ether

    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    return {
        "arp": bytes(Ether() / ARP(pdst="10.0.0.1")),
        "icmp": bytes(eth / IP(src="1.1.1.1", dst="2.2.2.2") / ICMP()),
        "syn": bytes(eth / IP(src="1.1.1.1", dst="2.2.2.2") / TCP(flags="S")),
        "synack": bytes(eth / IP(src="1.1.1.1", dst="2.2.2.2") / TCP(flags="SA")),
        "syn_ip_options": bytes(eth / IP(src="1.1.1.1", dst="2.2.2.2", options=[IPOption_NOP()] * 4)
                                / TCP(flags="S")),
        "ack": bytes(eth / IP(src="1.1.1.1", dst="2.2.2.2") / TCP(flags="A")),
        "fin": bytes(eth / IP(src="1.1.1.1", dst="2.2.2.2") / TCP(flags="FA")),
        "udp": bytes(eth / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(dport=53)),
        "fragment": bytes(eth / IP(src="1.1.1.1", dst="2.2.2.2", proto=6, frag=10) / (b"\x02" * 40)),
    }


@pytest.mark.parametrize("options,accepted", [
    ({}, {"syn", "synack", "syn_ip_options"}),
    ({"icmp": True}, {"icmp", "syn", "synack", "syn_ip_options"}),
    ({"arp": True, "tcp_syn": False}, {"arp"}),
    ({"arp": True, "icmp": True}, {"arp", "icmp", "syn", "synack", "syn_ip_options"}),
])
def test_bpf_program_accepts_what_it_is_asked_for(options, accepted):
    program = packets.bpf_program(**options)
    got = {name for name, frame in frames().items() if run_bpf(program, frame)}
    assert got == accepted


def test_bpf_program_passes_the_kernel_checker():
    # any socket takes a classic BPF filter; the kernel refuses malformed programs (bad jumps)
    for options in ({}, {"arp": True, "icmp": True}, {"arp": True, "tcp_syn": False}):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            packets.attach_bpf(s, packets.bpf_program(**options))


# following a SYN -------------------------------------------------------------------------------

def test_find_isn_picks_the_marked_syn_from_the_probing_machine():
    data = client_to_node1_landing_on_master()
    assert packets.find_isn(data, "client", 40000) == 1000
    assert packets.find_isn(data, "client") == 1000  # the unmarked SYN (seq 77) is someone else's
    assert packets.find_isn(data, "node2") == 1000  # not captured where it left: any marked SYN
    assert packets.find_isn([], "client") is None


def test_follow_orders_hops_by_time_and_drops_retransmissions():
    syn, reply = packets.follow(client_to_node1_landing_on_master(), 1000)
    assert [(s.machine, s.direction) for s in syn] == [
        ("client", "out"), ("node1", "in"), ("node1", "out"), ("master", "in"), (POD_MASTER, "in")]
    assert [(s.machine, s.direction) for s in reply] == [
        (POD_MASTER, "out"), ("master", "out"), ("node1", "in"), ("node1", "out"), ("client", "in")]
    assert packets.follow(client_to_node1_landing_on_master(), None) == ([], [])


def test_annotate_says_where_each_rewrite_happened(book):
    data = client_to_node1_landing_on_master()
    syn, reply = packets.follow(data, 1000)
    sent = {"src": CLIENT, "sport": 40000, "dst": NODE_IPS["node1"], "dport": 30090}
    hops = packets.annotate(sent, syn, book)
    assert [len(h["changes"]) for h in hops] == [0, 0, 2, 0, 0]
    dnat, snat = hops[2]["changes"]
    assert (dnat["nat"], dnat["before"], dnat["after"], dnat["where"]) == (
        "DNAT", "192.168.179.100:30090", "10.244.0.23:8080", "on node1")
    assert (snat["nat"], snat["after"], snat["owner"]) == ("SNAT", "192.168.179.100:5555", "node node1's address")
    assert packets.change_text(hops[2]["changes"]) == (
        f"on node1: DNAT (destination: pod {POD_MASTER}), SNAT (source: node node1's address)")
    back = packets.annotate(None, reply, book, reply=True)
    assert [h["machine"] for h in back if h["changes"]] == ["node1"]
    assert packets.change_text(back[3]["changes"]) == "on node1: conntrack undoes the NAT (destination and source back)"


def test_decide_dnat_and_snat_to_the_node_the_client_called(book):
    data = client_to_node1_landing_on_master()
    sent = {"src": CLIENT, "sport": 40000, "dst": NODE_IPS["node1"], "dport": 30090}
    trace = packets.build_trace(sent, data, book, "client", "Cluster", via="nodeport")
    assert trace["landed"] == {"pod": POD_MASTER, "node": "master", "address": "10.244.0.23:8080"}
    assert trace["dnat"] == {"from": "192.168.179.100:30090", "to": "10.244.0.23:8080", "pod": POD_MASTER,
                             "node": "master"}
    assert trace["snat"] == {"from": "192.168.179.200:40000", "to": "192.168.179.100:5555",
                             "owner": "node node1's address", "port_only": False}
    assert trace["summary"] == ("DNAT: destination rewritten to pod:targetPort; "
                                "SNAT: source rewritten to node node1's address")
    assert trace["syn"][-1]["summary"] == trace["summary"]
    assert any("externalTrafficPolicy is Cluster" in line for line in trace["explanation"])


def test_decide_local_pod_is_reached_through_cni0(book):
    m, pod = NODE_IPS["master"], PODS[POD_MASTER][0]
    data = [seen("client", "host", "out", CLIENT, 40000, m, 30090, 1.0),
            seen("master", "node", "in", CLIENT, 40000, m, 30090, 1.1),
            seen(POD_MASTER, "pod", "in", "10.244.0.1", 6000, pod, 8080, 1.2)]
    sent = {"src": CLIENT, "sport": 40000, "dst": m, "dport": 30090}
    trace = packets.build_trace(sent, data, book, "client", via="nodeport")
    assert trace["snat"]["owner"] == "node master's cni0 address"
    assert trace["syn"][-1]["changes"][0]["where"] == "on master"
    assert any("cni0" in line for line in trace["explanation"])


def test_decide_local_policy_keeps_the_client_address(book):
    n1 = NODE_IPS["node1"]
    data = [seen("client", "host", "out", CLIENT, 40000, n1, 30895, 1.0),
            seen("node1", "node", "in", CLIENT, 40000, n1, 30895, 1.1),
            seen(POD_MASTER, "pod", "in", CLIENT, 40000, "10.244.0.23", 8080, 1.2)]
    sent = {"src": CLIENT, "sport": 40000, "dst": n1, "dport": 30895}
    trace = packets.build_trace(sent, data, book, "client", "Local", via="nodeport")
    assert trace["snat"] is None and trace["dnat"]["to"] == "10.244.0.23:8080"
    assert "no SNAT" in trace["summary"] and "externalTrafficPolicy: Local" in trace["summary"]
    assert any(line.startswith("No SNAT: the pod sees 192.168.179.200") for line in trace["explanation"])


def test_decide_local_policy_on_a_node_without_a_pod(book):
    m = NODE_IPS["master"]
    data = [seen("client", "host", "out", CLIENT, 40000, m, 30895, 1.0),
            seen("master", "node", "in", CLIENT, 40000, m, 30895, 1.1)]
    sent = {"src": CLIENT, "sport": 40000, "dst": m, "dport": 30895}
    trace = packets.build_trace(sent, data, book, "client", "Local", target_has_local_pod=False, via="nodeport")
    assert trace["landed"] is None and trace["dnat"] is None
    assert trace["explanation"][0] == "No pod received the SYN; it was last seen at master eth0 (in)."
    assert "drops" in trace["explanation"][1]


def test_decide_masquerade_that_keeps_the_address_changes_the_port(book):
    n1, pod = NODE_IPS["node1"], PODS[POD_NODE2][0]
    data = [seen("node1", "node", "out", n1, 53726, pod, 8080, 1.0),
            seen(POD_NODE2, "pod", "in", n1, 53726, pod, 8080, 1.1)]
    sent = {"src": n1, "sport": 36734, "dst": CLUSTER_IP, "dport": 3000}
    trace = packets.build_trace(sent, data, book, "node1", via="clusterip", from_role="node")
    assert trace["snat"]["port_only"] is True
    assert trace["syn"][0]["changes"][0]["where"] == "on node1, before it left"
    assert packets.change_text(trace["syn"][0]["changes"]).endswith("SNAT (source port only)")


def test_decide_hairpin(book):
    pod = PODS[POD_NODE2][0]
    data = [seen(POD_NODE2, "pod", "out", pod, 47782, CLUSTER_IP, 3000, 1.0),
            seen(POD_NODE2, "pod", "in", "10.244.2.1", 21097, pod, 8080, 1.1)]
    sent = {"src": pod, "sport": 47782, "dst": CLUSTER_IP, "dport": 3000}
    trace = packets.build_trace(sent, data, book, POD_NODE2, via="clusterip", from_role="pod")
    assert trace["landed"]["pod"] == POD_NODE2
    assert trace["syn"][1]["changes"][0]["where"] == "on node2 (out of the pod and back in: hairpin)"
    assert trace["explanation"][-1].startswith("Hairpin")


def test_clusterip_from_the_lan_is_explained(book):
    data = [seen("client", "host", "out", CLIENT, 41000, CLUSTER_IP, 3000, 1.0),
            seen("lan", "lan", "in", CLIENT, 41000, CLUSTER_IP, 3000, 1.1, iface="br0")]
    arp = {"iface": "eth0", "ip": CLIENT, "mac": "02:00:00:00:00:01", "timeout": 1.0,
           "queries": [{"target": CLUSTER_IP, "answers": [], "note": "the ClusterIP"},
                       {"target": "192.168.179.1", "answers": [{"mac": "02:00:00:00:00:09", "ms": 0.4}],
                        "note": "control: the LAN gateway"}]}
    report = packets.clusterip_report("k8s", {"name": "client", "role": "host", "ip": CLIENT}, CLUSTER_IP, 3000,
                                      None, arp, connection(41000, outcome="timeout"), data, book)
    assert report["arp_answered"] is False and report["reachable"] is False and report["landed"] is None
    text = packets.format_clusterip(report)
    assert "who-has 10.105.182.209   (the ClusterIP)              no answer" in text
    assert "is-at 02:00:00:00:00:09 in 0.4 ms" in text
    assert "lan br0 in" in text and "no answer, gave up" in text
    assert "192.168.179.1, lan br0" in text and "unreachable" in text
    json.dumps(report)


def test_nodeport_report_text(book):
    data = client_to_node1_landing_on_master()
    service = {"namespace": "default", "name": "nodeport-svc", "port": 3000, "target_port": 8080,
               "external_traffic_policy": "Cluster"}
    report = packets.nodeport_report("k8s", {"name": "client", "role": "host", "ip": CLIENT},
                                     {"name": "node1", "ip": NODE_IPS["node1"]}, 30090, service, connection(),
                                     data, book)
    text = packets.format_nodeport(report)
    lines = text.splitlines()
    assert lines[0] == "Probe: TCP SYN from client (192.168.179.200) to node node1's NodePort 192.168.179.100:30090"
    row = next(line for line in lines if line.strip().startswith("client eth0 out"))
    assert row.split() == ["client", "eth0", "out", "192.168.179.200:40000", "->", "192.168.179.100:30090", "SYN"]
    landed = next(line for line in lines if line.strip().startswith(f"{POD_MASTER} eth0 in"))
    assert "192.168.179.100:5555 -> 10.244.0.23:8080" in landed
    assert landed.endswith("(DNAT: destination rewritten to pod:targetPort; "
                           "SNAT: source rewritten to node node1's address)")
    assert "The answer, hop by hop:" in text
    assert "established in 2.0 ms, then closed" in text
    json.dumps(report)


def test_address_book_names_every_address(book):
    assert book["192.168.179.100"]["owner"] == "node node1's address"
    assert book["10.244.0.1"]["owner"] == "node master's cni0 address"
    assert book["10.244.0.23"] == {"kind": "pod", "name": POD_MASTER, "node": "master", "owner": f"pod {POD_MASTER}"}
    assert book[CLUSTER_IP]["kind"] == "clusterip"
    assert book["192.168.179.1"]["kind"] == "gateway"


def test_seen_from_packet():
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    pkt = Ether(bytes(Ether() / IP(src=CLIENT, dst="192.168.179.100", tos=PROBE_TOS)
                      / TCP(sport=40000, dport=30090, flags="S", seq=1234)))
    pkt.direction, pkt.time = 1, 12.5
    s = packets.seen_from_packet(pkt, Point("client", "host", "k8s-client", "eth0"))
    assert (s.direction, s.proto, s.tuple4(), s.flags, s.seq, s.tos, s.time) == (
        "out", "tcp", (CLIENT, 40000, "192.168.179.100", 30090), "S", 1234, PROBE_TOS, 12.5)


# the command line, without a lab ----------------------------------------------------------------

def test_probe_parser_and_lookups(seed_state):
    from lab.cli.main import parse_args
    from lab.errors import LabError

    args = parse_args(["probe", "nodeport", "client", "node1", "30090", "--json", "--lab", "x"])
    assert (args.command, args.probe, args.source, args.node, args.port, args.json, args.lab) == (
        "probe", "nodeport", "client", "node1", 30090, True, "x")
    args = parse_args(["probe", "clusterip", "client", CLUSTER_IP])
    assert (args.probe, args.ip, args.port, args.timeout) == ("clusterip", CLUSTER_IP, None, 1.0)
    assert probes.source_of(seed_state, "client")["role"] == "host"
    assert probes.source_of(seed_state, "k8s-node1")["name"] == "node1"
    assert probes.source_of(seed_state, POD_NODE2)["node"] == "node2"
    with pytest.raises(LabError, match="no host, node or pod named 'nope'"):
        probes.source_of(seed_state, "nope")
    with pytest.raises(LabError, match="no node named"):
        probes.node_of(seed_state, "client")
    with pytest.raises(LabError, match="no service has the TCP NodePort 31111"):
        probes.probe_nodeport(seed_state, "client", "node1", 31111)
    with pytest.raises(LabError, match="not the ClusterIP of any service"):
        probes.probe_clusterip(seed_state, "client", "10.96.99.99")
    svc = seed_state.service("default", "nodeport-svc")
    eps = probes._endpoint_pods(seed_state, svc, svc.ports[0])
    points = probes._points(seed_state, probes.source_of(seed_state, "client"), eps)
    assert [p.label for p in points] == ["client eth0", "master eth0", "node1 eth0", "node2 eth0",
                                         f"{POD_MASTER} eth0", f"{POD_NODE2} eth0"]


def test_pure_half_does_not_import_scapy():
    code = "import sys, lab.verify.packets, lab.verify.probes, lab.cli.probe; print('scapy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                         cwd=os.path.dirname(SCENARIOS))
    assert out.stdout.strip() == "False", out.stderr
