"""Typed reading of YAML values that knows where each value came from.

Every accessor raises InputError naming the file and the field path
(e.g. ``spec.ports[0].nodePort``), so validation code stays short.
"""

import ipaddress
import json
import re

from lab.errors import InputError

_MISSING = object()
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# Kubernetes' own syntax rules (apimachinery validation), with its wording
LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_NAME_RULE = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                   "alphanumeric character")
IANA_SVC_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?")

_TYPE_NAMES = {dict: "a mapping", list: "a list", str: "a string", int: "an integer", bool: "true or false"}


def quoted(value):
    """A value as kube-apiserver quotes it in a field error (Go's %q): in double quotes, with
    control characters escaped, so the message stays one line."""
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else json.dumps(c)[1:-1] for c in str(value)) + '"'


def _type_name(value):
    if value is None:
        return "empty"
    for t, name in _TYPE_NAMES.items():
        if type(value) is t:
            return name
    return type(value).__name__


def _plain_key(key):
    return bool(key) and key.isprintable() and not any(c.isspace() or c in "[]'\"" for c in key)


class Field:
    """A value at ``path`` inside ``file``."""

    def __init__(self, value, file, path=""):
        self.value, self.file, self.path = value, file, path

    def error(self, problem, fix=""):
        return InputError(self.file, self.path or "(top level)", problem, fix)

    def child(self, key):
        return Field(self.value[key], self.file, self._child_path(key))

    def _child_path(self, key):
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        if not _plain_key(key):  # '', spaces, newlines, quotes: quoted, so the path stays one readable line
            return f"{self.path}[{key!r}]"
        return f"{self.path}.{key}" if self.path else key

    # containers -------------------------------------------------------------
    def mapping(self, allowed=None, required=()):
        if not isinstance(self.value, dict):
            raise self.error(f"expected a mapping, got {_type_name(self.value)}")
        for key in self.value:
            if not isinstance(key, str):
                raise self.error(f"key {key!r} is not a string")
            if allowed is not None and key not in allowed:
                raise InputError(self.file, self._child_path(key), "unknown field",
                                 "allowed here: " + ", ".join(sorted(allowed)))
        for key in required:
            if key not in self.value or self.value[key] is None:
                raise InputError(self.file, self._child_path(key), "is required")
        return self

    def items(self):
        return [(k, self.child(k)) for k in self.value]

    def get(self, key, default=None):
        """The child field, or ``default`` when the key is absent or null."""
        if key not in self.value or self.value[key] is None:
            return default
        return self.child(key)

    def has(self, key):
        return self.value.get(key) is not None

    def list(self):
        if not isinstance(self.value, list):
            raise self.error(f"expected a list, got {_type_name(self.value)}")
        return [self.child(i) for i in range(len(self.value))]

    # scalars ----------------------------------------------------------------
    def str(self, pattern=None, what="", max_len=None, empty=False):
        """A string (``empty``: "" is allowed, and returned as it is)."""
        if empty and self.value == "":
            return ""
        if not isinstance(self.value, str):
            raise self.error(f"expected {'a' if empty else 'a non-empty'} string, got {_type_name(self.value)}")
        if not self.value:
            raise self.error("expected a non-empty string, got an empty string")
        if max_len is not None and len(self.value) > max_len:
            raise self.error(f"{self.value!r} is longer than {max_len} characters")
        if pattern is not None and not pattern.fullmatch(self.value):  # not match: '$' allows a final newline
            raise self.error(f"{self.value!r} is not a valid {what or 'value'}",
                             "use lower-case letters, digits and '-'")
        return self.value

    def choice(self, options):
        value = self.str()
        if value not in options:
            raise self.error(f"{value!r} is not allowed", "use one of: " + ", ".join(options))
        return value

    def int(self, lo=None, hi=None):
        if type(self.value) is not int:
            raise self.error(f"expected an integer, got {_type_name(self.value)} {self.value!r}")
        if (lo is not None and self.value < lo) or (hi is not None and self.value > hi):
            raise self.error(f"{self.value} is out of range", f"use {lo}-{hi}")
        return self.value

    def bool(self):
        if type(self.value) is not bool:
            raise self.error(f"expected true or false, got {_type_name(self.value)}")
        return self.value

    def ip(self):
        try:
            addr = ipaddress.ip_address(self.str())
        except ValueError:
            raise self.error(f"{self.value!r} is not an IP address") from None
        if addr.version != 4:
            raise self.error(f"{addr} is IPv6; svclab labs are IPv4 only")
        return addr

    def cidr(self):
        try:
            net = ipaddress.ip_network(self.str(), strict=True)
        except ValueError as exc:
            raise self.error(f"{self.value!r} is not a network in CIDR form: {exc}",
                             "write the network's first address and prefix, e.g. 10.96.0.0/12") from None
        if net.version != 4:
            raise self.error(f"{net} is IPv6; svclab labs are IPv4 only")
        return net

    def string_map(self):
        """A mapping of strings to strings, such as labels or a selector."""
        self.mapping()
        out = {}
        for key, field in self.items():
            if not isinstance(field.value, str):
                raise field.error(f"expected a string value, got {_type_name(field.value)}",
                                  "quote values such as 'true' or '1'")
            out[key] = field.value
        return out

    def int_or_name(self, lo=1, hi=65535):
        """A Kubernetes IntOrString port: a number or a port name."""
        if type(self.value) is int:
            return self.int(lo, hi)
        return self.port_name()

    def port_name(self):
        """An IANA service name, as a container port's name (and a targetPort by name) must be."""
        value = self.str()
        problems = []
        if len(value) > 15:
            problems.append("must be no more than 15 characters")
        if not IANA_SVC_NAME.fullmatch(value) and len(value) <= 15:
            problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
        if "--" in value:
            problems.append("must not contain consecutive hyphens")
        if not re.search("[a-z]", value):
            problems.append("must contain at least one letter (a-z)")
        if problems:
            raise self.error(f'Invalid value: {quoted(value)}: {problems[0]}')
        return value

    def labels(self):
        """Labels (or a selector's matchLabels), each key and value checked as kube-apiserver checks them."""
        out = self.string_map()
        for key, value in out.items():
            where = self.child(key)
            where.label_key(key)
            where.label_value(value)
        return out

    def label_key(self, key=None):
        """A label key (this field's value, or ``key`` for a mapping's key), as kube-apiserver checks it."""
        key = self.str() if key is None else key
        prefix, _, name = key.rpartition("/")
        if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.fullmatch(prefix)):
            raise self.error(f'Invalid value: {quoted(key)}: prefix part a lowercase RFC 1123 subdomain must consist '
                             "of lower case alphanumeric characters, '-' or '.', and must start and end with an "
                             "alphanumeric character")
        if len(name) > 63:
            raise self.error(f'Invalid value: {quoted(key)}: name part must be no more than 63 characters')
        if not LABEL_NAME.fullmatch(name):
            raise self.error(f'Invalid value: {quoted(key)}: name part {LABEL_NAME_RULE}')
        return key

    def label_value(self, value=None):
        """A label value (this field's value, or ``value``), as kube-apiserver checks it."""
        value = self.str(empty=True) if value is None else value
        if len(value) > 63:
            raise self.error(f'Invalid value: {quoted(value)}: must be no more than 63 characters')
        if value and not LABEL_NAME.fullmatch(value):
            raise self.error(f'Invalid value: {quoted(value)}: a valid label must be an empty string or '
                             + LABEL_NAME_RULE.replace("must consist", "consist"))
        return value
