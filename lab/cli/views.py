"""What ``lab describe`` prints: kubectl describe's layout, from the cluster state. Pure."""

from lab.tables import human_age, table


def describe_service(cluster, s, age):
    """``kubectl describe service``, with the load-balancer controller's events."""
    rows = [("Name:", s.name), ("Namespace:", s.namespace),
            ("Labels:", "<none>"), ("Selector:", ",".join(f"{k}={v}" for k, v in s.selector) if s.selector else "<none>"),
            ("Type:", s.type)]
    if s.cluster_ip is not None:
        rows += [("IP Family Policy:", "SingleStack"), ("IP Families:", "IPv4"), ("IP:", s.cluster_ip),
                 ("IPs:", s.cluster_ip)]
    if s.external_ips:
        rows.append(("External IPs:", ",".join(s.external_ips)))
    if s.load_balancer_ip:
        rows.append(("IP:", s.load_balancer_ip))
    if s.lb_ips:
        rows.append(("LoadBalancer Ingress:", ", ".join(f"{ip} (VIP)" for ip in s.lb_ips)))
    for p in s.ports:
        name = p.name or "<unset>"
        rows.append(("Port:", f"{name}  {p.port}/{p.protocol}"))
        rows.append(("TargetPort:", f"{p.target_port}/{p.protocol}"))
        if p.node_port:
            rows.append(("NodePort:", f"{name}  {p.node_port}/{p.protocol}"))
        eps = [e.address for e in cluster.endpoints_for(s, p)]
        rows.append(("Endpoints:", ",".join(eps) if eps else "<none>"))
    rows.append(("Session Affinity:", s.session_affinity))
    if s.type in ("NodePort", "LoadBalancer"):
        rows.append(("External Traffic Policy:", s.external_traffic_policy))
    rows.append(("Internal Traffic Policy:", s.internal_traffic_policy))
    if s.health_check_node_port:
        rows.append(("HealthCheck NodePort:", str(s.health_check_node_port)))
    width = max(len(k) for k, _ in rows) + 1
    lines = [f"{k:<{width}}{v}" for k, v in rows]
    if s.type == "LoadBalancer":
        lines.append("Events:")
        event = (("Warning", "AllocationFailed", "svclab-lb-controller", f"Failed to allocate IP for "
                  f"\"{s.namespace}/{s.name}\": {s.lb_message}") if s.lb_message else
                 ("Normal", "IPAllocated", "svclab-lb-controller", f"Assigned IP [\"{', '.join(s.lb_ips)}\"]"))
        lines.append(table(["  Type", "Reason", "Age", "From", "Message"],
                           [["  " + event[0], event[1], human_age(age), event[2], event[3]]]))
    else:
        lines.append("Events:            <none>")
    return "\n".join(lines)
