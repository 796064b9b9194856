"""Protobuf request bodies (lab.api.protobuf): what kubectl really sends (tests/protobuf/, captured
with tests/protobuf/capture.py from kubectl 1.32 and 1.33) decodes to kubectl's own JSON of the same
object; the kinds kubectl sends no protobuf for, built here on the wire, decode as Go's JSON has
them; and garbage gets kube-apiserver's 400 BadRequest, never anything else."""

import base64
import json
import random

import pytest

from factories import TESTS
from lab.api import bodies, kinds, protobuf, status
from lab.api import protobuf_schema as schema

CAPTURED = sorted((TESTS / "protobuf").glob("kubectl-*/*.pb"))
MEDIA = "application/vnd.kubernetes.protobuf"


# a few lines of the wire format, to build bodies -------------------------------------------------

def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def tag(number, wire_type):
    return varint(number << 3 | wire_type)


def num(number, value):
    return tag(number, 0) + varint(value)


def ld(number, payload):
    return tag(number, 2) + varint(len(payload)) + payload


def text(number, value):
    return ld(number, value.encode())


def entry(number, key, value):
    return ld(number, text(1, key) + (text(2, value) if isinstance(value, str) else ld(2, value)))


def envelope(api_version, kind, raw):
    return protobuf.MAGIC + ld(1, text(1, api_version) + text(2, kind)) + ld(2, raw)


def meta(name, **labels):
    return ld(1, text(1, name) + b"".join(entry(11, k, v) for k, v in labels.items()))


def decoded(body, resource_plural="pods"):
    resource = next(r for r in kinds.RESOURCES if r.plural == resource_plural)
    return bodies.object_body(body, MEDIA, resource)[0]


def refused(body, resource_plural="pods"):
    with pytest.raises(status.ApiError) as err:
        decoded(body, resource_plural)
    assert (err.value.code, err.value.reason) == (400, "BadRequest")
    return err.value.message


# what kubectl sends -------------------------------------------------------------------------------

def test_kubectl_bodies_were_captured():
    folders = {p.parent.name for p in CAPTURED}
    assert folders == {"kubectl-1.32", "kubectl-1.33"}
    assert len(CAPTURED) >= 2 * 16


@pytest.mark.parametrize("path", CAPTURED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_kubectl_body_decodes_to_kubectls_json(path):
    body = path.read_bytes()
    assert body.startswith(b"k8s\x00")
    want = json.loads(path.with_suffix(".json").read_text())
    resource = kinds.by_kind(want["apiVersion"], want["kind"])
    got = bodies.object_body(body, f"{MEDIA}; charset=binary", resource)[0]
    assert got == want
    assert list(got) == list(want)  # in Go's order too: kind, apiVersion, metadata, spec, status


def test_zero_pointers_stay_and_zero_values_go():
    d0 = decoded((TESTS / "protobuf/kubectl-1.33/deployment-zero-replicas.pb").read_bytes(), "deployments")
    assert d0["spec"]["replicas"] == 0  # *int32: set to 0
    assert d0["metadata"] == {"name": "d0", "creationTimestamp": None, "labels": {"app": "d0"}}  # "" fields gone
    assert d0["spec"]["strategy"] == {} and d0["status"] == {}  # structs: always there
    cm = decoded((TESTS / "protobuf/kubectl-1.32/configmap-binary.pb").read_bytes(), "configmaps")
    assert base64.b64decode(cm["binaryData"]["blob"]) == bytes(range(256))
    assert cm["data"] == {"greeting": "h\u00e9llo", "empty": ""}
    svc = decoded((TESTS / "protobuf/kubectl-1.32/service-clusterip.pb").read_bytes(), "services")
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == [8080, "https"]  # IntOrString both ways


# the other served kinds, built on the wire ---------------------------------------------------------

def test_endpointslice_pointers_and_lists_without_omitempty():
    conditions = ld(2, num(1, 1) + num(3, 0))  # ready: true, terminating: false (pointers)
    endpoint = text(1, "10.244.1.2") + conditions + text(6, "node1")
    port = text(1, "") + text(2, "TCP") + num(3, 8080)
    body = envelope("discovery.k8s.io/v1", "EndpointSlice",
                    meta("web-x1", **{"kubernetes.io/service-name": "web"}) + ld(2, endpoint) + ld(3, port)
                    + text(4, "IPv4"))
    assert decoded(body, "endpointslices") == {
        "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"name": "web-x1", "creationTimestamp": None, "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.1.2"], "conditions": {"ready": True, "terminating": False},
                       "nodeName": "node1"}],
        "ports": [{"name": "", "protocol": "TCP", "port": 8080}]}
    empty = decoded(envelope("discovery.k8s.io/v1", "EndpointSlice", meta("e") + text(4, "IPv4")), "endpointslices")
    assert empty["endpoints"] is None and empty["ports"] is None  # nil slices without omitempty: null


def test_endpoints_subsets():
    address = text(1, "10.244.2.3") + text(4, "node2") + ld(2, text(1, "Pod") + text(3, "web-1"))
    body = envelope("v1", "Endpoints", meta("web") + ld(2, ld(1, address) + ld(3, num(2, 8080) + text(3, "TCP"))))
    assert decoded(body, "endpoints")["subsets"] == [
        {"addresses": [{"ip": "10.244.2.3", "nodeName": "node2", "targetRef": {"kind": "Pod", "name": "web-1"}}],
         "ports": [{"port": 8080, "protocol": "TCP"}]}]


def pod_template(**labels):
    container = text(1, "web") + text(2, "luksa/kubia") + ld(6, num(3, 8080))
    return ld(1, b"".join(entry(11, k, v) for k, v in labels.items())) + ld(2, ld(2, container))


# a status the body leaves out is Go's zero struct: its fields without omitempty are 0
@pytest.mark.parametrize("kind,plural,spec,want,zero_status", [
    ("ReplicaSet", "replicasets", num(1, 2) + ld(2, entry(1, "app", "web")), {"replicas": 2}, {"replicas": 0}),
    ("StatefulSet", "statefulsets", num(1, 0) + ld(2, entry(1, "app", "web")) + text(5, "web")
     + ld(7, text(1, "RollingUpdate")),
     {"replicas": 0, "serviceName": "web", "updateStrategy": {"type": "RollingUpdate"}},
     {"replicas": 0, "availableReplicas": 0}),
    ("DaemonSet", "daemonsets", ld(1, entry(1, "app", "web"))
     + ld(3, text(1, "RollingUpdate") + ld(2, ld(1, num(1, 1) + text(3, "10%")))),
     {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}},
     {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}),
], ids=["ReplicaSet", "StatefulSet", "DaemonSet"])
def test_workloads(kind, plural, spec, want, zero_status):
    field = 2 if kind == "DaemonSet" else 3  # the template's field number
    obj = decoded(envelope("apps/v1", kind, meta("web") + ld(2, spec + ld(field, pod_template(app="web")))), plural)
    assert obj["kind"] == kind and obj["apiVersion"] == "apps/v1"
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert obj["spec"]["template"] == {
        "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "luksa/kubia", "ports": [{"containerPort": 8080}],
                                 "resources": {}}]}}
    assert {k: v for k, v in obj["spec"].items() if k not in ("selector", "template")} == want
    assert obj["status"] == zero_status


def test_pod_special_types():
    created = ld(8, num(1, 1767225600) + num(2, 999))  # 2026-01-01, nanos dropped as metav1.Time does
    fields_v1 = ld(7, ld(1, b'{"f:metadata":{}}'))
    managed = ld(17, text(1, "client") + text(2, "Update") + ld(4, num(1, 0)) + text(6, "FieldsV1") + fields_v1)
    metadata = ld(1, text(1, "p") + created + managed)
    resources = ld(8, entry(1, "cpu", text(1, "250m")) + entry(2, "memory", text(1, "64Mi")))
    probe = ld(11, ld(1, ld(2, text(1, "/") + ld(2, num(1, 1) + text(3, "http")))) + num(2, 0))
    container = text(1, "c") + resources + probe
    security = ld(14, num(2, 0) + ld(4, varint(1) + varint(2) + varint(-1 & (1 << 64) - 1)))  # packed int64
    pod = decoded(envelope("v1", "Pod", metadata + ld(2, ld(2, container) + security)))
    assert pod["metadata"]["creationTimestamp"] == "2026-01-01T00:00:00Z"
    assert pod["metadata"]["managedFields"] == [{"manager": "client", "operation": "Update",
                                                "time": "1970-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                                                "fieldsV1": {"f:metadata": {}}}]
    c = pod["spec"]["containers"][0]
    assert c["resources"] == {"limits": {"cpu": "250m"}, "requests": {"memory": "64Mi"}}
    assert c["readinessProbe"] == {"httpGet": {"path": "/", "port": "http"}}  # ProbeHandler inline
    assert pod["spec"]["securityContext"] == {"runAsUser": 0, "supplementalGroups": [1, 2, -1]}


def test_micro_time_and_time():
    assert protobuf.rfc3339(1767225600, 123456789, micro=True) == "2026-01-01T00:00:00.123456Z"
    assert protobuf.rfc3339(0, 0) == "1970-01-01T00:00:00Z"
    assert protobuf.rfc3339(-1, 500_000_000, micro=True) == "1969-12-31T23:59:59.500000Z"
    assert protobuf.rfc3339(protobuf.GO_ZERO_TIME, 0) is None  # Go's zero time: null
    with pytest.raises(protobuf.WireError):
        protobuf.rfc3339(protobuf.LAST_SECOND + 1, 0)


def test_unknown_fields_and_groups_are_skipped_repeats_merge():
    noise = (num(99, 5) + tag(98, 1) + bytes(8) + tag(97, 5) + bytes(4) + ld(96, b"\xff" * 3)
             + tag(95, 3) + num(1, 1) + tag(94, 3) + tag(94, 4) + tag(95, 4))
    body = envelope("v1", "ConfigMap", noise + ld(1, text(1, "cm")) + ld(1, entry(11, "a", "b") + noise)
                    + entry(2, "k", "v") + entry(2, "k", "w") + noise)
    assert decoded(body, "configmaps") == {"kind": "ConfigMap", "apiVersion": "v1",
                                           "metadata": {"name": "cm", "creationTimestamp": None,
                                                        "labels": {"a": "b"}},
                                           "data": {"k": "w"}}


def test_envelope_defaults_to_the_urls_kind():
    body = protobuf.MAGIC + ld(2, ld(1, text(1, "ns2")))
    assert decoded(body, "namespaces") == {"kind": "Namespace", "apiVersion": "v1",
                                           "metadata": {"name": "ns2", "creationTimestamp": None},
                                           "spec": {}, "status": {}}
    deployment = decoded(protobuf.MAGIC + ld(1, text(2, "Deployment")) + ld(2, meta("d")), "deployments")
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")


def test_another_served_kind_is_refused_as_for_json():
    """A Pod sent to /namespaces decodes as a Pod, and the kind check refuses it, as for JSON."""
    obj = protobuf.request_object(envelope("v1", "Pod", meta("p")), kinds.find("", "v1", "namespaces"))
    assert obj["kind"] == "Pod"
    with pytest.raises(status.ApiError) as err:
        decoded(envelope("v1", "Pod", meta("p")), "namespaces")
    assert err.value.code == 400 and 'Pod in version "v1" cannot be handled as a Namespace' in err.value.message


# garbage -------------------------------------------------------------------------------------------

def test_not_protobuf():
    assert refused(b"", "namespaces") == \
        "the object provided is unrecognized (must be of type Namespace): empty data (<empty>)"
    assert refused(b'{"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "x"}}', "namespaces") == (
        "the object provided is unrecognized (must be of type Namespace): provided data does not appear to be a "
        'protobuf message, expected prefix [107 56 115 0] ({"kind": "Namespace", "apiVers ...)')
    assert refused(b"k8s\x00", "namespaces").endswith(": empty body (6b387300)")


def test_truncated_bodies():
    """Every cut of a real body is refused, but for the few that end between the envelope's fields."""
    body = (TESTS / "protobuf/kubectl-1.32/deployment.pb").read_bytes()
    decodable = 0
    for n in range(5, len(body)):
        try:
            decoded(body[:n], "deployments")
            decodable += 1
        except status.ApiError as exc:
            assert (exc.code, exc.reason) == (400, "BadRequest")
            assert exc.message.startswith("the object provided is unrecognized (must be of type Deployment): "
                                          "unexpected EOF (6b387300")
    assert decodable <= 3
    assert refused(envelope("apps/v1", "Deployment", meta("d")[:-1]), "deployments") == \
        'Deployment in version "v1" cannot be handled as a Deployment: unexpected EOF'


def test_bad_varints_and_lengths():
    overflow = protobuf.MAGIC + tag(50, 0) + b"\xff" * 10 + b"\x01"
    assert "proto: integer overflow" in refused(overflow)
    assert "proto: integer overflow" in refused(protobuf.MAGIC + b"\xff" * 11)
    assert "unexpected EOF" in refused(protobuf.MAGIC + tag(50, 0) + b"\xff\xff")
    huge = protobuf.MAGIC + tag(2, 2) + varint(1 << 62) + b"abc"
    assert "unexpected EOF" in refused(huge)
    negative = protobuf.MAGIC + tag(2, 2) + varint(1 << 63)
    assert "proto: negative length found during unmarshaling" in refused(negative)
    inner = envelope("v1", "Pod", tag(1, 2) + varint((1 << 64) - 5))
    assert refused(inner) == ('Pod in version "v1" cannot be handled as a Pod: proto: negative length found '
                              "during unmarshaling")


def test_wrong_wire_types_and_tags():
    assert refused(envelope("v1", "Pod", num(1, 3))) == \
        'Pod in version "v1" cannot be handled as a Pod: proto: wrong wireType = 0 for field ObjectMeta'
    assert refused(envelope("apps/v1", "Deployment", ld(2, text(1, "x"))), "deployments").endswith(
        "proto: wrong wireType = 2 for field Replicas")
    assert refused(envelope("v1", "Pod", tag(0, 2) + b"\x00")).endswith("proto: Pod: illegal tag 0 (wire type 2)")
    assert refused(envelope("v1", "Pod", tag(1, 4))).endswith("proto: Pod: wiretype end group for non-group")
    assert refused(envelope("v1", "Pod", tag(50, 6))).endswith("proto: illegal wireType 6")
    assert refused(envelope("v1", "Pod", tag(50, 3) + tag(50, 4) + tag(50, 4))).endswith(
        "proto: Pod: wiretype end group for non-group")
    assert refused(envelope("v1", "Pod", ld(1, tag(8, 0) + b"\x01"))).endswith(
        "proto: wrong wireType = 0 for field CreationTimestamp")


def test_deep_nesting():
    groups = envelope("v1", "Pod", tag(50, 3) * 200_000)  # unknown groups never closed: read without recursion
    assert refused(groups).endswith("unexpected EOF")
    nested = meta("p")
    for _ in range(40):
        nested = ld(50, nested)  # unknown length-delimited: skipped, not read
    assert decoded(envelope("v1", "Pod", nested + meta("p")))["metadata"]["name"] == "p"
    deployment = (TESTS / "protobuf/kubectl-1.32/deployment.pb").read_bytes()
    raw = protobuf.Decoder().message("runtime.Unknown", memoryview(deployment)[4:])["raw"]
    with pytest.raises(protobuf.WireError, match="more than 3 messages deep"):
        protobuf.Decoder(max_depth=3).message("apps.Deployment", raw)
    assert protobuf.Decoder(max_depth=12).message("apps.Deployment", raw)["spec"]["replicas"] == 1


def test_too_many_values_and_too_large():
    many = envelope("v1", "ConfigMap", entry(2, "k", "v") * (protobuf.MAX_VALUES + 1))
    assert refused(many, "configmaps").endswith(f"proto: more than {protobuf.MAX_VALUES} values")
    big = envelope("v1", "ConfigMap", ld(50, bytes(protobuf.MAX_BYTES)))
    assert f"larger than {protobuf.MAX_BYTES} bytes" in refused(big, "configmaps")


def test_values_go_cannot_write():
    assert refused(envelope("v1", "Kind", b"")) == (
        'Kind in version "v1" cannot be handled as a Pod: no kind "Kind" is registered for version "v1" in scheme '
        '"pkg/api/legacyscheme/scheme.go:30"')
    port = ld(1, num(3, 80) + ld(4, num(1, 7)))
    assert refused(envelope("v1", "Service", ld(2, port)), "services").endswith("impossible IntOrString.Type")
    limits = ld(8, entry(1, "cpu", text(1, "lots")))
    assert "quantities must match the regular expression" in refused(envelope("v1", "Pod", ld(2, ld(2, limits))))
    when = ld(1, ld(8, num(1, 1 << 40)))
    assert "out of range" in refused(envelope("v1", "Pod", when))
    managed = ld(1, ld(17, ld(7, ld(1, b"{nope"))))
    assert "FieldsV1" in refused(envelope("v1", "Pod", managed))


def test_random_garbage_gets_a_400():
    rng = random.Random(20261204)
    real = [p.read_bytes() for p in CAPTURED]
    for i in range(3000):
        body = bytearray(rng.choice(real))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(4, len(body))
            body[at] = rng.randrange(256) if i % 2 else body[at] ^ (1 << rng.randrange(8))
        if i % 3 == 0:
            body = protobuf.MAGIC + bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
        try:
            obj = decoded(bytes(body), rng.choice(["pods", "services", "deployments", "configmaps"]))
        except status.ApiError as exc:
            assert (exc.code, exc.reason) == (400, "BadRequest")
        else:
            assert isinstance(obj, dict) and isinstance(obj.get("kind"), str)
            json.dumps(obj)  # JSON data, whatever came in



def test_schema_table_is_whole():
    """Every type the table names is a scalar or a message of it; the served kinds are all there
    (and only they), flags are known, and no message contains itself (so depth is bounded)."""
    messages = schema.MESSAGES
    assert {kinds.by_kind(*k).kind for k in schema.KINDS} == {r.kind for r in kinds.RESOURCES if "create" in r.verbs}
    assert set(schema.KINDS.values()) <= set(messages) and schema.SPECIAL <= set(messages)

    def children(name):
        for field in messages[name].values():
            typ = field[1][4:] if field[1].startswith("map:") else field[1]
            assert typ in protobuf.WIRE_TYPES or typ in messages, (name, field)
            assert set(field[2] if len(field) > 2 else "") <= set("rpki"), (name, field)
            if typ in messages:
                yield typ

    def depth(name, path=()):
        assert name not in path, f"{' > '.join(path + (name,))}: a cycle"
        return 1 + max((depth(child, path + (name,)) for child in children(name)), default=0)
    assert max(depth(m) for m in schema.KINDS.values()) < protobuf.MAX_DEPTH
