"""The query log line of CoreDNS's ``log`` plugin, as svclab's coredns writes it."""

import dns.flags
import dns.message

from lab.agents.coredns import _Reply, query_log_line


def _exchange(name, rdtype, want_dnssec=False, payload=None):
    query = dns.message.make_query(name, rdtype, want_dnssec=want_dnssec, use_edns=payload is not None or want_dnssec,
                                   payload=payload or 1232)
    query.id = 4242
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.AA
    return query, reply.to_wire()


def test_a_plain_udp_query_is_logged_as_coredns_logs_it():
    query, reply = _exchange("nodeport-svc.default.svc.cluster.local.", "A")
    line = query_log_line(("10.244.1.5", 44331), query, "udp", len(query.to_wire()), _Reply(reply), 0.000118)
    assert line == ('[INFO] 10.244.1.5:44331 - 4242 "A IN nodeport-svc.default.svc.cluster.local. udp 56 false 512" '
                    f'NOERROR qr,aa,rd {len(reply)} 0.000118s')


def test_edns_size_the_do_bit_tcp_and_the_name_in_lower_case():
    query, reply = _exchange("Web.Default.svc.cluster.local.", "AAAA", want_dnssec=True, payload=4096)
    udp = query_log_line(("10.244.0.2", 5353), query, "udp", 80, _Reply(reply), 0.0015)
    assert '"AAAA IN web.default.svc.cluster.local. udp 80 true 4096"' in udp and udp.endswith(" 0.0015s")
    tcp = query_log_line(("10.244.0.2", 5353), query, "tcp", 80, _Reply(reply), 0.0015)
    assert '"AAAA IN web.default.svc.cluster.local. tcp 80 true 65535"' in tcp
