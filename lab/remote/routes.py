"""Whether this machine's route to an address leads to a cluster, or is just its default route
(out to the Internet): ``ip route get`` against ``ip route show default``. Nothing is sent."""

import json
import subprocess


def _ip_json(*args):
    try:
        r = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout or "[]")
    except ValueError:
        return None


def routed_to_cluster(address):
    """(True, route) when the route to ``address`` is not the host's default route; (False, why) otherwise."""
    got = _ip_json("route", "get", address)
    if not got:
        return False, f"no route to {address} on this machine"
    route = got[0]
    words = f"{address} via {route.get('gateway')} dev {route.get('dev')}" if route.get("gateway") else \
        f"{address} dev {route.get('dev')}"
    if route.get("type") not in (None, "unicast") or route.get("dev") == "lo":
        return False, f"{address} is local to this machine ({words})"
    for default in _ip_json("route", "show", "default") or []:
        if default.get("dev") == route.get("dev") and default.get("gateway") == route.get("gateway"):
            return False, f"this machine's route to {address} is its default route ({words}), not one to the cluster"
    return True, words
