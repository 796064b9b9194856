"""Label and field selectors, as kube-apiserver reads them from ``labelSelector`` and
``fieldSelector``: apimachinery's label selector grammar (``app=web,tier!=db,env in (a,b),!legacy,
x>1``), field selectors of ``=``, ``==`` and ``!=`` on the fields each kind can be selected by,
and a list's 400 in kube's words when either does not parse. Pure."""

import re

from lab.api import status

LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
NAME_RULE = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
             "character")
KEY_EXAMPLES = "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is " \
               "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
VALUE_EXAMPLES = "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is " \
                 "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
PREFIX_RULE = ("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
               "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
               "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
BINARY_OPERATORS = ("in", "notin", "=", "==", "!=", "gt", "lt")
SYMBOLS = ("!=", "==", "=", "!", "(", ")", ",", ">", "<")  # longest first, as the lexer matches them


class SelectorError(ValueError):
    """A selector that does not parse, in apimachinery's words."""


# label selectors ---------------------------------------------------------------------------------

def _tokens(text):
    """(kind, literal) pairs: kind is the symbol itself, "id" for an identifier, "" at the end."""
    out, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        symbol = next((s for s in SYMBOLS if text.startswith(s, i)), None)
        if symbol:
            out.append((symbol, symbol))
            i += len(symbol)
            continue
        start = i
        while i < len(text) and not text[i].isspace() and not any(text.startswith(s, i) for s in SYMBOLS):
            i += 1
        out.append(("id", text[start:i]))
    out.append(("", ""))
    return out


def _check_key(key):
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        raise SelectorError(f'key: Invalid value: "{key}": prefix part must be non-empty')
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.fullmatch(prefix)):
        raise SelectorError(f'key: Invalid value: "{key}": {PREFIX_RULE}')
    if not name:
        raise SelectorError(f'key: Invalid value: "{key}": name part must be non-empty')
    if len(name) > 63:
        raise SelectorError(f'key: Invalid value: "{key}": name part must be no more than 63 characters')
    if not LABEL_NAME.fullmatch(name):
        raise SelectorError(f'key: Invalid value: "{key}": name part {NAME_RULE} {KEY_EXAMPLES}')


def _check_value(key, value, n):
    where = f"values[{n}][{key}]"
    if len(value) > 63:
        raise SelectorError(f'{where}: Invalid value: "{value}": must be no more than 63 characters')
    if value and not LABEL_NAME.fullmatch(value):
        raise SelectorError(f'{where}: Invalid value: "{value}": a valid label must be an empty string or '
                            f'{NAME_RULE.replace("must consist", "consist")} {VALUE_EXAMPLES}')


class _Parser:
    def __init__(self, text):
        self.tokens, self.at = _tokens(text), 0

    def peek(self, operators=False):
        kind, literal = self.tokens[self.at]
        return self._kind(kind, literal, operators), literal

    def take(self, operators=False):
        kind, literal = self.tokens[self.at]
        self.at += kind != ""
        return self._kind(kind, literal, operators), literal

    @staticmethod
    def _kind(kind, literal, operators):
        if kind == "id" and operators and literal in ("in", "notin"):
            return literal
        return kind

    def requirements(self):
        out = []
        while True:
            kind, literal = self.peek()
            if kind == "":
                return out
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                out.append(self.requirement())
            except SelectorError as exc:
                raise SelectorError(f"unable to parse requirement: {exc}") from None
            kind, literal = self.take()
            if kind == "":
                return out
            if kind != ",":
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            kind, literal = self.peek()
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def requirement(self):
        kind, literal = self.take()
        negated = kind == "!"
        if negated:
            kind, literal = self.take()
        if kind != "id":
            raise SelectorError(f"found '{literal}', expected: identifier")
        key = literal
        _check_key(key)
        if self.peek()[0] in ("", ","):
            return key, "!" if negated else "exists", ()
        if negated:
            raise SelectorError(f"found '{self.peek()[1]}', expected: ',' or 'end of string'")
        kind, literal = self.take(operators=True)
        operator = {"=": "=", "==": "=", "!=": "!=", ">": "gt", "<": "lt", "in": "in", "notin": "notin"}.get(kind)
        if operator is None:
            raise SelectorError(f"found '{literal}', expected: {', '.join(BINARY_OPERATORS)}")
        values = self.values() if operator in ("in", "notin") else self.exact()
        if operator in ("in", "notin") and not values:
            raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
        if operator in ("gt", "lt") and not re.fullmatch(r"[-+]?\d+", values[0]):
            raise SelectorError("for 'Gt', 'Lt' operators, the value must be an integer")
        if operator not in ("gt", "lt"):
            for n, value in enumerate(values):
                _check_value(key, value, n)
        return key, operator, tuple(values)

    def exact(self):
        kind, literal = self.peek()
        if kind in ("", ","):
            return [""]
        kind, literal = self.take()
        if kind != "id":
            raise SelectorError(f"found '{literal}', expected: identifier")
        return [literal]

    def values(self):
        kind, literal = self.take()
        if kind != "(":
            raise SelectorError(f"found '{literal}' expected: '('")
        kind, literal = self.peek()
        if kind == ")":
            self.take()
            return [""]
        if kind not in ("id", ","):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        found = set()
        while True:
            kind, literal = self.take()
            if kind == "id":
                found.add(literal)
                after, shown = self.peek()
                if after == ")":
                    self.take()
                    return sorted(found)
                if after != ",":
                    raise SelectorError(f"found '{shown}', expected: ',' or ')'")
            elif kind == ",":
                after, _ = self.peek()
                if not found or after in (")", ","):
                    found.add("")
                if after == ")":
                    self.take()
                    return sorted(found)
                if after == ",":
                    self.take()
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")


def parse_labels(text):
    """The requirements of a label selector: [(key, operator, values)]; SelectorError if it does
    not parse. Operators: =, !=, in, notin, exists, !, gt, lt."""
    return _Parser(text or "").requirements()


def _label_matches(key, operator, values, labels):
    have = labels.get(key)
    if operator == "exists":
        return key in labels
    if operator == "!":
        return key not in labels
    if operator in ("=", "in"):
        return key in labels and have in values
    if operator in ("!=", "notin"):
        return key not in labels or have not in values
    try:
        number, wanted = int(have), int(values[0])
    except (TypeError, ValueError):
        return False
    return number > wanted if operator == "gt" else number < wanted


def labels(text):
    """A predicate on a labels dict for the label selector ``text``."""
    requirements = parse_labels(text)
    return lambda labels_dict: all(_label_matches(k, op, v, labels_dict or {}) for k, op, v in requirements)


# field selectors ---------------------------------------------------------------------------------

def _split_terms(text):
    terms, current, escaped = [], "", False
    for ch in text:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif ch == ",":
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return terms


def _unescape(value):
    return re.sub(r"\\(.)", r"\1", value)


def parse_fields(text):
    """[(field, equal, value)] of a field selector; SelectorError if a term has no operator."""
    if not text:
        return []
    out = []
    for term in _split_terms(text):
        for i in range(len(term)):
            op = next((o for o in ("!=", "==", "=") if term.startswith(o, i)), None)
            if op:
                out.append((term[:i], op != "!=", _unescape(term[i + len(op):])))
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
    return out


def _get(obj, path):
    value = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _pod_ips(obj):
    return ",".join(i.get("ip", "") for i in (obj.get("status") or {}).get("podIPs") or [])


# the fields each kind can be selected by, beyond metadata.name (and metadata.namespace) ----------
KIND_FIELDS = {
    "Pod": {"spec.nodeName": None, "spec.restartPolicy": None, "spec.schedulerName": None,
            "spec.serviceAccountName": None, "spec.hostNetwork": lambda o: _text(bool(_get(o, "spec.hostNetwork"))),
            "status.phase": None, "status.podIP": None, "status.podIPs": _pod_ips, "status.nominatedNodeName": None},
    "Event": {**{f"involvedObject.{f}": None for f in ("kind", "namespace", "name", "uid", "apiVersion",
                                                        "resourceVersion", "fieldPath")},
              "reason": None, "reportingComponent": None, "source": lambda o: _text(_get(o, "source.component")),
              "type": None},
    "Namespace": {"status.phase": None},
    "ReplicaSet": {"status.replicas": lambda o: _text(_get(o, "status.replicas") or 0)},
    "Node": {"spec.unschedulable": lambda o: _text(bool(_get(o, "spec.unschedulable")))},
}


def field_getter(resource, field):
    """A function giving ``field``'s value of an object of ``resource``, as text; SelectorError
    (kube's words) for a field the kind cannot be selected by."""
    own = KIND_FIELDS.get(resource.kind, {})
    if field == "metadata.name" or (field == "metadata.namespace" and resource.namespaced):
        return lambda obj: _text(_get(obj, field))
    if field in own:
        return own[field] or (lambda obj: _text(_get(obj, field)))
    raise SelectorError(f"field label not supported: {field}")


def fields(text, resource):
    """A predicate on an object of ``resource`` for the field selector ``text``."""
    terms = [(field_getter(resource, f), equal, value) for f, equal, value in parse_fields(text)]
    return lambda obj: all((get(obj) == value) == equal for get, equal, value in terms)


# both, as a list or a watch asks ------------------------------------------------------------------

def matchers(resource, label_selector=None, field_selector=None):
    """(label predicate, field predicate) for a request; 400 in kube-apiserver's words when a
    selector does not parse or names a field the kind does not have."""
    try:
        return labels(label_selector), fields(field_selector, resource)
    except SelectorError as exc:
        gvr = f"{resource.group}/{resource.version}, Resource={resource.plural}"
        raise status.bad_request(f'Unable to find "{gvr}" that match label selector "{label_selector or ""}", '
                                 f'field selector "{field_selector or ""}": {exc}') from None


def select(objects, resource, namespace=None, label_selector=None, field_selector=None):
    """The objects (a store's ``{key: object}``) of ``resource`` in ``namespace`` (None: every
    one) that both selectors match, in key order."""
    label_match, field_match = matchers(resource, label_selector, field_selector)
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
