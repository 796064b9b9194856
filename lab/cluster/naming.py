"""Kubernetes-style generated names, made deterministic.

Kubernetes names a Deployment's pods ``<deployment>-<pod-template-hash>-<5 random chars>``.
The template hash is an FNV-32a hash of the pod template, printed in decimal and passed
through ``rand.SafeEncodeString``; the suffix is ``rand.String(5)``. Both use the alphabet
below (no vowels, no confusable characters). svclab hashes a canonical JSON form of the
template and derives the "random" suffix from a hash, so the same scenario always gives
the same names.
"""

import hashlib
import json

ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def fnv32a(data):
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text):
    return "".join(ALPHANUMS[ord(c) % len(ALPHANUMS)] for c in text)


def pod_template_hash(template, collision_count=0):
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), default=str)
    h = fnv32a(canonical.encode())
    if collision_count:
        h = fnv32a(h.to_bytes(4, "little") + collision_count.to_bytes(4, "little"))
    return safe_encode(str(h))


def random_suffix(seed, length=5):
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(ALPHANUMS[b % len(ALPHANUMS)] for b in digest[:length])


def host_veth_name(pod_netns):
    """The node end of a pod's veth: ``veth`` and 8 hex digits, as the CNI bridge plugin names it."""
    return "veth" + hashlib.sha256(pod_netns.encode()).hexdigest()[:8]


def stable_index(seed, size):
    """A deterministic stand-in for a random choice in ``range(size)``."""
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % size
