"""Request bodies as kube-apiserver reads them: the media types it takes (415 for the others),
JSON (with Go's encoding/json wording for what does not parse), YAML (as JSON's superset, no
timestamps, no aliases beyond a budget), and the bounds that keep a body from costing more than
its size: nesting depth and number of values. Pure.

A JSON body also tells which object keys it repeats (``duplicate field "metadata.name"``, as
kube's strict decoder says), for fieldValidation.
"""

import json
import math

import yaml

from lab.api import kinds, status

JSON, YAML, PROTOBUF = "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"
OBJECT_MEDIA_TYPES = (JSON, YAML, PROTOBUF)  # what POST and PUT bodies may be (no CBOR)
MAX_DEPTH = 100  # nesting kube objects never reach; Go's decoder stops at 10,000, Python's stack sooner
MAX_VALUES = 200_000  # values in one body (a YAML alias can stand for many)
INTERNAL_GROUPS = {"": "core", "apps": "apps", "discovery.k8s.io": "discovery"}
FIND_KIND = 'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
SCHEME = "pkg/api/legacyscheme/scheme.go:30"


class BodyError(ValueError):
    """A body that does not decode; the message is Go's (or goyaml's) for the same input."""


def media_type(content_type):
    """``application/json`` of ``application/json; charset=utf-8`` (lower case, no parameters)."""
    return (content_type or "").split(";")[0].strip().lower()


# Go's words for JSON that does not parse ---------------------------------------------------------

def _quote_char(ch):
    """encoding/json's quoteChar: the offending character as Go prints it."""
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    text = json.dumps(ch, ensure_ascii=False)[1:-1]
    return f"'{text}'"


def _container_at(text, pos):
    """'{' or '[': the innermost bracket open at ``pos`` (strings skipped)."""
    stack, in_string, escaped = [], False, False
    for ch in text[:pos]:
        if in_string:
            escaped = not escaped and ch == "\\"
            if ch == '"' and not escaped:
                in_string = False
            continue
        if ch == '"':
            in_string, escaped = True, False
        elif ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def go_json_error(exc):
    """Go's encoding/json error text for Python's JSONDecodeError ``exc``."""
    text, pos, msg = exc.doc, exc.pos, exc.msg
    if pos >= len(text) or text[pos:].strip() == "" or msg.startswith("Unterminated string"):
        return "unexpected end of JSON input"
    ch = _quote_char(text[pos])
    if msg.startswith("Expecting property name"):
        return f"invalid character {ch} looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return f"invalid character {ch} after object key"
    if msg.startswith("Expecting ','"):
        where = "object key:value pair" if _container_at(text, pos) == "{" else "array element"
        return f"invalid character {ch} after {where}"
    if msg.startswith("Extra data"):
        return f"invalid character {ch} after top-level value"
    if msg.startswith("Invalid control character"):
        return f"invalid character {ch} in string literal"
    if msg.startswith("Invalid \\u"):
        return f"invalid character {ch} in \\u hexadecimal character escape"
    if msg.startswith("Invalid \\escape"):
        return f"invalid character {_quote_char(text[pos + 1:pos + 2] or ' ')} in string escape code"
    return f"invalid character {ch} looking for beginning of value"


def _constant(name):
    raise BodyError("invalid character 'I' in numeric literal" if name == "-Infinity" else
                    f"invalid character '{name[0]}' looking for beginning of value")


def _float(text):
    value = float(text)
    if math.isinf(value):
        raise BodyError(f"json: cannot unmarshal number {text} into Go value of type float64")
    return value


def _int(text):
    if len(text.lstrip("-")) > 30:  # far beyond int64; Python's own limit would say it differently
        raise BodyError(f"json: cannot unmarshal number {text[:30]}... into Go value of type int64")
    return int(text)


class _Pairs(dict):
    """An object that repeated keys: which ones (kept beside the dict, found by a later walk)."""

    repeated = ()


def _pairs(pairs):
    out = _Pairs(pairs)
    if len(out) != len(pairs):
        seen, repeated = set(), []
        for key, _ in pairs:
            if key in seen and key not in repeated:
                repeated.append(key)
            seen.add(key)
        out.repeated = tuple(repeated)
    return out


def decode_json(body):
    """(value, the paths of repeated keys) of a JSON body; BodyError in Go's words."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"invalid UTF-8 in JSON input at offset {exc.start}") from None
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float,
                           parse_int=_int)
    except json.JSONDecodeError as exc:
        raise BodyError(go_json_error(exc)) from None
    except RecursionError:
        raise BodyError("exceeded max depth") from None
    duplicates = []
    _check(value, duplicates)
    return _plain(value), duplicates


# YAML, as kube reads it: JSON's data model only --------------------------------------------------

class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with timestamps left as strings (as sigs.k8s.io/yaml leaves them)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _go_key(key):
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def decode_yaml(body):
    """A YAML body as JSON data (keys as strings); BodyError in goyaml's words."""
    try:
        text = body.decode("utf-8")
        value = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except UnicodeDecodeError as exc:
        raise BodyError(f"error converting YAML to JSON: yaml: invalid UTF-8 at offset {exc.start}") from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise BodyError(f"error converting YAML to JSON: yaml: line {line}: {exc.problem}") from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise BodyError(f"error converting YAML to JSON: yaml: {' '.join(str(exc).split())[:200]}") from None
    _check(value, [])
    return _plain(value)


# bounds and types --------------------------------------------------------------------------------

def _check(value, duplicates):
    """Depth, count and types of ``value`` (walked without recursion, aliases counted each time
    they appear); records the paths of repeated keys in ``duplicates``."""
    stack, count = [(value, 0, "")], 0
    while stack:
        item, depth, path = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise BodyError(f"the request body holds more than {MAX_VALUES} values")
        if depth > MAX_DEPTH:
            raise BodyError("exceeded max depth")
        if isinstance(item, dict):
            for key in getattr(item, "repeated", ()):
                duplicates.append(f"{path}.{key}" if path else key)
            for key, child in item.items():
                if not isinstance(key, (str, int, float, bool, type(None))):  # YAML's complex keys
                    raise BodyError(f"json: unsupported type: map[{type(key).__name__}]interface {{}}")
                stack.append((child, depth + 1, f"{path}.{key}" if path else str(key)))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, f"{path}[{i}]") for i, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise BodyError(f"json: unsupported value: {item}")
        elif not isinstance(item, (str, int, float, bool, type(None))):
            raise BodyError(f"json: unsupported type: {type(item).__name__}")
    duplicates.sort()


def _plain(value):
    """``value`` with YAML's non-string keys as sigs.k8s.io/yaml writes them and _Pairs as plain
    dicts (shared YAML nodes copied: _check has bounded their number and depth)."""
    if isinstance(value, dict):
        return {_go_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# the bodies of each verb -------------------------------------------------------------------------

def summary(body, limit=30):
    """kube's summarizeData: the body's start, as text when it starts like an object."""
    if not body:
        return "<empty>"
    if body[:1] == b"{":
        return body[:limit].decode("utf-8", "replace") + (" ..." if len(body) > limit else "")
    return body[:limit].hex() + (" ..." if len(body) > limit else "")


def object_body(body, content_type, resource):
    """(object, repeated keys) of a POST or PUT body for ``resource``: 415 for a media type the
    server does not read, 400 in kube's words for what does not decode (transformDecodeError)."""
    media = media_type(content_type)
    if media not in OBJECT_MEDIA_TYPES:
        raise status.unsupported_media_type(OBJECT_MEDIA_TYPES)
    if media == PROTOBUF:  # kubectl's typed create commands send it
        from lab.api import protobuf  # its schema tables, only when a client sends one
        return typed(protobuf.request_object(body, resource), resource), []
    try:
        if media == JSON:
            value, duplicates = decode_json(body)
        else:
            value, duplicates = decode_yaml(body), []
    except BodyError as exc:
        if media == JSON:
            exc = f"couldn't get version/kind; json parse error: {exc}"
        raise status.bad_request(f"the object provided is unrecognized (must be of type {resource.kind}): {exc} "
                                 f"({summary(body)})") from None
    if not isinstance(value, dict):
        kind = {list: "array", str: "string", bool: "bool", type(None): "null"}.get(type(value), "number")
        problem = f"couldn't get version/kind; json parse error: json: cannot unmarshal {kind} into Go value of " \
                  f"type {FIND_KIND}"
        if value is None:
            problem = f"Object 'Kind' is missing in '{body.decode('utf-8', 'replace')[:200]}'"
        raise status.bad_request(f"the object provided is unrecognized (must be of type {resource.kind}): "
                                 f"{problem} ({summary(body)})")
    return typed(value, resource), duplicates


def typed(obj, resource):
    """The object as the URL's type: kind and apiVersion default to it (gvkWithDefaults); another
    kind or version is what kube's decoder refuses."""
    api, kind = obj.get("apiVersion") or resource.api_version, obj.get("kind") or resource.kind
    if not isinstance(api, str) or not isinstance(kind, str):
        raise status.bad_request(f"the object provided is unrecognized (must be of type {resource.kind}): "
                                 "json: cannot unmarshal non-string into Go struct field .apiVersion of type string")
    group, _, version = api.rpartition("/")
    if (api, kind) != (resource.api_version, resource.kind):
        if kinds.by_kind(api, kind) is None:
            problem = f'no kind "{kind}" is registered for version "{api}" in scheme "{SCHEME}"'
        elif api != resource.api_version:
            raise status.bad_request(f"the API version in the data ({api}) does not match the expected API version "
                                     f"({resource.api_version})")
        else:
            problem = f"converting ({version}.{kind}) to ({INTERNAL_GROUPS.get(resource.group, resource.group)}." \
                      f"{resource.kind}): unknown conversion"
        raise status.bad_request(f'{kind} in version "{version}" cannot be handled as a {resource.kind}: {problem}')
    obj["apiVersion"], obj["kind"] = api, kind
    return obj


PATCH_TYPES = {"application/json-patch+json": "json", "application/merge-patch+json": "merge",
               "application/strategic-merge-patch+json": "strategic", "application/apply-patch+yaml": "apply"}


def patch_kind(content_type):
    """json, merge, strategic or apply for a PATCH's Content-Type; 415 for any other."""
    kind = PATCH_TYPES.get(media_type(content_type))
    if kind is None:
        raise status.unsupported_patch()
    return kind


def patch_body(body, kind):
    """(patch, repeated keys) of a PATCH body of patch type ``kind``, 400 for what does not
    decode (the words of kube's patch handler for each type)."""
    try:
        if kind == "apply":
            value, duplicates = decode_yaml(body), []
        else:
            value, duplicates = decode_json(body)
    except BodyError as exc:
        raise status.bad_request(f"error decoding YAML: {exc}" if kind == "apply" else str(exc)) from None
    if kind == "json" and not isinstance(value, list):
        got = "object" if isinstance(value, dict) else "string" if isinstance(value, str) else "value"
        raise status.bad_request(f"json: cannot unmarshal {got} into Go value of type jsonpatch.Patch")
    if kind in ("strategic", "apply") and not isinstance(value, dict):
        got = "array" if isinstance(value, list) else "string" if isinstance(value, str) else "number"
        raise status.bad_request(f"json: cannot unmarshal {got} into Go value of type map[string]interface {{}}")
    return value, duplicates


def options_body(body, content_type):
    """The DeleteOptions of a DELETE's body ({} when there is none)."""
    if not body:
        return {}
    media = media_type(content_type)
    if media not in (JSON, YAML):
        raise status.unsupported_media_type((JSON, YAML))
    try:
        value = decode_json(body)[0] if media == JSON else decode_yaml(body)
    except BodyError as exc:
        raise status.unknown(500, f"couldn't get version/kind; json parse error: {exc}") from None
    if not isinstance(value, dict):
        raise status.unknown(500, f"couldn't get version/kind; json parse error: json: cannot unmarshal "
                                 f"{'array' if isinstance(value, list) else 'value'} into Go value of type "
                                 f"{FIND_KIND}")
    return value

