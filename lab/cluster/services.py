"""Services as the apiserver admits them: ClusterIPs and node ports allocated (user-chosen ones
first), the built-in ``kubernetes`` service added."""

from lab.cluster import addons, ipam
from lab.cluster.model import Service, ServicePort
from lab.errors import InputError
from lab.spec.manifests import ServiceSpec


def allocate(scenario, objects):
    cfg = scenario.cluster
    specs = [o for o in objects if isinstance(o, ServiceSpec)]
    builtin = {("default", "kubernetes")} | {(s.namespace, s.name) for s in specs if s.source.startswith("(built")}
    for s in specs:
        if (s.namespace, s.name) in builtin and not s.source.startswith("(built"):
            raise InputError(s.source, "metadata.name", f"{s.namespace}/{s.name} is built into every lab",
                             "rename this object")
    specs = [addons.kubernetes_service(cfg.service_cidr)] + specs
    pins = {(p.namespace, p.name): p for p in scenario.service_pins}
    by_key = {(s.namespace, s.name): s for s in specs}
    for key, pin in pins.items():
        if key not in by_key:
            raise pin.where.child("name").error(f"no Service {key[0]}/{key[1]} in the manifests")
        if by_key[key].cluster_ip not in (None, str(pin.cluster_ip)):
            raise pin.where.child("clusterIP").error("the manifest sets its own spec.clusterIP")

    ips = ipam.ClusterIPAllocator(cfg.service_cidr)
    cluster_ips = {}
    for s in specs:  # user-chosen addresses first, as the apiserver keeps them in its static band
        chosen = s.cluster_ip if s.cluster_ip not in (None, "None") else None
        pin = pins.get((s.namespace, s.name))
        if pin:
            chosen, where = str(pin.cluster_ip), (pin.where.file, pin.where.child("clusterIP").path)
        else:
            where = (s.source, "spec.clusterIP")
        if chosen and s.type != "ExternalName":
            try:
                ips.reserve(chosen)
            except ipam.AllocationError as exc:
                raise InputError(*where, str(exc), f"pick an unused address in {cfg.service_cidr}") from None
            cluster_ips[(s.namespace, s.name)] = chosen
    ports = ipam.NodePortAllocator(*cfg.node_port_range)
    for s in specs:
        if s.health_check_node_port is not None:
            try:
                ports.reserve(s.health_check_node_port)
            except ipam.AllocationError as exc:
                raise InputError(s.source, "spec.healthCheckNodePort", str(exc)) from None
        for i, p in enumerate(s.ports):
            if p.node_port is not None:
                try:
                    ports.reserve(p.node_port)
                except ipam.AllocationError as exc:
                    lo, hi = cfg.node_port_range
                    raise InputError(s.source, f"spec.ports[{i}].nodePort", str(exc),
                                     f"pick a free port in {lo}-{hi}, or leave nodePort out") from None

    services = []
    for s in sorted(specs, key=lambda s: (s.namespace, s.name)):
        key = (s.namespace, s.name)
        if s.type == "ExternalName":
            cip = None
        elif s.cluster_ip == "None":
            cip = "None"
        elif key in cluster_ips:
            cip = cluster_ips[key]
        else:
            cip = str(_allocate(ips.allocate, f"{s.namespace}/{s.name}", s, "spec.clusterIP"))
        svc_ports = []
        for i, p in enumerate(s.ports):
            node_port = p.node_port
            if node_port is None and s.type in ("NodePort", "LoadBalancer"):
                node_port = _allocate(ports.allocate, f"{s.namespace}/{s.name}:{p.name}/{p.protocol}", s,
                                      f"spec.ports[{i}].nodePort")
            svc_ports.append(ServicePort(p.name, p.protocol, p.port, p.target_port, node_port,
                                         node_port_asked=p.node_port is not None))
        hcnp = s.health_check_node_port
        if hcnp is None and s.type == "LoadBalancer" and s.external_traffic_policy == "Local":
            hcnp = _allocate(ports.allocate, f"{s.namespace}/{s.name}/healthcheck", s, "spec.healthCheckNodePort")
        services.append(Service(
            s.namespace, s.name, s.type, tuple(svc_ports), cip, s.selector, s.external_ips,
            s.session_affinity, s.affinity_timeout, s.external_traffic_policy, s.internal_traffic_policy,
            s.external_name, s.load_balancer_ip, health_check_node_port=hcnp, lb_source_ranges=s.lb_source_ranges))
    return tuple(services)


def _allocate(allocate, seed, spec, field):
    try:
        return allocate(seed)
    except ipam.AllocationError as exc:
        raise InputError(spec.source, field, str(exc), "widen the range or use fewer services") from None


