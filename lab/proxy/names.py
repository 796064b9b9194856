"""Every name kube-proxy gives: service port strings, the hashed iptables chains, the nftables
chain names; which chains are per service; who each chain of a cluster state belongs to; what
the fixed chains are for. Pure."""

import base64
import functools
import hashlib
import re

from lab.proxy.options import PROFILES


def service_port_name(namespace, name, port_name, trailing_colon=False):
    """``ServicePortName.String()``: ``ns/name:port``; since 1.19 an unnamed port drops the colon."""
    base = f"{namespace}/{name}"
    if port_name or trailing_colon:
        return f"{base}:{port_name}"
    return base


@functools.lru_cache(maxsize=65536)  # every node's sync hashes the same names again
def _hash16(text):
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def port_proto_hash(port_name_string, protocol):
    return _hash16(port_name_string + protocol.lower())


def endpoint_chain(port_name_string, protocol, endpoint):
    """``KUBE-SEP-…`` for an endpoint ``IP:port``."""
    return "KUBE-SEP-" + _hash16(port_name_string + protocol.lower() + endpoint)


def service_chains(port_name_string, protocol):
    h = port_proto_hash(port_name_string, protocol)
    return {kind: f"KUBE-{kind}-{h}" for kind in ("SVC", "SVL", "EXT", "FW", "XLB")}


SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-", "KUBE-XLB-")
_HASHED = re.compile(r"KUBE-(SVC|SVL|EXT|FW|XLB|SEP)-[A-Z2-7]{16}")


def is_service_chain(name):
    """An iptables chain kube-proxy writes per service or per endpoint (deleted when stale)."""
    return name.startswith(SERVICE_CHAIN_PREFIXES)


def is_hashed(chain):
    """True for kube-proxy's per-service and per-endpoint chains (``KUBE-SVC-`` + 16 base32 chars)."""
    return bool(_HASHED.fullmatch(chain or ""))


# what the fixed chains of a node are for
CHAIN_NOTES = {
    "KUBE-SERVICES": "kube-proxy: the services (nat: their IPs and ports; filter: REJECT when without endpoints)",
    "KUBE-NODEPORTS": "kube-proxy: the NodePorts",
    "KUBE-MARK-MASQ": "kube-proxy: mark the packet for SNAT on the way out",
    "KUBE-MARK-DROP": "kube-proxy: mark the packet to be dropped",
    "KUBE-POSTROUTING": "kube-proxy: SNAT (masquerade) the marked packets",
    "KUBE-FORWARD": "kube-proxy: let the marked and established packets through",
    "KUBE-EXTERNAL-SERVICES": "kube-proxy: reject external traffic to services without endpoints",
    "KUBE-FIREWALL": "kube-proxy: drop packets marked for dropping",
    "KUBE-PROXY-FIREWALL": "kube-proxy: loadBalancerSourceRanges",
    "FLANNEL-POSTRTG": "flannel: masquerade pod traffic leaving the cluster network",
}


def chain_owners(cluster):
    """``{chain: what it is}`` for every hashed iptables chain kube-proxy writes for the cluster state:
    the service port (``ns/svc:port``) or endpoint (``... -> pod IP:port``) it belongs to."""
    from lab.proxy.serviceports import is_proxied  # serviceports names its ports with this module
    profile = PROFILES[cluster.kube_proxy.profile]
    out = {}
    for svc in cluster.services:
        if not is_proxied(svc):
            continue
        for port in svc.ports:
            name = service_port_name(svc.namespace, svc.name, port.name, profile.trailing_colon)
            for chain in service_chains(name, port.protocol).values():
                out[chain] = name
            for ep in cluster.endpoints_for(svc, port):
                chain = endpoint_chain(name, port.protocol, ep.address)
                out[chain] = f"{name} -> {ep.pod} {ep.address}" if ep.pod else f"{name} -> {ep.address}"
    return out


def describe_chain(chain, known):
    """The annotation for a chain name: a service port, an endpoint, or a fixed chain's role."""
    if chain in known:
        return known[chain]
    if is_hashed(chain):
        return "not in the lab's cluster state (a stale chain?)"
    return CHAIN_NOTES.get(chain)


# nftables mode ---------------------------------------------------------------------------------

NAME_BASE_MAX = 256 - 16  # nft's name limit, less the longest prefix kube-proxy adds


def hash_and_truncate(name):
    """``hashAndTruncate``: 8 characters of base32(sha256(name)), a dash, the name; cut with ``...``."""
    digest = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()[:8]
    name = f"{digest}-{name}"
    if len(name) > NAME_BASE_MAX:
        name = name[:NAME_BASE_MAX - 3] + "..."
    return name


def service_chain_base(namespace, name, protocol, port_name):
    """``servicePortChainNameBase``: ``HASH-ns/svc/proto/port`` (an unnamed port leaves a trailing slash)."""
    return hash_and_truncate(f"{namespace}/{name}/{protocol.lower()}/{port_name}")


def endpoint_chain_base(namespace, name, protocol, port_name, ip, port):
    """``servicePortEndpointChainNameBase``: ``HASH-ns/svc/proto/port__ip/port`` (IPv6 colons -> dots)."""
    ip = str(ip).replace(":", ".")
    return hash_and_truncate(f"{namespace}/{name}/{protocol.lower()}/{port_name}__{ip}/{port}")


def is_nft_service_chain(name):
    """``isServiceChainName``: only per-service and per-endpoint chains have a slash."""
    return "/" in name
