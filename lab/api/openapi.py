"""OpenAPI v3 for the lab's API server (``GET /openapi/v3`` and ``/openapi/v3/<group-version>``,
what ``kubectl explain`` reads from 1.27 on), built from Kubernetes' own schemas as the PyPI
package kubernetes-validate ships them: one JSON Schema 2020-12 file per Kubernetes release,
``kubernetes-json-schema/v1.NN.0-local/_definitions.json``.

The documents take the shape of kube-apiserver's: ``$defs`` refs become
``#/components/schemas/...``, a ``$ref`` with siblings is wrapped in ``allOf``, ``["string",
"null"]`` types become ``"string"``, and each group-version's document holds only the schemas its
served kinds reach, with list paths that name each kind's ``x-kubernetes-group-version-kind``.
Pure: it reads the package's files, nothing else.
"""

import hashlib
import importlib.util
import json
import os
import re

from lab.api import kinds, status

PACKAGE = "kubernetes_validate"
SCHEMA_DIR = "kubernetes-json-schema"
DEFINITIONS = "_definitions.json"
_RELEASE = re.compile(r"^v1\.(\d+)\.0-local$")  # not -local-strict: that one adds additionalProperties: false
_SCHEMA_LISTS = ("allOf", "oneOf", "anyOf")


def package_dir():
    """Where kubernetes-validate's files are, or None when it is not installed. Found without
    importing the package: svclab needs only its data, not its validator's dependencies."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(spec.submodule_search_locations))


def releases(root):
    """{minor: definitions file} for the Kubernetes 1.x releases the package has schemas of."""
    base = os.path.join(root, SCHEMA_DIR)
    found = {}
    for entry in os.listdir(base) if os.path.isdir(base) else ():
        match = _RELEASE.match(entry)
        path = os.path.join(base, entry, DEFINITIONS)
        if match and os.path.isfile(path):
            found[int(match.group(1))] = path
    return found


def nearest_minor(available, git_version):
    """The available minor release nearest the server's (``v1.18.20`` -> 25 when 25 is the oldest);
    between two as near, the older."""
    minor = int(git_version.lstrip("v").split(".")[1])
    return min(available, key=lambda m: (abs(m - minor), m))


# conversion ---------------------------------------------------------------------------------------

def _ref(target):
    return "#/components/schemas/" + target.rsplit("/", 1)[-1]


def _type(value):
    if not isinstance(value, list):
        return value
    real = [t for t in value if t != "null"]
    return real[0] if len(real) == 1 else real


def convert(schema):
    """One JSON Schema (as kubernetes-validate writes it) in OpenAPI v3's form (as kube-apiserver
    serves it)."""
    if not isinstance(schema, dict):
        return schema
    out, alternatives = {}, []
    for key, value in schema.items():
        if key == "type":
            value = _type(value)
            if isinstance(value, list):  # more than one real type: OpenAPI 3.0 says it with oneOf
                alternatives = [{"type": t} for t in value]
                continue
        elif key in ("properties", "patternProperties"):
            value = {name: convert(s) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            value = convert(value)
        elif key in _SCHEMA_LISTS:
            value = [convert(s) for s in value]
        elif key == "$ref":
            value = _ref(value)
        out[key] = value
    if alternatives:
        out["oneOf"] = alternatives + out.get("oneOf", [])
    if "$ref" in out and len(out) > 1:
        out["allOf"] = [{"$ref": out.pop("$ref")}] + out.get("allOf", [])
    return out


def _drop_kind_enums(schema):
    """kubernetes-validate pins ``apiVersion`` and ``kind`` of every top-level kind with a one-value
    enum (a validator's need); kube-apiserver's schemas have none, and explain would print it."""
    for field in ("apiVersion", "kind"):
        prop = schema.get("properties", {}).get(field)
        if isinstance(prop, dict):
            prop.pop("enum", None)
    return schema


def refs(schema):
    """The component names ``schema`` refers to, anywhere inside it."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from refs(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from refs(item)


def reachable(schemas, roots):
    """The names of ``roots`` and of every schema they reach through refs."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        todo.extend(refs(schemas[name]))
    return seen


def by_gvk(definitions):
    """{(group, version, kind): definition name}; a name that lists only that one kind wins over
    shared ones (meta.v1's DeleteOptions and WatchEvent list every group)."""
    found = {}
    for name, schema in definitions.items():
        gvks = schema.get("x-kubernetes-group-version-kind") or []
        for gvk in gvks:
            key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
            if key not in found or len(gvks) == 1:
                found[key] = name
    return found


# documents -----------------------------------------------------------------------------------------

def group_versions():
    """(name in the index, group, version) for each group-version the lab serves: ``api/v1``,
    ``apis/apps/v1``, ..."""
    return [(f"apis/{g}/{v}" if g else f"api/{v}", g, v) for g, v in kinds.GROUPS.items()]


def _list_paths(resource):
    prefix = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
    if resource.namespaced:
        return [(f"{prefix}/namespaces/{{namespace}}/{resource.plural}", "Namespaced"),
                (f"{prefix}/{resource.plural}", "ForAllNamespaces")]
    return [(f"{prefix}/{resource.plural}", "")]


def _operation_id(resource, scope):
    group = (resource.group.split(".")[0] or "core").capitalize()  # listDiscoveryV1..., as kube names them
    version = resource.version.capitalize()
    if scope == "ForAllNamespaces":
        return f"list{group}{version}{resource.kind}{scope}"
    return f"list{group}{version}{scope}{resource.kind}"


def document(definitions, group, version, git_version):
    """The OpenAPI v3 document of one group-version: a list path per served kind, and the schemas
    the kinds and their lists reach."""
    gvks = by_gvk(definitions)
    paths, roots = {}, []
    for resource in kinds.RESOURCES:
        if (resource.group, resource.version) != (group, version):
            continue
        kind_name = gvks.get((group, version, resource.kind))
        list_name = gvks.get((group, version, f"{resource.kind}List"))
        if kind_name is None:
            continue
        roots += [kind_name] + ([list_name] if list_name else [])
        gvk = {"group": group, "kind": resource.kind, "version": version}
        body = {"$ref": _ref(list_name or kind_name)}
        for path, scope in _list_paths(resource):
            paths[path] = {"get": {
                "operationId": _operation_id(resource, scope),
                "description": f"list or watch objects of kind {resource.kind}",
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": body}}}},
                "x-kubernetes-action": "list",
                "x-kubernetes-group-version-kind": gvk}}
    schemas = {}
    for name in sorted(reachable(definitions, roots)):
        schema = convert(definitions[name])
        schemas[name] = _drop_kind_enums(schema) if "x-kubernetes-group-version-kind" in schema else schema
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": git_version},
            "paths": paths, "components": {"schemas": schemas}}


def encode(doc):
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def digest(data):
    """kube-apiserver's hash of a document in the index: SHA-512, upper-case hex."""
    return hashlib.sha512(data).hexdigest().upper()


def index(documents):
    """The ``/openapi/v3`` index for {group-version: encoded document}."""
    return {"paths": {gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest(data)}"}
                      for gv, data in documents.items()}}


def definitions_file(git_version, root=None):
    """(minor, path) of the schemas for the server's version, or None without kubernetes-validate."""
    root = root or package_dir()
    available = releases(root) if root else {}
    if not available:
        return None
    minor = nearest_minor(available, git_version)
    return minor, available[minor]


def build(git_version, root=None):
    """{"": index, group-version: document}, encoded, for a server of ``git_version``; None
    without kubernetes-validate."""
    found = definitions_file(git_version, root)
    if found is None:
        return None
    with open(found[1], encoding="utf-8") as f:
        definitions = json.load(f)["$defs"]
    documents = {gv: encode(document(definitions, group, version, git_version))
                 for gv, group, version in group_versions()}
    return {"": encode(index(documents)), **documents}


_built = {}  # (version, root) -> documents, for the life of the server process


def v3(git_version, group_version="", root=None):
    """The body of ``GET /openapi/v3[/<group-version>]``, built on the first request (so ``lab up``
    does not wait for it); a NotFound Status when there is none. A missing package is looked for
    again on the next request: installing it needs no restart."""
    key = (git_version, root)
    if key not in _built:
        documents = build(git_version, root)
        if documents is None:
            raise status.no_such_path()
        _built[key] = documents
    documents = _built[key]
    if group_version not in documents:
        raise status.no_such_path()
    return documents[group_version]
