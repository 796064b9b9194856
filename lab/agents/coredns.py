"""Cluster DNS for the coredns pods of one node: what CoreDNS's ``kubernetes`` plugin answers.

One asyncio process holds 53/UDP, 53/TCP and the 9153/TCP metrics port inside each coredns
pod's namespace. Queries arrive through the ``kube-dns`` ClusterIP, i.e. through kube-proxy's
rules. Wire format by dnspython; the records come from lab.dns.records. SIGHUP re-reads the
cluster state (answers follow services and endpoints) and the pods to serve.
"""

import asyncio
import os
import struct
import sys
from collections import Counter

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from lab.agents import registry
from lab.agents.podserver import PodServer
from lab.agents.protocol import parse_args
from lab.cluster import addons, codec
from lab.net.dnsrecords import ClusterDNS

SECTIONS = ("answer", "authority", "additional")


class Resolver:
    def __init__(self, cluster_file):
        self.cluster_file = cluster_file
        self.dns = None
        self.requests = Counter()

    def reload(self):
        with open(self.cluster_file) as f:
            cluster = codec.loads(f.read())
        serial = int(os.stat(self.cluster_file).st_mtime)
        self.dns = ClusterDNS(cluster, addons.dns_ip(cluster.service_cidr), serial)

    def answer(self, wire, proto, max_size):
        """The reply to one query in wire format, or None for something that is not a query."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if query.flags & dns.flags.QR:
            return None
        response = dns.message.make_response(query)
        response.flags &= ~dns.flags.RA  # CoreDNS: recursion requested but not available
        if len(query.question) != 1 or query.question[0].rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED if query.question else dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        self.requests[(proto, dns.rdatatype.to_text(question.rdtype))] += 1
        reply = self.dns.resolve(question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
        response.set_rcode(dns.rcode.from_text(reply.rcode))
        if reply.authoritative:
            response.flags |= dns.flags.AA
        for section in SECTIONS:
            target = getattr(response, section)
            for name, rtype, ttl, data in getattr(reply, section):
                target.append(dns.rrset.from_text(name, ttl, "IN", rtype, data))
        try:
            return response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            response.flags |= dns.flags.TC
            for section in SECTIONS:
                getattr(response, section).clear()
            return response.to_wire()

    def metrics(self):
        lines = ["# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and type.",
                 "# TYPE coredns_dns_requests_total counter"]
        for (proto, qtype), count in sorted(self.requests.items()):
            lines.append(f'coredns_dns_requests_total{{server="dns://:53",zone=".",proto="{proto}",'
                         f'type="{qtype}"}} {count}')
        return "\n".join(lines) + "\n"


class UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, resolver):
        self.resolver = resolver

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        max_size = 512
        try:
            query = dns.message.from_wire(data)
            if query.edns >= 0:
                max_size = max(512, query.payload)
        except dns.exception.DNSException:
            pass
        reply = self.resolver.answer(data, "udp", max_size)
        if reply is not None:
            self.transport.sendto(reply, addr)


async def handle_tcp(resolver, reader, writer):
    try:
        while True:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
            reply = resolver.answer(await reader.readexactly(length), "tcp", 65535)
            if reply is None:
                break
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def handle_metrics(resolver, reader, writer):
    try:
        await reader.readuntil(b"\r\n\r\n")
        body = resolver.metrics().encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                     + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


def server_for(resolver):
    async def serve(pod_name, protocol, sock):
        loop = asyncio.get_running_loop()
        if protocol == "UDP":
            transport, _ = await loop.create_datagram_endpoint(lambda: UDPProtocol(resolver), sock=sock)
            return transport
        port = sock.getsockname()[1]
        handler = handle_tcp if port == 53 else handle_metrics
        return await asyncio.start_server(lambda r, w: handler(resolver, r, w), sock=sock, backlog=1024)
    return serve


def main():
    args = parse_args("coredns: cluster DNS", [("--spec", {"required": True}), ("--cluster", {"required": True})])
    resolver = Resolver(args.cluster)
    return asyncio.run(PodServer(args.spec, registry.COREDNS.ack_name(args.key), server_for(resolver),
                                 on_reload=resolver.reload).run(args.ready_fd))


if __name__ == "__main__":
    sys.exit(main())
