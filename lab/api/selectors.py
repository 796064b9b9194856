"""Label and field selectors, as kube-apiserver reads them from ``labelSelector`` and
``fieldSelector``. Pure."""

import re

from lab.api import status

_SET = re.compile(r"^\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")


def _split(text):
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def labels(text):
    """A predicate on a labels dict for ``text`` (``app=web,tier!=db,env in (a,b),!legacy``)."""
    terms = []
    for part in _split(text or ""):
        for op in ("!=", "==", "="):
            if op in part:
                k, v = (x.strip() for x in part.split(op, 1))
                terms.append((k, "!=" if op == "!=" else "=", (v,)))
                break
        else:
            m = _SET.match(part)
            if not m:
                raise status.bad_request(f"unable to parse requirement: {part.strip()!r}")
            neg, k, op, values = m.groups()
            if op:
                terms.append((k, op, tuple(v.strip() for v in values.split(",") if v.strip())))
            else:
                terms.append((k, "!exists" if neg else "exists", ()))

    def matches(labels_dict):
        labels_dict = labels_dict or {}
        for k, op, values in terms:
            have = labels_dict.get(k)
            if op == "=" and have != values[0]:
                return False
            if op == "!=" and have == values[0]:
                return False
            if op == "in" and have not in values:
                return False
            if op == "notin" and have in values:
                return False
            if op == "exists" and k not in labels_dict:
                return False
            if op == "!exists" and k in labels_dict:
                return False
        return True
    return matches


def _field(obj, path):
    value = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def fields(text):
    """A predicate on an object for ``text`` (``metadata.name=x,involvedObject.kind=Pod``)."""
    terms = []
    for part in _split(text or ""):
        for op in ("!=", "==", "="):
            if op in part:
                k, v = (x.strip() for x in part.split(op, 1))
                terms.append((k, op != "!=", v))
                break
        else:
            raise status.bad_request(f"invalid selector: '{part}'; can't understand '{part}'")

    def matches(obj):
        for k, equal, v in terms:
            have = _field(obj, k)
            have = "" if have is None else str(have)
            if (have == v) != equal:
                return False
        return True
    return matches


def select(objects, resource, namespace=None, label_selector=None, field_selector=None):
    """The objects (a store's ``{key: object}``) of ``resource`` in ``namespace`` (None: every
    one) that both selectors match, in key order."""
    label_match, field_match = labels(label_selector), fields(field_selector)
    prefix = f"{resource.api_version}/{resource.kind}/"
    out = []
    for key in sorted(objects):
        if not key.startswith(prefix):
            continue
        obj = objects[key]
        meta = obj["metadata"]
        if namespace is not None and meta.get("namespace") != namespace:
            continue
        if label_match(meta.get("labels")) and field_match(obj):
            out.append(obj)
    return out
