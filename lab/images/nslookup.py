"""``nslookup`` as the busybox images of the seed's time have it (busybox before 1.28): the C
library's lookup of the name, with the resolver's search list, each address followed by the
name its PTR record gives, the server first:

    Server:    10.96.0.10
    Address 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local

    Name:      nodeport-svc
    Address 1: 10.105.182.209 nodeport-svc.default.svc.cluster.local

It speaks real DNS (UDP, TCP when truncated) to the nameserver of /etc/resolv.conf, the pod's
file as ``ip netns exec`` lays it over /etc, and reads /etc/hosts first, as the C library does.
Run as ``python3 -m lab.images.nslookup NAME [SERVER]`` (a busybox pod's toolset links it as
``nslookup``). ``render`` and ``usage`` are pure; ``Resolver`` asks the servers.
"""

import sys

from lab.images import resolvconf

USAGE = """BusyBox v1.27.2 multi-call binary.

Usage: nslookup [HOST] [SERVER]

Query the nameserver for the IP address of the given HOST
optionally using a specified DNS server
"""


def header(label, name):
    return f"{label:<10} {name}"


def address_lines(addresses):
    """``[(address, name or None)]`` as busybox numbers them."""
    return [f"Address {i}: {ip} {name}" if name else f"Address {i}: {ip}"
            for i, (ip, name) in enumerate(addresses, 1)]


def render(server, server_name, name, addresses):
    """What busybox prints on standard output: the server block, a blank line, then the name's
    block when it resolved (``addresses`` None: it did not)."""
    lines = [header("Server:", server), *address_lines([(server, server_name)]), ""]
    if addresses is not None:
        lines += [header("Name:", name), *address_lines(addresses)]
    return "\n".join(lines) + "\n"


class Resolver:
    """The C library's stub resolver over resolv.conf and hosts texts."""

    def __init__(self, conf, hosts_text=""):
        self.conf, self.hosts = conf, hosts_text

    def _ask(self, qname, rdtype):
        """(rcode name, [answers of rdtype]) from the first server that answers, or (None, [])."""
        import dns.exception
        import dns.flags
        import dns.message
        import dns.query
        import dns.rcode
        import dns.rdatatype
        query = dns.message.make_query(qname, rdtype)
        for _ in range(self.conf.attempts):
            for server in self.conf.nameservers:
                try:
                    reply = dns.query.udp(query, server, timeout=self.conf.timeout)
                    if reply.flags & dns.flags.TC:
                        reply = dns.query.tcp(query, server, timeout=self.conf.timeout)
                except (OSError, EOFError, dns.exception.DNSException):
                    continue
                code = dns.rcode.to_text(reply.rcode())
                if code in ("SERVFAIL", "REFUSED", "NOTIMP"):
                    continue  # the next server, as the C library does
                wanted = dns.rdatatype.from_text(rdtype)
                return code, [r for rrset in reply.answer if rrset.rdtype == wanted for r in rrset]
        return None, []

    def addresses(self, name):
        """The addresses ``name`` resolves to (IPv4, then IPv6), or None."""
        found = resolvconf.literal(name)
        if found:
            return [found]
        listed = resolvconf.hosts_addresses(self.hosts, name)
        if listed:
            return listed
        for fqdn in resolvconf.candidates(name, self.conf):
            got = [r.address for rdtype in ("A", "AAAA") for r in self._ask(fqdn, rdtype)[1]]
            if got:
                return list(dict.fromkeys(got))
        return None

    def name_of(self, address):
        """The name an address has (hosts, else its PTR record), without the final dot, or None."""
        listed = resolvconf.hosts_name(self.hosts, address)
        if listed:
            return listed
        answers = self._ask(resolvconf.reverse_name(address), "PTR")[1]
        return answers[0].target.to_text().rstrip(".") if answers else None


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def main(argv, out=sys.stdout, err=sys.stderr, resolv_path="/etc/resolv.conf", hosts_path="/etc/hosts"):
    if not argv or argv[0].startswith("-") or len(argv) > 2:
        err.write(USAGE)
        return 1
    resolver = Resolver(resolvconf.parse(_read(resolv_path)), _read(hosts_path))
    if len(argv) == 2:
        server = resolver.addresses(argv[1])
        if not server:
            err.write(f"nslookup: bad address '{argv[1]}'\n")
            return 1
        resolver = Resolver(resolvconf.ResolvConf((server[0],), resolver.conf.search, resolver.conf.ndots,
                                                  resolver.conf.timeout, resolver.conf.attempts), resolver.hosts)
    server = resolver.conf.nameservers[0] if resolver.conf.nameservers else "127.0.0.1"
    if not resolver.conf.nameservers:  # no nameserver line: the C library asks the local one
        resolver = Resolver(resolvconf.ResolvConf(("127.0.0.1",), resolver.conf.search, resolver.conf.ndots,
                                                  resolver.conf.timeout, resolver.conf.attempts), resolver.hosts)
    server_name = resolver.name_of(server)
    found = resolver.addresses(argv[0])
    addresses = None if found is None else [(ip, resolver.name_of(ip)) for ip in found]
    out.write(render(server, server_name, argv[0], addresses))
    out.flush()
    if addresses is None:
        err.write(f"nslookup: can't resolve '{argv[0]}'\n")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
