"""API writes as live changes: a created, replaced or patched object becomes a manifest applied
to the lab through lab.live.changes (the very code ``lab apply`` runs), a deleted one a change
that deletes it; bad input becomes kube-apiserver's Status (400, 404, 409, 413, 422, 500 as kube
passes a plain error on)."""

import copy
import json
import re

from lab.api import bodies, invalid, status
from lab.api import patch as patches
from lab.cluster import resources
from lab.errors import InputError, LabError

SYSTEM_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                 "deletionTimestamp", "deletionGracePeriodSeconds")


def _go_kind(value):
    return {list: "array", str: "string", bool: "bool", type(None): "null"}.get(type(value), "number")


def check_kind(obj, resource, namespace, name=None):
    """The object (a decoded body, or a patched object) names the URL's kind, namespace and name."""
    if not isinstance(obj, dict):
        raise status.bad_request("the object provided is not a JSON object")
    api, kind = obj.get("apiVersion"), obj.get("kind")
    if (api, kind) != (resource.api_version, resource.kind):
        raise status.bad_request(f"the API version in the data ({api}) does not match the expected API version "
                                 f"({resource.api_version})" if api != resource.api_version else
                                 f"{kind} in version \"{resource.version}\" cannot be handled as a {resource.kind}: "
                                 "the kind does not match")
    meta = obj.setdefault("metadata", {})
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise status.bad_request(f"{resource.kind} in version \"{resource.version}\" cannot be handled as a "
                                 f"{resource.kind}: json: cannot unmarshal {_go_kind(meta)} into Go struct field "
                                 f"{resource.kind}.metadata of type v1.ObjectMeta")
    for field in ("name", "namespace", "generateName", "resourceVersion"):
        if meta.get(field) is not None and not isinstance(meta[field], str):
            raise status.bad_request(f"{resource.kind} in version \"{resource.version}\" cannot be handled as a "
                                     f"{resource.kind}: json: cannot unmarshal {_go_kind(meta[field])} into Go struct "
                                     f"field ObjectMeta.metadata.{field} of type string")
    if resource.namespaced:
        given = meta.get("namespace")
        if given not in (None, "", namespace):
            raise status.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                     "request")
        meta["namespace"] = namespace
    if name is not None and meta.get("name") not in (None, "", name):
        raise status.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                                 f"({name})")
    if name is not None:
        meta["name"] = name
    return obj


def generate_name(obj, taken):
    meta = obj["metadata"]
    if not meta.get("name") and meta.get("generateName"):
        for i in range(100):
            candidate = f"{meta['generateName']}{resources._suffix(meta['generateName'] + str(len(taken)) + str(i))}"
            if candidate not in taken:
                meta["name"] = candidate
                break
    if not meta.get("name"):
        raise status.invalid(obj.get("kind", "Object"), "", [("metadata.name", "Required value: name or "
                                                              "generateName is required")])


def as_manifest(obj):
    """What the lab keeps of an object written through the API: no status, no system metadata."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in SYSTEM_FIELDS:
        meta.pop(key, None)
    if meta.get("annotations") == {}:
        meta.pop("annotations")
    return out


def keep_written(patched, live, written):
    """``patched`` (the live object, changed) without the fields the control plane set that the
    change left alone and the user never wrote: what the user's manifest becomes."""
    if isinstance(patched, dict) and isinstance(live, dict):
        written = written if isinstance(written, dict) else {}
        out = {}
        for k, v in patched.items():
            if k in written:
                out[k] = keep_written(v, live.get(k), written[k])
            elif k in live and v == live[k]:
                continue  # the server's, untouched
            else:
                out[k] = v
        return out
    if isinstance(patched, list) and patched == live and isinstance(written, list):
        return written
    return patched


def drop_type_dependent(live, new):
    """A Service whose type changes loses the fields only its old type used, when the change left
    them as they were (kube-apiserver does the same, so that ``type: ClusterIP`` alone is a valid
    patch of a NodePort Service)."""
    if new.get("kind") != "Service" or not isinstance(new.get("spec"), dict):
        return new
    old_spec, spec = live.get("spec") or {}, new["spec"]
    old_type, new_type = old_spec.get("type", "ClusterIP"), spec.get("type", "ClusterIP")
    if old_type == new_type:
        return new

    def unchanged(field):
        return field in spec and spec.get(field) == old_spec.get(field)

    if new_type not in ("NodePort", "LoadBalancer"):
        ports, old_ports = spec.get("ports") or [], old_spec.get("ports") or []
        if [p.get("nodePort") for p in ports if isinstance(p, dict)] == \
                [p.get("nodePort") for p in old_ports if isinstance(p, dict)]:
            for port in ports:
                if isinstance(port, dict):
                    port.pop("nodePort", None)
        for field in ("healthCheckNodePort", "externalTrafficPolicy"):
            if unchanged(field):
                spec.pop(field)
    if new_type != "LoadBalancer":
        for field in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if unchanged(field):
                spec.pop(field)
    if new_type == "ExternalName":
        for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"):
            if unchanged(field):
                spec.pop(field)
    return new


def unchanged(live, new):
    """A write that leaves the object as it is (kube-apiserver's no-op: no new resourceVersion)."""
    return as_manifest(live) == as_manifest(new)


def refuse_controlled_pod_change(resource, live):
    """A change to a pod a controller made (a ReplicaSet's, StatefulSet's, DaemonSet's) is refused:
    svclab makes such pods from their controller's template only, so a pod of its own would leave
    the controller (kube-apiserver takes the change)."""
    if resource.kind != "Pod":
        return
    owner = next((o for o in live.get("metadata", {}).get("ownerReferences") or [] if o.get("controller")), None)
    if owner is not None:
        raise status.invalid("Pod", live["metadata"]["name"], [(
            "metadata", f'Forbidden: svclab makes the pods of {owner["kind"]} "{owner["name"]}" from its template '
                        "only: change the template (its Deployment), or delete the pod")])


def apply_patch(live, patch, kind):
    """``live`` patched by ``patch``, a patch of ``kind`` (json, merge, strategic, apply: server-side
    apply is approximated as a strategic merge), or kube-apiserver's answer for one that fails."""
    try:
        if kind == "json":
            out = patches.json_patch(live, patch)
        elif kind == "merge":
            out = patches.merge_patch(live, patch)
        else:
            out = patches.strategic_merge_patch(live, patch)
    except patches.PatchError as exc:
        if exc.code == 400:
            raise status.bad_request(str(exc)) from None
        if exc.code == 413:
            raise status.ApiError(413, "RequestEntityTooLarge", f"Request entity too large: {exc}") from None
        if exc.code == 500:
            raise status.unknown(500, str(exc)) from None
        raise status.unprocessable() from None
    if not isinstance(out, dict):  # a merge patch that is not an object replaces the whole object
        shown = json.dumps(out, separators=(",", ":"))
        raise status.invalid("", "", [("patch", f"Invalid value: {json.dumps(shown)}: couldn't get version/kind; "
                                       f"json parse error: json: cannot unmarshal {_go_kind(out)} into Go value of "
                                       f"type {bodies.FIND_KIND}")])
    return out


def label(resource, obj):
    meta = obj.get("metadata", {})
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{resource.kind} {where}{meta.get('name', '')}"


def _changes():
    """lab.live.changes, the code that moves the lab: imported at the first write, so that the API
    server (and with it ``lab up``) does not pay for it at start-up. The daemon warms it up once it
    serves."""
    from lab.live import changes
    return changes


def apply(lab, resource, obj):
    """Apply ``obj`` (a manifest) to the lab: the same change ``lab apply`` makes."""
    name = obj.get("metadata", {}).get("name", "")
    try:
        return _changes().apply_documents(lab, [(label(resource, obj), obj)])
    except InputError as exc:
        if exc.problem == "unknown field":  # fieldValidation drops them first; one left is a strict error
            raise status.bad_request(f'{resource.kind} in version "{resource.version}" cannot be handled as a '
                                     f'{resource.kind}: strict decoding error: unknown field "{exc.field}"') from None
        raise invalid.from_input_error(exc, resource, name, obj) from None
    except LabError as exc:
        raise status.ApiError(422, "Invalid", str(exc)) from None


def delete(lab, resource, namespace, name, grace=None):
    """Delete an object as ``lab delete`` does (a pod with ``grace`` seconds as terminating)."""
    try:
        return _changes().delete(lab, resource.kind, namespace if resource.namespaced else "", name,
                              grace_period=grace or 0.0)
    except LabError as exc:
        if re.search(r"not found", str(exc)):
            raise status.not_found(resource, name) from None
        raise status.ApiError(422, "Invalid", str(exc)) from None
