"""The three patch types kube-apiserver takes, applied to an object as JSON data. Pure.

- JSON merge patch (RFC 7386, ``application/merge-patch+json``): maps merge, ``null`` deletes,
  everything else replaces.
- JSON patch (RFC 6902, ``application/json-patch+json``): a list of add/remove/replace/move/copy/test,
  as evanphx/json-patch (v4, kube's) applies it: negative array indices count from the end.
- Strategic merge patch (``application/strategic-merge-patch+json``, what ``kubectl apply`` and
  ``kubectl edit`` send), as apimachinery's strategicpatch applies it: lists of the Go types with
  ``patchStrategy: merge`` merge by their ``patchMergeKey`` (or as sets, for lists of scalars) and
  come out in the patch's order with the server's other items where they were; the directives
  ``$patch`` (replace, delete), ``$retainKeys``, ``$setElementOrder/<list>`` and
  ``$deleteFromPrimitiveList/<list>``; ``null`` deletes. The merge lists are those of the kinds
  served here, found by where they sit in the object.

Errors carry the code kube-apiserver answers with: 400 for a malformed patch, 422 for one that
cannot apply (kube's generic "rejected our request"), 500 for the strategicpatch errors kube
passes on as they are (``map: map[...] does not contain declared merge key: name``).
"""

import copy

MAX_JSON_PATCH_OPERATIONS = 10000  # kube-apiserver's limit (413 above it)
PRIMITIVE = ""  # a merge list of scalars: merged as a set
DELETE_LIST, SET_ORDER, RETAIN, DIRECTIVE = "$deleteFromPrimitiveList", "$setElementOrder", "$retainKeys", "$patch"

META_LISTS = {"ownerReferences": "uid", "finalizers": PRIMITIVE}
POD_SPEC_LISTS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name", "volumes": "name",
                  "imagePullSecrets": "name", "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
                  "resourceClaims": "name", "schedulingGates": "name"}
CONTAINER_LISTS = {"ports": "containerPort", "env": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath"}
POD_STATUS_LISTS = {"conditions": "type", "podIPs": "ip", "hostIPs": "ip"}
STATUS_LISTS = {"conditions": "type"}
SERVICE_SPEC_LISTS = {"ports": "port"}
WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")


class PatchError(ValueError):
    """A patch that cannot be applied; ``code`` is kube-apiserver's answer (400, 422 or 500)."""

    def __init__(self, message, code=422):
        super().__init__(message)
        self.code = code


# Go's %v, for the messages strategicpatch words with it ----------------------------------------

def go_value(value):
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _go_type(value):
    return {dict: "map[string]interface {}", list: "[]interface {}", str: "string", bool: "bool",
            type(None): "%!s(<nil>)"}.get(type(value), "float64")


def _json_type(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {dict: "map", list: "slice", str: "string"}.get(type(value), "null")


def _eq(a, b):
    """Go's == on two decoded JSON values (true is not 1)."""
    return _json_type(a) == _json_type(b) and a == b


# JSON merge patch ------------------------------------------------------------------------------

def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# JSON patch ------------------------------------------------------------------------------------

def _pointer(path):
    if not isinstance(path, str):
        raise PatchError("path is not a string")
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(seq, part, adding=False):
    if part == "-" and adding:
        return len(seq)
    try:
        i = int(part)
    except ValueError:
        raise PatchError(f"{part!r} is not an array index") from None
    if i < 0:
        i += len(seq)
    if i < 0 or i > len(seq) or (not adding and i == len(seq)):
        raise PatchError(f"array index {part} out of range")
    return i


def _walk(doc, parts):
    for part in parts:
        if isinstance(doc, dict):
            if part not in doc:
                raise PatchError(f"path component {part!r} not found")
            doc = doc[part]
        elif isinstance(doc, list):
            doc = doc[_index(doc, part)]
        else:
            raise PatchError(f"cannot descend into a {_json_type(doc)} at {part!r}")
    return doc


def _add(doc, parts, value):
    if not parts:
        return value
    parent, last = _walk(doc, parts[:-1]), parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, adding=True), value)
    else:
        raise PatchError("cannot add to a scalar")
    return doc


def _remove(doc, parts):
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent, last = _walk(doc, parts[:-1]), parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"cannot remove {last!r}: not found")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last))
    raise PatchError("cannot remove from a scalar")


def json_patch(target, operations):
    """``target`` with ``operations`` applied. A patch that is not a list of objects is 400 (it
    does not decode), too many operations 413, an operation that cannot apply 422."""
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch", 400)
    for op in operations:
        if not isinstance(op, dict):
            raise PatchError(f"json: cannot unmarshal {_json_type(op)} into Go value of type jsonpatch.Operation",
                             400)
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
                         f"got {len(operations)}", 413)
    doc = copy.deepcopy(target)
    for op in operations:
        kind = op.get("op")
        parts = _pointer(op.get("path"))
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"{kind} needs a value")
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _walk(doc, parts)  # it must exist
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from"))
            value = copy.deepcopy(_walk(doc, source))
            if kind == "move":
                _remove(doc, source)
            doc = _add(doc, parts, value)
        elif kind == "test":
            if not _deep_eq(_walk(doc, parts), op["value"]):
                raise PatchError(f"testing value {op['path']} failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return doc


def _deep_eq(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_deep_eq(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_deep_eq(x, y) for x, y in zip(a, b))
    return _eq(a, b)


# strategic merge patch -------------------------------------------------------------------------

def _lists(kind, path):
    """{field: merge key} of the merge lists of the map at ``path`` (field names from the object's
    root, list indices left out) in an object of ``kind``."""
    if path and path[-1] == "metadata":
        return META_LISTS
    pod_spec = ("spec",) if kind == "Pod" else ("spec", "template", "spec") if kind in WORKLOADS else None
    if pod_spec and path == pod_spec:
        return POD_SPEC_LISTS
    if pod_spec and path[:-1] == pod_spec and path[-1] in ("containers", "initContainers", "ephemeralContainers"):
        return CONTAINER_LISTS
    if path == ("status",):
        return POD_STATUS_LISTS if kind == "Pod" else STATUS_LISTS
    if kind == "Service" and path == ("spec",):
        return SERVICE_SPEC_LISTS
    return {}


def strategic_merge_patch(target, patch, kind=None):
    """``patch`` (a strategic merge patch, a JSON object) applied to ``target``."""
    if not isinstance(patch, dict):
        raise PatchError("json: cannot unmarshal array into Go value of type map[string]interface {}", 400)
    original = copy.deepcopy(target) if isinstance(target, dict) else {}
    return _merge_map(original, copy.deepcopy(patch), kind or original.get("kind"), ())


def _no_merge_key(item, key):
    return PatchError(f"map: {go_value(item)} does not contain declared merge key: {key}", 500)


def _bad_arg(expected, value):
    return PatchError(f"expected a {expected}, but received a {_go_type(value)}", 500)


def _directive_key(key, prefix, bad_format):
    head, sep, name = key.partition("/")
    if not sep or head != prefix:
        raise PatchError(bad_format, 400)
    return name


def _merge_map(original, patch, kind, path):
    if DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        if directive == "replace":
            return {k: v for k, v in patch.items() if k != DIRECTIVE}
        if directive == "delete":
            return {}
        raise PatchError(f"unknown patch type: {go_value(directive)} in map: {go_value(patch)}", 500)
    _retain_keys(original, patch)
    lists = _lists(kind, path)
    _set_element_orders(original, patch, lists, kind, path)
    for key, value in list(patch.items()):
        deleting = key.startswith(DELETE_LIST)
        if deleting:
            key = _directive_key(key, DELETE_LIST, "invalid patch format of primitive list")
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or _json_type(original[key]) != _json_type(value):
            if not deleting:  # a new value (or one of another type): the patch's, without directives
                kept, keep = _without_directives(_without_nulls(value))
                if keep:
                    original[key] = kept
                else:
                    original.pop(key, None)
            continue
        old = original[key]
        if isinstance(old, dict):
            original[key] = _merge_map(old, value, kind, path + (key,))
        elif isinstance(old, list):
            original[key] = _merge_list(old, value, lists.get(key), deleting, kind, path + (key,))
        else:
            original[key] = value
    return original


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _without_directives(value):
    """(value, keep): a map holding ``$patch`` is dropped, wherever it is."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        out = {}
        for k, v in value.items():
            kept, keep = _without_directives(v)
            if keep:
                out[k] = kept
        return out, True
    if isinstance(value, list):
        return [kept for kept, keep in map(_without_directives, value) if keep], True
    return value, True


def _retain_keys(original, patch):
    if RETAIN not in patch:
        return
    retain = patch.pop(RETAIN)
    if not isinstance(retain, list):
        raise PatchError("invalid patch format of retainKeys", 400)
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_LIST, SET_ORDER)):
            continue
        if key not in retain:
            raise PatchError("invalid patch format of retainKeys", 400)
    for key in list(original):
        if key not in retain:
            del original[key]


def _merge_list(original, patch, merge_key, deleting, kind, path):
    """mergeSliceHandler: a merge list merged, any other list replaced by the patch's."""
    if merge_key is None:
        return patch
    if not original and not patch:
        return original
    element = _element_type(original, patch)
    if element != "map":
        if deleting:
            return [x for x in original if not any(_eq(x, d) for d in patch)]
        merged, key = _unique(original + patch), None
    else:
        if not merge_key:
            raise PatchError("cannot merge lists without merge key for type map", 500)
        key = merge_key
        original, patch = _special_items(original, patch, key)
        merged = _merge_items(original, patch, key, kind, path)
    patch_items, server_only = _partition(merged, patch, key)
    return _normalize(patch_items, server_only, patch, original, key)


def _element_type(*lists):
    seen = None
    for items in lists:
        for item in items:
            kind = _json_type(item)
            if seen is None:
                if kind == "slice":
                    raise PatchError("lists of lists are not supported", 422)
                seen = kind
            elif kind != seen:
                raise PatchError(f"list element types are not identical: {go_value(list(lists))}", 500)
    if seen is None:
        raise PatchError("no elements in any of the given slices", 500)
    return seen


def _unique(items):
    out = []
    for item in items:
        if not any(_eq(item, o) for o in out):
            out.append(item)
    return out


def _special_items(original, patch, key):
    """Delete the items a ``$patch: delete`` names; with ``$patch: replace`` the patch's items
    are the list. (original, the patch's other items)."""
    rest, replace = [], False
    for item in patch:
        if DIRECTIVE not in item:
            rest.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if key not in item:
                raise _no_merge_key(item, key)
            original = [o for o in original if not (isinstance(o, dict) and key in o and _eq(o[key], item[key]))]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch", 500)
        else:
            raise PatchError(f"unknown patch type: {go_value(directive)} in map: {go_value(item)}", 500)
    return (rest, []) if replace else (original, rest)


def _find(items, key, value):
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise PatchError(f"value for key {n} is not a map.", 500)
        if key in item and _eq(item[key], value):
            return n
    return None


def _merge_items(original, patch, key, kind, path):
    out = list(original)
    for item in patch:
        if key not in item:
            raise _no_merge_key(item, key)
        position = _find(out, key, item[key])
        if position is None:
            out.append(item)
        else:
            out[position] = _merge_map(out[position], item, kind, path)
    return out


def _partition(merged, wanted, key):
    """(items ``wanted`` names, the others), each in merged's order."""
    chosen, others = [], []
    for item in merged:
        if key is None:
            found = any(_eq(item, w) for w in wanted)
        else:
            if not isinstance(item, dict):
                raise _bad_arg("map[string]interface {}", item)
            if key not in item:
                raise _no_merge_key(item, key)
            found = _find(wanted, key, item[key]) is not None
        (chosen if found else others).append(item)
    return chosen, others


def _position(items, value, key):
    def of(item):
        return item.get(key) if key is not None and isinstance(item, dict) else (None if key else item)
    return next((n for n, item in enumerate(items) if _eq(of(value), of(item))), -1)


def _sorted_by(items, order, key):
    """normalizeSliceOrder: ``items`` in ``order``'s order, deletions last."""
    deletions = []
    if key is not None:
        for item in list(items) + list(order):
            if not isinstance(item, dict):
                raise _bad_arg("map[string]interface {}", item)
            if key not in item:
                raise _no_merge_key(item, key)
        deletions = [i for i in items if i.get(DIRECTIVE) == "delete"]
        items = [i for i in items if i.get(DIRECTIVE) != "delete"]
    found = [i for i in items if _position(order, i, key) >= 0]
    rest = [i for i in items if _position(order, i, key) < 0]
    return sorted(found, key=lambda i: _position(order, i, key)) + rest + deletions


def _normalize(patch_items, server_only, patch_order, server_order, key):
    """normalizeElementOrder: each part in its own order, then the server's items put back where
    they were relative to the patch's."""
    left, right = _sorted_by(server_only, server_order, key), _sorted_by(patch_items, patch_order, key)
    out, i, j = [], 0, 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li, ri = _position(server_order, left[i], key), _position(server_order, right[j], key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _set_element_orders(original, patch, lists, kind, path):
    """``$setElementOrder/<list>``: the list merged with the patch's, in the order given."""
    for directive in [k for k in patch if k.startswith(SET_ORDER)]:
        order = patch.pop(directive)
        name = _directive_key(directive, SET_ORDER, "invalid patch format of setElementOrder list")
        if not isinstance(order, list):
            raise _bad_arg("[]interface {}", order)
        had, given = name in original, name in patch
        live, patched = original.get(name, []), patch.get(name, [])
        for value in ((live,) if had else ()) + ((patched,) if given else ()):
            if not isinstance(value, list):
                raise _bad_arg("[]interface {}", value)
        merge_key = lists.get(name)
        key = merge_key or None
        _check_order(patched, order, key)
        if had and given:
            merged = _merge_list(live, patched, merge_key, False, kind, path + (name,))
        elif had or given:
            merged = live if had else patched
        else:
            continue
        patch_items, server_only = _partition(merged, order, key)
        _element_type(live, patched)
        original[name] = _normalize(patch_items, server_only, order, live, key)
        patch.pop(name, None)


def _check_order(patched, order, key):
    """validatePatchWithSetOrderList: the patch's items in the order list's relative order."""
    if not order or not patched:
        return
    items = [p for p in patched if not (isinstance(p, dict) and p.get(DIRECTIVE) == "delete")] if key else patched
    pi = oi = 0
    while pi < len(items) and oi < len(order):
        item = items[pi]
        if isinstance(item, dict) and DIRECTIVE in item:
            pi += 1
            continue
        if key is None:
            same = _eq(item, order[oi])
        else:
            for side in (item, order[oi]):
                if not isinstance(side, dict):
                    raise _bad_arg("map[string]interface {}", side)
                if key not in side:
                    raise _no_merge_key(side, key)
            same = _eq(item[key], order[oi][key])
        if same:
            pi += 1
        oi += 1
    if pi < len(items) and oi >= len(order):
        raise PatchError(f"The order in patch list:\n{go_value(patched)}\n doesn't match {SET_ORDER} list:\n"
                         f"{go_value(order)}\n", 500)
