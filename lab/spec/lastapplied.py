"""What ``kubectl apply`` leaves on an object: the ``kubectl.kubernetes.io/last-applied-
configuration`` annotation, the manifest as applied (its namespace filled in, its annotations
without this one), as Go's JSON encoder writes it. A scenario's manifests and ``lab apply -f``
are applies: the objects carry it, so that the real ``kubectl apply`` of the same file answers
``unchanged``, as it would on the cluster the blog applied them to. Pure."""

import copy
import json

ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
CLUSTER_SCOPED = ("Namespace",)
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(value):
    """``json.Marshal`` of ``value`` (maps with sorted keys, HTML characters escaped)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def annotate(doc, default_namespace="default"):
    """``doc`` (a manifest's mapping) as ``kubectl apply`` stores it; anything else unchanged
    (the parser reports what is wrong with it)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("metadata", {}), dict) or doc.get("kind") == "List":
        return doc
    applied = copy.deepcopy(doc)
    meta = applied.setdefault("metadata", {})
    annotations = meta.get("annotations")
    if annotations is None:
        annotations = meta["annotations"] = {}
    if not isinstance(annotations, dict):
        return doc
    annotations.pop(ANNOTATION, None)
    if doc.get("kind") not in CLUSTER_SCOPED and not meta.get("namespace"):
        meta["namespace"] = default_namespace
    out = copy.deepcopy(doc)
    out_meta = out.setdefault("metadata", {})
    out_meta["annotations"] = dict(out_meta.get("annotations") or {}, **{ANNOTATION: go_json(applied) + "\n"})
    return out


def annotate_all(doc):
    """``annotate`` for a manifest, or each item of a ``kind: List``."""
    if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        return dict(doc, items=[annotate(item) for item in doc["items"]])
    return annotate(doc)
