"""What an update (PUT, or PATCH of the live object) may not change, refused as kube-apiserver
refuses it (422 Invalid, its field and wording): a Service's ClusterIPs (a ClusterIP Service does
not become headless by an edit: it is deleted and created again), and a StatefulSet's spec other
than the fields its controller can roll out. Pure.

Only changes upstream certainly refuses are refused here: a field left out of a PUT is the
server's default, not a change."""

from lab.api import status

STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                       "minReadySeconds")
STATEFULSET_FORBIDDEN = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                         "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")


def check(resource, live, new):
    """Raise status.ApiError (422) when ``new`` changes what ``live`` keeps for good."""
    spec, old = _spec(new), _spec(live)
    if resource.kind == "Service":
        causes = _service(old, spec)
    elif resource.kind == "StatefulSet":
        causes = _statefulset(old, spec)
    else:
        causes = []
    if causes:
        raise status.invalid(resource.kind, (new.get("metadata") or {}).get("name", ""), causes, resource.group)


def _spec(obj):
    spec = obj.get("spec") if isinstance(obj, dict) else None
    return spec if isinstance(spec, dict) else {}


def _service(old, new):
    """kube-apiserver's normalisation of clusterIP and clusterIPs, then its rule: an address once
    set may not change, unless the type goes to or from ExternalName."""
    if "ExternalName" in (old.get("type"), new.get("type")):
        return []
    old_ips = old.get("clusterIPs") or ([old["clusterIP"]] if old.get("clusterIP") else [])
    ip, ips = new.get("clusterIP"), new.get("clusterIPs")
    if not isinstance(ips, list) or not ips:
        ips = old_ips if ip in (None, "", old.get("clusterIP")) else [ip]
    elif ip not in (None, "", old.get("clusterIP")) and ips == old_ips:
        ips = [ip]  # clusterIP changed alone: clusterIPs follows it
    if not old_ips or len(ips) != len(old_ips):
        return []  # unset (the server allocates) or another family: not this rule
    return [(f"spec.clusterIPs[{i}]", f"Invalid value: {_go_strings(ips)}: may not change once set")
            for i, (was, now) in enumerate(zip(old_ips, ips)) if was != now]


def _statefulset(old, new):
    changed = [k for k in new if k not in STATEFULSET_MUTABLE and k in old and new[k] != old[k]]
    return [("spec", f"Forbidden: {STATEFULSET_FORBIDDEN}")] if changed else []


def _go_strings(values):
    """A []string as Go's %#v prints it, as kube-apiserver's messages quote it."""
    return "[]string{" + ", ".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"
