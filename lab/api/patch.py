"""The three patch types kube-apiserver takes, applied to an object as JSON data. Pure.

- JSON merge patch (RFC 7386, ``application/merge-patch+json``): maps merge, ``null`` deletes,
  everything else replaces.
- JSON patch (RFC 6902, ``application/json-patch+json``): a list of add/remove/replace/move/copy/test.
- Strategic merge patch (``application/strategic-merge-patch+json``, what ``kubectl apply`` and
  ``kubectl edit`` send): a merge patch in which lists of objects with a merge key merge by that
  key, with the directives ``$patch`` (delete, replace, merge), ``$setElementOrder/<list>``,
  ``$retainKeys`` and ``$deleteFromPrimitiveList/<list>``. The merge keys are those of the Go types
  (``patchMergeKey`` tags) for the fields of the kinds svclab serves.
"""

import copy

# field name -> merge key, wherever the field appears (the kinds served here use each name one way)
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "hostAliases": "ip", "topologySpreadConstraints": "topologyKey", "conditions": "type",
    "ownerReferences": "uid", "resourceClaims": "name", "readinessGates": "conditionType",
}
# ports: containers' by containerPort, services' by port
PORT_KEYS = ("containerPort", "port")
# merge-strategy primitive lists (merged as sets, not replaced)
PRIMITIVE_MERGE = {"finalizers"}


class PatchError(ValueError):
    """A patch that cannot be applied: kube-apiserver answers 422 (or 400 for a malformed one)."""


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
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    for part in parts:
        if isinstance(doc, dict):
            if part not in doc:
                raise PatchError(f"path component {part!r} not found")
            doc = doc[part]
        elif isinstance(doc, list):
            doc = doc[_index(doc, part, exists=True)]
        else:
            raise PatchError(f"cannot descend into a {type(doc).__name__} at {part!r}")
    return doc


def _index(seq, part, exists=False):
    if part == "-" and not exists:
        return len(seq)
    if not part.isdigit():
        raise PatchError(f"{part!r} is not an array index")
    i = int(part)
    if i > len(seq) or (exists and i == len(seq)):
        raise PatchError(f"array index {i} out of range")
    return i


def _add(doc, parts, value):
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last), value)
    else:
        raise PatchError("cannot add to a scalar")
    return doc


def _remove(doc, parts):
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"cannot remove {last!r}: not found")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, exists=True))
    raise PatchError("cannot remove from a scalar")


def json_patch(target, operations):
    if not isinstance(operations, list):
        raise PatchError("a JSON patch is a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError("every operation needs op and path")
        kind, parts = op["op"], _pointer(op["path"])
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
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_walk(doc, source))
            if kind == "move":
                _remove(doc, source)
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _walk(doc, parts) != op["value"]:
                raise PatchError(f"test failed at {op['path']}")
        else:
            raise PatchError(f"unknown operation {kind!r}")
    return doc


# strategic merge patch -------------------------------------------------------------------------

def _merge_key(field, items):
    if field in MERGE_KEYS:
        return MERGE_KEYS[field]
    if field == "ports":
        for key in PORT_KEYS:
            if any(isinstance(i, dict) and key in i for i in items):
                return key
    return None


def strategic_merge_patch(target, patch):
    """``patch`` (a strategic merge patch) applied to ``target``."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch is a JSON object")
    return _merge_map(copy.deepcopy(target) if isinstance(target, dict) else {}, patch)


def _merge_map(original, patch):
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    retain = patch.get("$retainKeys")
    orders = {k[len("$setElementOrder/"):]: v for k, v in patch.items() if k.startswith("$setElementOrder/")}
    removals = {k[len("$deleteFromPrimitiveList/"):]: v for k, v in patch.items()
                if k.startswith("$deleteFromPrimitiveList/")}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            original.pop(key, None)
        elif isinstance(value, dict):
            merged = _merge_map(original.get(key) if isinstance(original.get(key), dict) else {}, value)
            if merged is None:
                original.pop(key, None)
            else:
                original[key] = merged
        elif isinstance(value, list):
            original[key] = _merge_list(key, original.get(key), value)
        else:
            original[key] = copy.deepcopy(value)
    for key, drop in removals.items():
        if isinstance(original.get(key), list):
            original[key] = [x for x in original[key] if x not in drop]
    for key, order in orders.items():
        if isinstance(original.get(key), list):
            original[key] = _ordered(key, original[key], order)
    if retain is not None:
        for key in list(original):
            if key not in retain:
                del original[key]
    return original


def _merge_list(field, original, patch):
    original = original if isinstance(original, list) else []
    if field in PRIMITIVE_MERGE:
        return original + [x for x in patch if x not in original]
    key = _merge_key(field, patch + original)
    if key is None or not all(isinstance(i, dict) for i in patch):
        if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
            return [copy.deepcopy({k: v for k, v in i.items() if k != "$patch"}) for i in patch
                    if not (isinstance(i, dict) and i.get("$patch") == "replace" and len(i) == 1)]
        return copy.deepcopy(patch)
    if any(i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy({k: v for k, v in i.items() if k != "$patch"}) for i in patch
                if not (i.get("$patch") == "replace" and len(i) == 1)]
    out = [copy.deepcopy(i) for i in original]
    for item in patch:
        if key not in item:
            raise PatchError(f"map in list {field} lacks its merge key {key}")
        position = next((n for n, o in enumerate(out) if isinstance(o, dict) and o.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if position is not None:
                out.pop(position)
            continue
        if position is None:
            out.append(_merge_map({}, item))
        else:
            out[position] = _merge_map(out[position], item)
    return out


def _ordered(field, items, order):
    """``$setElementOrder``: the patch's order first, then the others as they were."""
    if not order:
        return items
    key = _merge_key(field, order)
    if key is None:
        return [x for x in order if x in items] + [x for x in items if x not in order]
    wanted = [o.get(key) for o in order if isinstance(o, dict)]
    first = [next(i for i in items if isinstance(i, dict) and i.get(key) == w) for w in wanted
             if any(isinstance(i, dict) and i.get(key) == w for i in items)]
    return first + [i for i in items if i not in first]
