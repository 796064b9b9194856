"""The cluster's DNS records, as CoreDNS's ``kubernetes`` plugin serves them. Pure.

Follows the Kubernetes DNS-Based Service Discovery specification (schema 1.1.0) with
kubeadm's Corefile settings (``pods insecure``, ``ttl 30``):

- ``<svc>.<ns>.svc.<zone>``: A = the ClusterIP; for a headless service, the ready endpoint
  IPs; CNAME for ExternalName services.
- ``<a-b-c-d>.<svc>.<ns>.svc.<zone>``: A for each ready endpoint of a service; an endpoint with a
  hostname (a pod with a ``hostname`` whose ``subdomain`` names the service) is
  ``<hostname>.<svc>.<ns>.svc.<zone>`` instead, and SRV targets and PTRs use that name.
- ``_<port>._<proto>.<svc>.<ns>.svc.<zone>``: SRV for each named port (the bare service name
  answers SRV for every port).
- ``<a-b-c-d>.<ns>.pod.<zone>``: A = a.b.c.d, for any address, in an existing namespace.
- PTR for ClusterIPs (``<svc>.<ns>.svc.<zone>``) and endpoint IPs
  (``<a-b-c-d>.<svc>.<ns>.svc.<zone>``).
- NXDOMAIN with the zone's SOA for names that do not exist in the zone; REFUSED for names
  outside it (the lab has no upstream resolver to forward them to).

Records are (name, type, ttl, data) in presentation format; the server turns them into wire
format with dnspython.
"""

import ipaddress
from dataclasses import dataclass

TTL = 30
SCHEMA_VERSION = "1.1.0"
BUILTIN_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


@dataclass(frozen=True)
class Reply:
    rcode: str  # NOERROR, NXDOMAIN, REFUSED
    answer: tuple = ()
    authority: tuple = ()
    additional: tuple = ()
    authoritative: bool = True


def _dashed(ip):
    return str(ip).replace(".", "-")


def _reverse_name(ip):
    return ipaddress.ip_address(ip).reverse_pointer + "."


class ClusterDNS:
    """Answers for one cluster state. Build a new one when the state changes."""

    def __init__(self, cluster, dns_ip, serial):
        self.zone = cluster.domain.rstrip(".").lower() + "."
        self.serial = serial
        self.service_cidr, self.cluster_cidr = cluster.service_cidr, cluster.cluster_cidr
        self.namespaces = set(BUILTIN_NAMESPACES) | {o.namespace for o in cluster.services + cluster.pods}
        self.records = {}  # name -> list of (type, data)
        self._add(self.zone, "NS", f"ns.dns.{self.zone}")
        self._add(f"ns.dns.{self.zone}", "A", str(dns_ip))
        self._add(f"dns-version.{self.zone}", "TXT", f'"{SCHEMA_VERSION}"')
        for svc in cluster.services:
            self._service(cluster, svc)

    # building ---------------------------------------------------------------------------------

    def _add(self, name, rtype, data):
        entry = (rtype, data)
        bucket = self.records.setdefault(name.lower(), [])
        if entry not in bucket:
            bucket.append(entry)

    def _service(self, cluster, svc):
        base = f"{svc.name}.{svc.namespace}.svc.{self.zone}"
        if svc.type == "ExternalName":
            self._add(base, "CNAME", svc.external_name.rstrip(".") + ".")
            return
        headless = svc.cluster_ip == "None"
        endpoints = {}  # ip -> endpoint name: its hostname (pod hostname + subdomain), else the dashed IP
        for port in svc.ports:
            for e in cluster.endpoints_for(svc, port):
                if e.ready:
                    endpoints[str(e.ip)] = f"{e.hostname or _dashed(e.ip)}.{base}"
        if headless:
            for ip in sorted(endpoints, key=ipaddress.ip_address):
                self._add(base, "A", ip)
        else:
            self._add(base, "A", svc.cluster_ip)
            self._add(_reverse_name(svc.cluster_ip), "PTR", base)
        for ip, name in sorted(endpoints.items(), key=lambda kv: ipaddress.ip_address(kv[0])):
            self._add(name, "A", ip)  # CoreDNS answers endpoint names of any service, headless or not
            self._add(_reverse_name(ip), "PTR", name)
        every_port = []
        for port in svc.ports:
            eps = [e for e in cluster.endpoints_for(svc, port) if e.ready]
            targets = [(endpoints[str(e.ip)], e.port) for e in eps] if headless else [(base, port.port)]
            if targets and port.name:
                self._add_srv(f"_{port.name}._{port.protocol.lower()}.{base}", targets)
            every_port += [t for t in targets if t not in every_port]
        if every_port:
            self._add_srv(base, every_port)  # the bare service name answers SRV for every port

    def _add_srv(self, name, targets):
        weight = 100 // len(targets)  # CoreDNS gives each record an equal share of 100
        for target, number in targets:
            self._add(name, "SRV", f"0 {weight} {number} {target}")

    # answering --------------------------------------------------------------------------------

    def soa(self, zone):
        return (zone, "SOA", TTL, f"ns.dns.{zone} hostmaster.{zone} {self.serial} 7200 1800 86400 {TTL}")

    def resolve(self, qname, qtype):
        name = qname.lower() if qname.endswith(".") else qname.lower() + "."
        if name == self.zone or name.endswith("." + self.zone):
            return self._in_zone(name, qtype, self.zone)
        if name.endswith(".in-addr.arpa."):
            return self._reverse(name, qtype)
        return Reply("REFUSED", authoritative=False)

    def _in_zone(self, name, qtype, zone):
        if name == zone and qtype == "SOA":  # the SOA alone; the zone's NS with its address beside it
            return Reply("NOERROR", answer=(self.soa(zone),), authority=self._rrs(name, "NS"),
                         additional=self._rrs(f"ns.dns.{zone}", "A"))
        if name == zone and qtype == "ANY":
            return Reply("NOERROR", answer=(self.soa(zone),) + self._rrs(name, "NS"))
        found = self.records.get(name)
        if found is None:
            pod_ip = self._pod_address(name)
            if pod_ip is not None:
                found = [("A", pod_ip)]
        if found is None:
            if self._is_empty_non_terminal(name):
                return Reply("NOERROR", authority=(self.soa(zone),))
            return Reply("NXDOMAIN", authority=(self.soa(zone),))
        answer = [(name, t, TTL, d) for t, d in found if t == qtype or qtype == "ANY"]
        if not answer:
            cname = [(name, t, TTL, d) for t, d in found if t == "CNAME"]
            if cname:
                return Reply("NOERROR", answer=tuple(cname))
            return Reply("NOERROR", authority=(self.soa(zone),))
        return Reply("NOERROR", answer=tuple(answer), additional=self._glue(answer))

    def _rrs(self, name, rtype):
        return tuple((name, t, TTL, d) for t, d in self.records.get(name, []) if t == rtype)

    def _glue(self, answer):
        """A records of SRV targets, in the additional section (as CoreDNS adds them)."""
        extra = []
        for _, rtype, _, data in answer:
            if rtype == "SRV":
                target = data.split()[-1]
                extra += [rr for rr in self._rrs(target, "A") if rr not in extra]
        return tuple(extra)

    def _pod_address(self, name):
        """``a-b-c-d.<ns>.pod.<zone>`` answers a.b.c.d for any address (CoreDNS ``pods insecure``)."""
        labels = name[: -len(self.zone) - 1].split(".")
        if len(labels) != 3 or labels[2] != "pod" or labels[1] not in self.namespaces:
            return None
        try:
            return str(ipaddress.IPv4Address(labels[0].replace("-", ".")))
        except ValueError:
            return None

    def _is_empty_non_terminal(self, name):
        """Names that exist only as parents of records: ``svc.<zone>``, ``<ns>.svc.<zone>``, ..."""
        labels = name[: -len(self.zone) - 1].split(".") if name != self.zone else []
        if labels in (["svc"], ["pod"], ["dns"]):
            return True
        if len(labels) == 2 and labels[1] in ("svc", "pod") and labels[0] in self.namespaces:
            return True
        return any(key.endswith("." + name) for key in self.records)

    def _reverse(self, name, qtype):
        found = self.records.get(name)
        if found is not None:
            answer = tuple((name, t, TTL, d) for t, d in found if t == qtype or qtype == "ANY")
            return Reply("NOERROR", answer=answer, authority=() if answer else (self.soa(self.zone),))
        try:
            ip = ipaddress.ip_address(".".join(reversed(name[: -len(".in-addr.arpa.")].split("."))))
        except ValueError:
            return Reply("REFUSED", authoritative=False)
        if ip in self.service_cidr or ip in self.cluster_cidr:
            return Reply("NXDOMAIN", authority=(self.soa("in-addr.arpa."),))
        return Reply("REFUSED", authoritative=False)
