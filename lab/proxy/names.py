"""kube-proxy's names for service ports and their iptables chains."""

import base64
import functools
import hashlib


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
