"""The OpenAPI v3 documents the lab's API server builds from kubernetes-validate's schemas (what
``kubectl explain`` reads): refs rewritten and resolvable, one type per schema, the served kinds
with their group-version-kinds, the index's hashes; and the conversion itself on small schemas."""

import hashlib
import json

import pytest

from lab.api import kinds, openapi, status

PACKAGE = openapi.package_dir()
needs_package = pytest.mark.skipif(
    PACKAGE is None or not openapi.releases(PACKAGE),
    reason="kubernetes-validate (Kubernetes' schemas) is not installed for this python: sudo ./setup installs it")
VERSIONS = ["v1.18.20", "v1.33.0"]  # the two profiles' reported versions (lab.cluster.resources)


@pytest.fixture(scope="module", params=VERSIONS)
def built(request):
    return {gv: json.loads(data) for gv, data in openapi.build(request.param).items()}


def walk(node):
    """Every dict inside ``node`` (``node`` too)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def schema_nodes(schema):
    """Every schema inside ``schema``, without the vendor extensions' contents (``x-…``) and
    taking the keys of ``properties`` as names, not schemas."""
    yield schema
    for key, value in schema.items():
        if key in ("properties", "patternProperties"):
            for sub in value.values():
                yield from schema_nodes(sub)
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            yield from schema_nodes(value)
        elif key in ("allOf", "oneOf", "anyOf"):
            for sub in value:
                yield from schema_nodes(sub)


# the conversion, on small schemas (no package needed) ---------------------------------------------

def test_nullable_type_lists_become_one_type():
    assert openapi.convert({"type": ["string", "null"]}) == {"type": "string"}
    assert openapi.convert({"type": "integer", "format": "int32"}) == {"type": "integer", "format": "int32"}


def test_a_ref_with_siblings_is_wrapped_in_all_of():
    got = openapi.convert({"$ref": "#/$defs/io.k8s.api.core.v1.ServiceSpec", "description": "Spec."})
    assert got == {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.core.v1.ServiceSpec"}],
                   "description": "Spec."}
    assert openapi.convert({"$ref": "#/$defs/X"}) == {"$ref": "#/components/schemas/X"}


def test_properties_are_names_not_schemas():
    # a field called "type" is a schema to convert, not a type list
    got = openapi.convert({"type": ["object", "null"], "properties": {
        "type": {"type": ["string", "null"]}, "items": {"type": "array", "items": {"$ref": "#/$defs/P"}}}})
    assert got == {"type": "object", "properties": {
        "type": {"type": "string"}, "items": {"type": "array", "items": {"$ref": "#/components/schemas/P"}}}}


def test_int_or_string_keeps_its_one_of():
    got = openapi.convert({"oneOf": [{"type": ["string", "null"]}, {"type": ["integer", "null"]}]})
    assert got == {"oneOf": [{"type": "string"}, {"type": "integer"}]}


def test_nearest_release():
    available = set(range(25, 38))
    assert openapi.nearest_minor(available, "v1.33.0") == 33
    assert openapi.nearest_minor(available, "v1.18.20") == 25
    assert openapi.nearest_minor(available, "v1.40.1") == 37
    assert openapi.nearest_minor({30, 32}, "v1.31.0") == 30  # as near: the older


def test_without_the_package_v3_is_a_not_found_status(tmp_path):
    with pytest.raises(status.ApiError) as caught:
        openapi.v3("v1.33.0", "", root=str(tmp_path))
    assert caught.value.code == 404
    body = caught.value.status()
    assert (body["kind"], body["status"], body["reason"]) == ("Status", "Failure", "NotFound")


# the documents built from the package --------------------------------------------------------------

@needs_package
def test_the_index_lists_every_served_group_version_with_its_hash():
    documents = openapi.build("v1.33.0")
    index = json.loads(documents[""])
    assert set(index["paths"]) == {"api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1", "apis/discovery.k8s.io/v1"}
    for gv, entry in index["paths"].items():
        sha = hashlib.sha512(documents[gv]).hexdigest().upper()
        assert entry["serverRelativeURL"] == f"/openapi/v3/{gv}?hash={sha}"


@needs_package
def test_no_defs_refs_are_left_and_every_ref_resolves(built):
    for gv in ("api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1", "apis/discovery.k8s.io/v1"):
        doc = built[gv]
        assert "$defs" not in json.dumps(doc), gv
        schemas = doc["components"]["schemas"]
        for node in walk(doc):
            if "$ref" in node:
                prefix, _, name = node["$ref"].rpartition("/")
                assert prefix == "#/components/schemas" and name in schemas, (gv, node["$ref"])
                assert len(node) == 1, f"{gv}: a $ref with siblings: {sorted(node)}"


@needs_package
def test_types_are_single_strings(built):
    for gv, doc in built.items():
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            for node in schema_nodes(schema):
                assert isinstance(node.get("type", ""), str), (gv, name, node["type"])


@needs_package
def test_only_reachable_schemas_are_kept(built):
    doc = built["apis/discovery.k8s.io/v1"]
    schemas = doc["components"]["schemas"]
    assert "io.k8s.api.discovery.v1.EndpointSlice" in schemas
    assert "io.k8s.api.core.v1.PodSpec" not in schemas and "io.k8s.api.apps.v1.Deployment" not in schemas
    roots = [r["$ref"].rsplit("/", 1)[1] for r in walk(doc["paths"]) if "$ref" in r]
    assert set(schemas) == openapi.reachable(schemas, roots)


@needs_package
def test_the_service_kind_and_its_list_path(built):
    doc = built["api/v1"]
    service = doc["components"]["schemas"]["io.k8s.api.core.v1.Service"]
    gvk = {"group": "", "kind": "Service", "version": "v1"}
    assert service["x-kubernetes-group-version-kind"] == [gvk]
    assert service["properties"]["spec"]["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.core.v1.ServiceSpec"}]
    assert "enum" not in service["properties"]["apiVersion"]
    spec = doc["components"]["schemas"]["io.k8s.api.core.v1.ServiceSpec"]
    assert {"ports", "selector", "type"} <= set(spec["properties"])
    assert spec["properties"]["type"]["description"].startswith("type determines how the Service is exposed")
    for path in ("/api/v1/namespaces/{namespace}/services", "/api/v1/services"):
        assert doc["paths"][path]["get"]["x-kubernetes-group-version-kind"] == gvk


@needs_package
def test_every_served_kind_has_its_schema(built):
    for gv, group, version in openapi.group_versions():
        doc = built[gv]
        found = {(g["group"], g["version"], g["kind"]) for s in doc["components"]["schemas"].values()
                 for g in s.get("x-kubernetes-group-version-kind", [])}
        for r in kinds.RESOURCES:
            if (r.group, r.version) == (group, version):
                assert (group, version, r.kind) in found, (gv, r.kind)


@needs_package
def test_unknown_group_versions_are_not_found():
    for gv in ("apis/batch/v1", "api/v2", "api"):
        with pytest.raises(status.ApiError) as caught:
            openapi.v3("v1.33.0", gv)
        assert caught.value.code == 404
