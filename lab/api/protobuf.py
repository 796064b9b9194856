"""Protobuf request bodies (``application/vnd.kubernetes.protobuf``, what kubectl's typed ``create``
commands send) as the JSON data of the same object, so that a write goes on as a JSON one would.

The body is the ``k8s\\x00`` magic and a runtime.Unknown envelope (typeMeta: apiVersion and kind;
raw: the object's own message), as apimachinery's protobuf serializer writes it. A generic reader
of the protobuf wire format (varint, 64-bit, length-delimited, 32-bit; groups and unknown fields
skipped) walks the messages of lab.api.protobuf_schema and gives what Go's encoding/json gives for
the object decoded: a zero scalar is left out unless it is a pointer or has no ``omitempty``, a
message that is not a pointer is always there, ``bytes`` are base64, Time and MicroTime are RFC
3339 (null when zero), IntOrString a number or a string, Quantity its string.

Bounded: at most MAX_BYTES, messages MAX_DEPTH deep and MAX_VALUES values; bad input raises
``Undecodable`` with gogo-protobuf's words, which ``request_object`` turns into kube-apiserver's
400. Pure.
"""

import datetime
import json
import re
from base64 import b64encode

from lab.api import protobuf_schema as schema
from lab.api import status

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
MAX_BYTES = 3 * 1024 * 1024  # kube-apiserver's limit for a request body
MAX_DEPTH = 32  # the deepest served object (a Deployment) is 12 messages deep
MAX_VALUES = 200_000

VARINT, FIXED64, LENGTH_DELIMITED, START_GROUP, END_GROUP, FIXED32 = range(6)
WIRE_TYPES = {"string": LENGTH_DELIMITED, "bytes": LENGTH_DELIMITED, "int32": VARINT, "int64": VARINT,
              "bool": VARINT}
ZEROS = {"string": "", "bytes": b"", "int32": 0, "int64": 0, "bool": False}
PAYLOADS = {"runtime.Unknown", "meta.FieldsV1"}  # their bytes are data to read on, not base64 JSON
LABELS = {"meta.Time": "Timestamp", "meta.MicroTime": "Timestamp"}  # the message gogo's errors name

EOF = "unexpected EOF"
NEGATIVE_LENGTH = "proto: negative length found during unmarshaling"
OVERFLOW = "proto: integer overflow"
QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
EPOCH = datetime.datetime(1970, 1, 1)
GO_ZERO_TIME = -62135596800  # 0001-01-01T00:00:00Z, Go's zero time: null in JSON
LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z, the last a Timestamp may hold


class WireError(ValueError):
    """Input the protobuf decoder refuses, in gogo-protobuf's words."""


class Undecodable(ValueError):
    """A body that is no object: the reason, and the group, version and kind the envelope named
    (None when the envelope itself could not be read)."""

    def __init__(self, reason, gvk=None):
        super().__init__(reason)
        self.gvk = gvk


class Reader:
    """The protobuf wire format, read from ``data[pos:end]``."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data):
        self.data, self.pos, self.end = data, 0, len(data)

    def done(self):
        return self.pos >= self.end

    def varint(self):
        """An unsigned 64-bit varint (at most ten bytes, as Go reads them)."""
        result = shift = 0
        data, pos = self.data, self.pos
        while True:
            if shift >= 64:
                raise WireError(OVERFLOW)
            if pos >= self.end:
                raise WireError(EOF)
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos
                return result & 0xFFFFFFFFFFFFFFFF
            shift += 7

    def tag(self):
        """(field number, wire type, the tag itself): the number as Go's int32 takes it."""
        tag = self.varint()
        number = (tag >> 3) & 0xFFFFFFFF
        return number - (1 << 32) if number >= 1 << 31 else number, tag & 7, tag

    def length_delimited(self):
        length = self.varint()
        if length >= 1 << 63:
            raise WireError(NEGATIVE_LENGTH)
        return self.take(length)

    def take(self, n):
        if self.pos + n > self.end:
            raise WireError(EOF)
        start, self.pos = self.pos, self.pos + n
        return self.data[start:self.pos]

    def skip(self, wire_type):
        """Skip the value of an unknown field (a group up to its end), as gogo's skipGenerated."""
        depth = 0
        while True:
            if wire_type == VARINT:
                self.varint()
            elif wire_type == FIXED64:
                self.take(8)
            elif wire_type == LENGTH_DELIMITED:
                self.length_delimited()
            elif wire_type == FIXED32:
                self.take(4)
            elif wire_type == START_GROUP:
                depth += 1
            elif wire_type == END_GROUP:
                if depth == 0:
                    raise WireError("proto: unexpected end of group")
                depth -= 1
            else:
                raise WireError(f"proto: illegal wireType {wire_type}")
            if depth == 0:
                return
            _, wire_type, _ = self.tag()


def _field(entry):
    """(JSON name, type, flags, Go name) of a schema entry."""
    name, typ = entry[0], entry[1]
    flags = entry[2] if len(entry) > 2 else ""
    return name, typ, flags, entry[3] if len(entry) > 3 else name[:1].upper() + name[1:]


class Decoder:
    """Messages of the schema as Go's JSON of them; counts what it decodes against its bounds."""

    def __init__(self, max_depth=MAX_DEPTH, max_values=MAX_VALUES):
        self.max_depth, self.values_left = max_depth, max_values
        self.max_values = max_values

    def _count(self):
        self.values_left -= 1
        if self.values_left < 0:
            raise WireError(f"proto: more than {self.max_values} values")

    def message(self, name, data, depth=0):
        """The JSON of message ``name`` read from ``data``."""
        label = LABELS.get(name, name.split(".")[-1])
        if depth > self.max_depth:
            raise WireError(f"proto: {label}: more than {self.max_depth} messages deep")
        fields = schema.MESSAGES[name]
        payload = name in PAYLOADS
        got = {}
        reader = Reader(data)
        while not reader.done():
            number, wire_type, tag = reader.tag()
            if wire_type == END_GROUP:
                raise WireError(f"proto: {label}: wiretype end group for non-group")
            if number <= 0:
                raise WireError(f"proto: {label}: illegal tag {number} (wire type {tag})")
            entry = fields.get(number)
            if entry is None:
                reader.skip(wire_type)
                continue
            self._count()
            _, typ, flags, go_name = _field(entry)
            if "r" in flags and wire_type == LENGTH_DELIMITED and WIRE_TYPES.get(typ) == VARINT:
                packed = Reader(reader.length_delimited())  # packed repeated numbers
                while not packed.done():
                    self._count()
                    got.setdefault(number, []).append(self._scalar(typ, packed))
                continue
            expected = WIRE_TYPES.get(typ, LENGTH_DELIMITED)
            if wire_type != expected:
                raise WireError(f"proto: wrong wireType = {wire_type} for field {go_name}")
            if typ.startswith("map:"):
                key, value = self._entry(typ[4:], reader.length_delimited(), depth, go_name, payload)
                got.setdefault(number, {})[key] = value
            elif typ in WIRE_TYPES:
                value = self._scalar(typ, reader)
                if "r" in flags:
                    got.setdefault(number, []).append(value)
                else:
                    got[number] = value
            elif "r" in flags:
                got.setdefault(number, []).append(self._value(typ, [reader.length_delimited()], depth))
            else:
                got.setdefault(number, []).append(reader.length_delimited())  # merged, as Go merges
        return self._json(fields, got, depth, payload)

    def _json(self, fields, got, depth, payload):
        out = {}
        for number, entry in fields.items():
            name, typ, flags, _ = _field(entry)
            present = number in got
            if "i" in flags:  # json:",inline": the message's fields are this one's
                out.update(self._value(typ, got.get(number), depth))
            elif "r" in flags or typ.startswith("map:"):
                if present:
                    out[name] = got[number]
                elif "k" in flags:
                    out[name] = None  # a nil slice or map without omitempty
            elif typ in WIRE_TYPES:
                if present:
                    value = got[number]
                    if "p" in flags or "k" in flags or value != ZEROS[typ]:
                        out[name] = self._bytes(value, payload) if typ == "bytes" else value
                elif "k" in flags:
                    out[name] = None if "p" in flags or typ == "bytes" else ZEROS[typ]
            elif present or "p" not in flags:  # a struct that is no pointer is always there
                out[name] = self._value(typ, got.get(number), depth)
            elif "k" in flags:
                out[name] = None
        return out

    @staticmethod
    def _bytes(value, payload):
        return bytes(value) if payload else b64encode(value).decode()

    @staticmethod
    def _scalar(typ, reader):
        if typ == "string":
            return bytes(reader.length_delimited()).decode("utf-8", "replace")
        if typ == "bytes":
            return bytes(reader.length_delimited())
        value = reader.varint()
        if typ == "bool":
            return value != 0
        bits = 32 if typ == "int32" else 64
        value &= (1 << bits) - 1
        return value - (1 << bits) if value >= 1 << (bits - 1) else value

    def _entry(self, value_type, data, depth, go_name, payload):
        """A map entry: key (1) and value (2), as Go reads them."""
        key, value, chunks = "", None, None
        reader = Reader(data)
        while not reader.done():
            number, wire_type, _ = reader.tag()
            if number not in (1, 2):
                reader.skip(wire_type)
                continue
            expected = LENGTH_DELIMITED if number == 1 else WIRE_TYPES.get(value_type, LENGTH_DELIMITED)
            if wire_type != expected:
                raise WireError(f"proto: wrong wireType = {wire_type} for field {go_name}")
            if number == 1:
                key = self._scalar("string", reader)
            elif value_type in WIRE_TYPES:
                value = self._scalar(value_type, reader)
            else:
                chunks = [reader.length_delimited()]
        if value_type not in WIRE_TYPES:
            return key, self._value(value_type, chunks, depth)
        if value_type == "bytes":
            return key, self._bytes(value or b"", payload)
        return key, ZEROS[value_type] if value is None else value

    def _value(self, typ, chunks, depth):
        """A message field's JSON from the chunks the wire gave it (none: Go's zero value)."""
        if typ in schema.SPECIAL:  # their own Unmarshal: the last one counts
            return self._special(typ, bytes(chunks[-1]) if chunks else b"", depth + 1)
        return self.message(typ, b"".join(chunks) if chunks else b"", depth + 1)

    def _special(self, typ, data, depth):
        fields = self.message(typ, data, depth)
        if typ in ("meta.Time", "meta.MicroTime"):
            return rfc3339(fields["seconds"], fields["nanos"], typ == "meta.MicroTime") if data else None
        if typ == "intstr.IntOrString":
            if fields["type"] not in (0, 1):
                raise WireError("impossible IntOrString.Type")
            return fields["strVal"] if fields["type"] == 1 else fields["intVal"]
        if typ == "resource.Quantity":
            if not data:
                return "0"
            if not QUANTITY.match(fields["string"]):
                raise WireError(f"quantities must match the regular expression '{QUANTITY.pattern}'")
            return fields["string"]
        try:  # meta.FieldsV1: its JSON is its raw bytes
            return json.loads(fields["Raw"] or b"")
        except (ValueError, RecursionError) as exc:
            raise WireError(f"json: error calling MarshalJSON for type *v1.FieldsV1: {exc}") from None


def rfc3339(seconds, nanos, micro=False):
    """metav1.Time (seconds) or MicroTime (microseconds) as their JSON: RFC 3339 in UTC, None
    for Go's zero time."""
    if micro:
        micros = abs(nanos) // 1000 * 1000
        seconds, nanos = divmod(seconds * 10 ** 9 + (micros if nanos >= 0 else -micros), 10 ** 9)
    else:
        nanos = 0  # metav1.Time keeps seconds only
    if seconds == GO_ZERO_TIME and nanos == 0:
        return None
    if not GO_ZERO_TIME <= seconds <= LAST_SECOND:
        raise WireError(f"timestamp seconds {seconds} out of range: must be from 0001-01-01T00:00:00Z to "
                        "9999-12-31T23:59:59Z")
    t = EPOCH + datetime.timedelta(seconds=seconds)
    text = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    return f"{text}.{nanos // 1000:06d}Z" if micro else f"{text}Z"


def _group_version_kind(type_meta, default_api_version, default_kind):
    """The envelope's group, version and kind, with the URL's filling in what it leaves empty
    (as the apiserver's decoder defaults them)."""
    api_version, kind = type_meta["apiVersion"], type_meta["kind"]
    if api_version.count("/") > 1:
        api_version = ""  # not a group/version: ignored, as schema.ParseGroupVersion fails
    group, _, version = api_version.rpartition("/")
    if not version:
        group, _, version = default_api_version.rpartition("/")
    return group, version, kind or default_kind


def decode(body, default_api_version, default_kind):
    """The object of a protobuf body, as JSON data (``kind`` and ``apiVersion`` first)."""
    if not body:
        raise Undecodable("empty data")
    if body[:len(MAGIC)] != MAGIC:
        raise Undecodable(f"provided data does not appear to be a protobuf message, expected prefix "
                          f"[{' '.join(str(b) for b in MAGIC)}]")
    if len(body) == len(MAGIC):
        raise Undecodable("empty body")
    if len(body) > MAX_BYTES:
        raise Undecodable(f"the body is larger than {MAX_BYTES} bytes")
    try:
        unknown = Decoder().message("runtime.Unknown", memoryview(body)[len(MAGIC):])
    except WireError as exc:
        raise Undecodable(str(exc)) from None
    gvk = _group_version_kind(unknown["typeMeta"], default_api_version, default_kind)
    group, version, kind = gvk
    api_version = f"{group}/{version}" if group else version
    message = schema.KINDS.get((api_version, kind))
    if message is None:
        raise Undecodable(f'no kind "{kind}" is registered for version "{api_version}" in scheme '
                          '"pkg/api/legacyscheme/scheme.go:30"', gvk)
    try:
        obj = Decoder().message(message, unknown["raw"] or b"")
    except WireError as exc:
        raise Undecodable(str(exc), gvk) from None
    return {"kind": kind, "apiVersion": api_version, **obj}


def summary(body, limit=30):
    """The start of a body as kube-apiserver quotes it in a decoding error."""
    if not body:
        return "<empty>"
    more = " ..." if len(body) > limit else ""
    if body[:1] == b"{":
        return body[:limit].decode("utf-8", "replace") + more
    return body[:limit].hex() + more


def request_object(body, resource):
    """The object of a protobuf request body for ``resource``; a 400 Status in kube-apiserver's
    words when there is none."""
    try:
        return decode(body, resource.api_version, resource.kind)
    except Undecodable as exc:
        if exc.gvk is not None:
            _, version, kind = exc.gvk
            raise status.bad_request(f'{kind} in version "{version}" cannot be handled as a {resource.kind}: '
                                     f"{exc}") from None
        raise status.bad_request(f"the object provided is unrecognized (must be of type {resource.kind}): {exc} "
                                 f"({summary(body)})") from None
