"""fieldValidation, as kube-apiserver has it for create, update and patch: what a body holds that
the type does not (unknown fields, found by name with the manifest parser svclab applies them
with) and the keys a JSON body repeats, answered by the directive the request names:

- ``Strict``: 400, ``strict decoding error: unknown field "spec.foo", duplicate field "a"``
  (for create and update after ``<Kind> in version "<v>" cannot be handled as a <Kind>: ``);
- ``Warn`` (the default, as since 1.23): accepted without them, one ``Warning`` header each;
- ``Ignore``: accepted without them, silently.

Also the other option kube-apiserver checks before it writes: ``dryRun`` (``All`` or nothing).
Pure.
"""

import copy

from lab.api import status
from lab.errors import LabError
from lab.spec import manifests
from lab.spec.fields import Field

DIRECTIVES = ("", "Ignore", "Strict", "Warn")  # as ValidateFieldValidation lists them
MAX_UNKNOWN = 64  # unknown fields reported (and dropped) per request


def directive(query, options_kind):
    """The request's fieldValidation (Warn when absent); 422 for a value kube does not know.
    ``options_kind``: CreateOptions, UpdateOptions or PatchOptions."""
    value = query.get("fieldValidation", "")
    if value not in DIRECTIVES:
        raise status.invalid_options(options_kind, "fieldValidation", value, DIRECTIVES)
    return value or "Warn"


def dry_run(query, options_kind):
    """True for ``dryRun=All``; 422 for another value."""
    value = query.get("dryRun")
    if value in (None, ""):
        return False
    if value != "All":
        raise status.invalid_options(options_kind, "dryRun", value, ("All",))
    return True


def _locate(doc, wanted):
    """(container, key, kube's path) of the field the manifest parser calls ``wanted``."""
    stack = [(doc, Field(doc, ""), "")]
    while stack:
        value, field, kube_path = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in items:
            path = field._child_path(key)
            kube = f"{kube_path}[{key}]" if isinstance(key, int) else f"{kube_path}.{key}" if kube_path else key
            if path == wanted:
                return value, key, kube
            if isinstance(child, (dict, list)):
                stack.append((child, Field(child, "", path), kube))
    return None


def unknown_fields(obj):
    """(``obj`` without the fields its type does not have, their paths as kube words them)."""
    doc, found = copy.deepcopy(obj), []
    while len(found) < MAX_UNKNOWN:
        try:
            manifests.parse_object(Field(doc, "request"))
        except LabError as exc:
            where = _locate(doc, getattr(exc, "field", None)) if getattr(exc, "problem", "") == "unknown field" \
                else None
            if where is None:
                break
            container, key, path = where
            del container[key]
            found.append(path)
            continue
        except (TypeError, ValueError, AttributeError, KeyError):  # the apply itself will say what is wrong
            break
        break
    return doc, found


def check(obj, duplicates, mode, prefix=""):
    """(the object to write, the warnings to send) under fieldValidation ``mode``; a Strict
    request with unknown or repeated fields is refused (400), before anything is written."""
    if mode == "Ignore":
        return unknown_fields(obj)[0], []
    cleaned, unknown = unknown_fields(obj)
    problems = [f'duplicate field "{path}"' for path in duplicates] + [f'unknown field "{path}"' for path in unknown]
    if problems and mode == "Strict":
        raise status.bad_request(f"{prefix}strict decoding error: {', '.join(problems)}")
    return cleaned, problems


def decoding_prefix(resource):
    """What kube-apiserver puts before a create's or update's decoding error."""
    return f'{resource.kind} in version "{resource.version}" cannot be handled as a {resource.kind}: '


def warning_header(text):
    """A ``Warning`` header's value, as kube-apiserver writes it (RFC 7234, code 299, agent -)."""
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{quoted}"'
