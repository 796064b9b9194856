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
import time
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
from lab.agents.web import log_line
from lab.cluster import addons, codec
from lab.net.dnsrecords import ClusterDNS

SECTIONS = ("answer", "authority", "additional")
FLAG_ORDER = (("qr", dns.flags.QR), ("aa", dns.flags.AA), ("tc", dns.flags.TC), ("rd", dns.flags.RD),
              ("ra", dns.flags.RA), ("ad", dns.flags.AD), ("cd", dns.flags.CD))


def query_log_line(peer, query, proto, size, reply, seconds):
    """The line CoreDNS's ``log`` plugin writes for one answered query (its default format)."""
    question = query.question[0]
    do = bool(query.ednsflags & dns.flags.DO)
    bufsize = 65535 if proto == "tcp" else max(512, query.payload) if query.edns >= 0 else 512
    flags = ",".join(name for name, bit in FLAG_ORDER if reply.flags & bit)
    duration = f"{seconds:.9f}".rstrip("0") + "s"
    return (f'[INFO] {peer[0]}:{peer[1]} - {query.id} "{dns.rdatatype.to_text(question.rdtype)} '
            f'{dns.rdataclass.to_text(question.rdclass)} {question.name.to_text().lower()} {proto} {size} '
            f'{str(do).lower()} {bufsize}" {dns.rcode.to_text(reply.rcode())} {flags} {reply.size} {duration}')


class _Reply:
    """What the query log reads of a reply in wire format."""

    def __init__(self, wire):
        self.size = len(wire)
        self.flags = struct.unpack("!H", wire[2:4])[0]

    def rcode(self):
        return self.flags & 0xF


class Resolver:
    def __init__(self, cluster_file):
        self.cluster_file = cluster_file
        self.dns = None
        self.requests = Counter()
        self.query_log = False
        self.version = ""

    def reload(self):
        with open(self.cluster_file) as f:
            cluster = codec.loads(f.read())
        serial = int(os.stat(self.cluster_file).st_mtime)
        self.dns = ClusterDNS(cluster, addons.dns_ip(cluster.service_cidr), serial)
        self.query_log = cluster.dns_query_log
        self.version = addons.COREDNS_IMAGES[cluster.kube_proxy.profile].rpartition(":")[2].lstrip("v")

    def answer(self, wire, proto, max_size, pod_name=None, peer=None):
        """The reply to one query in wire format, or None for something that is not a query.
        With the Corefile's ``log`` plugin, the query goes in the pod's log."""
        started = time.monotonic()
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if query.flags & dns.flags.QR:
            return None
        reply = self._reply(query, proto, max_size)
        if self.query_log and pod_name and peer and len(query.question) == 1:
            line = query_log_line(peer, query, proto, len(wire), _Reply(reply), time.monotonic() - started)
            print(log_line(pod_name, line), flush=True)
        return reply

    def _reply(self, query, proto, max_size):
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
    def __init__(self, resolver, pod_name):
        self.resolver, self.pod_name = resolver, pod_name

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
        reply = self.resolver.answer(data, "udp", max_size, self.pod_name, addr)
        if reply is not None:
            self.transport.sendto(reply, addr)


async def handle_tcp(resolver, pod_name, reader, writer):
    peer = writer.get_extra_info("peername")
    try:
        while True:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
            reply = resolver.answer(await reader.readexactly(length), "tcp", 65535, pod_name, peer)
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
            for line in (".:53", f"CoreDNS-{resolver.version}"):  # what CoreDNS prints as it starts
                print(log_line(pod_name, line), flush=True)
            transport, _ = await loop.create_datagram_endpoint(lambda: UDPProtocol(resolver, pod_name), sock=sock)
            return transport
        if sock.getsockname()[1] == 53:
            return await asyncio.start_server(lambda r, w: handle_tcp(resolver, pod_name, r, w), sock=sock,
                                              backlog=1024)
        return await asyncio.start_server(lambda r, w: handle_metrics(resolver, r, w), sock=sock, backlog=1024)
    return serve


def main():
    args = parse_args("coredns: cluster DNS", [("--spec", {"required": True}), ("--cluster", {"required": True})])
    resolver = Resolver(args.cluster)
    return asyncio.run(PodServer(args.spec, registry.COREDNS.ack_name(args.key), server_for(resolver),
                                 on_reload=resolver.reload).run(args.ready_fd))


if __name__ == "__main__":
    sys.exit(main())
