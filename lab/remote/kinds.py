"""The check kinds an exercise holds beyond a url or a dns probe, judged on a cluster: a
``service:`` check from the cluster's Service and Endpoints objects, a ``run:`` command's output
(run by exec), and why a check cannot run there (a node's own tools, the lab's host). Pure: the
verdicts are the ones the lab's exercise runner gives for the same facts."""

import dataclasses
import re

# commands that read or change a node's kernel state: a probe pod's image cannot be expected to
# hold them, nor to have the node's privileges (its rules, its sockets, its sysctls)
NODE_TOOLS = ("iptables-save", "iptables", "ip6tables", "nft", "netstat", "ss", "sysctl", "ip", "conntrack",
              "ipvsadm", "bridge", "tc", "ethtool")
NODE_TOOL_REASON = "runs {tool}, a tool of the node itself (its kernel's state and privileges), which a probe pod " \
                   "cannot be expected to hold"
LOOPBACK_REASON = "asks the lab's host on 127.0.0.1:{port} (a kubectl port-forward there), which only the lab has"
CLIENT_RUN_REASON = "runs a command on the lab's client machine, which a cluster has not"
WORD = re.compile(r"[^\s|;&()`$'\"]+")


@dataclasses.dataclass(frozen=True)
class Titled:
    """What a result's row shows of a check that is not a lab.spec.checks.Check."""

    index: int
    title: str
    source: str


def node_tool(command):
    """The node tool ``command`` runs (also inside ``sh -c '...'``), or None."""
    for arg in command:
        for word in WORD.findall(str(arg)):
            if word.rsplit("/", 1)[-1] in NODE_TOOLS:
                return word.rsplit("/", 1)[-1]
    return None


def ready_endpoints(service, endpoints):
    """[(ip, port, node name)] of the ready endpoints of the service's first port."""
    ports = (service.get("spec") or {}).get("ports") or []
    if not ports:
        return []
    name = ports[0].get("name") or ""
    out = []
    for subset in (endpoints or {}).get("subsets") or []:
        sports = subset.get("ports") or []
        port = next((p for p in sports if (p.get("name") or "") == name), sports[0] if len(sports) == 1 else None)
        if port is None:
            continue
        out += [(a["ip"], port["port"], a.get("nodeName")) for a in subset.get("addresses") or []]
    return sorted(set(out))


def service_verdict(field, value, service, endpoints):
    """(passed, expected, got) of a service check of ``field`` (clusterIP, type, externalIP,
    endpoints: N) from the Service and Endpoints objects; ``endpoints: answering`` is not judged
    here (it needs requests)."""
    if service is None:
        return False, "service", "no such service"
    spec = service.get("spec") or {}
    if field == "clusterIP":
        return spec.get("clusterIP") == value, f"clusterIP {value}", f"clusterIP {spec.get('clusterIP')}"
    if field == "type":
        kind = spec.get("type") or "ClusterIP"
        return kind == value, f"type {value}", f"type {kind}"
    if field == "externalIP":
        ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ips = [i["ip"] for i in ingress if i.get("ip")]
        got = f"EXTERNAL-IP {ips[0]}" if ips else "EXTERNAL-IP <pending>"
        if value == "assigned":
            return bool(ips), "an EXTERNAL-IP", got
        if value == "pending":
            return not ips, "EXTERNAL-IP <pending>", got
        return value in ips, f"EXTERNAL-IP {value}", got
    ready = ready_endpoints(service, endpoints)
    return len(ready) == value, f"{value} ready endpoints", f"{len(ready)} ready endpoints"


def answering_verdict(outcomes):
    """(passed, expected, got) of ``endpoints: answering``: [(address, kind)] of each ready
    endpoint's request ('reached' when it answered)."""
    if not outcomes:
        return False, "every endpoint answers", "no endpoints"
    silent = [f"{address}: {kind}" for address, kind in outcomes if kind != "reached"]
    got = f"{len(outcomes) - len(silent)} of {len(outcomes)} answer" + (f"; {', '.join(silent)}" if silent else "")
    return not silent, "every endpoint answers", got
