"""``lab explain pod``: a pod's namespace, veth, bridge port, routes and resolver, from what
lab.explain_runtime read in the kernel, and the services that select it. Pure."""


def selecting_services(cluster, pod):
    """Services whose selector picks the pod, and whether the pod is in their endpoints."""
    labels = pod.label_dict
    out = []
    for s in cluster.services:
        if not s.selector or not all(labels.get(k) == v for k, v in s.selector):
            continue
        in_eps = any(e.pod == pod.name for port in s.ports for e in cluster.endpoints_for(s, port))
        out.append({"namespace": s.namespace, "name": s.name, "clusterIP": s.cluster_ip, "endpoint": in_eps})
    return out


def pod_report(cluster, pod, kernel):
    """``kernel`` is what explain_runtime.pod_facts read: interfaces, routes, bridge port, files."""
    node = cluster.node(pod.node)
    return {"lab": cluster.lab, "namespace": pod.namespace, "name": pod.name, "netns": pod.netns,
            "node": pod.node, "node_netns": node.netns if node else None, "ip": str(pod.ip),
            "labels": dict(pod.labels), "ready": pod.ready, "terminating": pod.terminating,
            "ports": [{"containerPort": p.container_port, "protocol": p.protocol, "name": p.name} for p in pod.ports],
            "services": selecting_services(cluster, pod), "expected_host_veth": pod.host_veth,
            "host_network": pod.host_network, **kernel}


def format_pod(r):
    netns = f"its node's, {r['node_netns']} (hostNetwork)" if r.get("host_network") else r["netns"]
    lines = [f"Pod {r['namespace']}/{r['name']} on node {r['node']}: network namespace {netns}"]
    labels = ",".join(f"{k}={v}" for k, v in r["labels"].items()) or "<none>"
    lines.append(f"  labels {labels}; {'ready' if r['ready'] else 'not ready'}"
                 + ("; terminating" if r["terminating"] else ""))
    ifc = r.get("interface") or {}
    addrs = ", ".join(ifc.get("addresses", [])) or "no address!"
    lines.append("")
    lines.append(f"  Interface (inside the pod): {ifc.get('name', 'eth0')} {addrs}, mac {ifc.get('mac', '?')}, "
                 f"{ifc.get('state', '?')}" + (f", veth peer ifindex {ifc['peer_ifindex']} in the node"
                                               if ifc.get("peer_ifindex") and not r.get("host_network") else ""))
    peer = r.get("peer") or {}
    if r.get("host_network"):
        lines.append("  No veth of its own (hostNetwork): these are its node's interfaces, eth0 on the LAN, and "
                     "the node's routes and resolver below")
    elif peer:
        hair = {True: "on", False: "off"}.get(peer.get("hairpin"), "?")
        lines.append(f"  Its other end (in {r['node_netns']}): {peer.get('name')}, port of bridge "
                     f"{peer.get('master') or 'none!'}, {peer.get('state', '?')}, hairpin {hair}")
        lines.append(f"    # a veth pair is a cable: what the pod sends on {ifc.get('name', 'eth0')} comes out of "
                     f"{peer.get('name')} in the node, which the bridge {peer.get('master') or '?'} switches to the")
        lines.append("    # other pods of the node or hands to the node's routing (the bridge's address is the "
                     "pod's gateway).")
        if peer.get("hairpin") is True:
            lines.append("    # hairpin on: the bridge may send a frame back out of the port it came in by, so the "
                         "pod can reach")
            lines.append("    # itself through its service's ClusterIP (the DNAT sends the packet back to it).")
        elif peer.get("hairpin") is False:
            lines.append("    # hairpin off: a pod reaching itself through its service gets no answer.")
    else:
        lines.append(f"  Its other end in the node: not found ({r.get('peer_error', 'no veth peer')})")
    lines.append("")
    lines.append("  Routes inside the pod (ip route):")
    lines += [f"    {l}" for l in r.get("routes", [])] or ["    (none!)"]
    lines.append("")
    lines.append(f"  Resolver ({r.get('resolv_path')}, which `ip netns exec` lays over /etc/resolv.conf):")
    lines += [f"    {l}" for l in (r.get("resolv_conf") or "(missing)\n").splitlines()]
    lines.append("")
    if r["services"]:
        lines.append("  Services selecting it:")
        for s in r["services"]:
            where = "in its endpoints" if s["endpoint"] else "not in its endpoints (not ready?)"
            lines.append(f"    {s['namespace']}/{s['name']} (ClusterIP {s['clusterIP']}): {where}")
    else:
        lines.append("  Services selecting it: none")
    return "\n".join(lines)
