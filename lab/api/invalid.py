"""svclab's input errors (lab.spec's one line: the field and the problem, worded for a scenario
file) as kube-apiserver's 422 words them: ``<Kind> "<name>" is invalid: <field>: <type>: <detail>``,
with apimachinery's field error types (Invalid value, Unsupported value, Required value,
Duplicate value, Forbidden) and validation messages. Pure."""

import json
import re

from lab.api import status

DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
           "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
           "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
DNS1123_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
                 "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1123_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                     "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                     "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
FIELD_TYPES = ("Invalid value", "Required value", "Unsupported value", "Duplicate value", "Forbidden", "Too long",
               "Not found")


def _literal(text):
    """A Python repr'd string (as lab.spec quotes values) as the value itself."""
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text


def _go_map(labels):
    return "map[string]string{" + ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in labels.items()) + "}"


def _name_rule(kind, field):
    if field.endswith("namespace") or kind == "Namespace":
        return DNS1123_LABEL
    return DNS1035 if kind == "Service" else DNS1123_SUBDOMAIN


def cause(exc, kind, obj):
    """(field, message) of an InputError ``exc`` about an object of ``kind``, in kube's words."""
    field = exc.field if exc.field and not exc.field.startswith("(") else ""
    problem, fix = exc.problem, exc.fix or ""
    if problem.startswith(FIELD_TYPES):
        return field, problem
    if problem == "is required" or re.fullmatch(r"spec(\.\w+)* is required", problem):
        return (problem[:-len(" is required")] if problem != "is required" else field), "Required value"
    m = re.fullmatch(r"(-?\d+) is out of range", problem)
    if m:
        lo, _, hi = fix.removeprefix("use ").partition("-")
        if lo == "0":  # a count (ValidateNonnegativeField); an upper bound is svclab's own
            rule = "must be greater than or equal to 0" if int(m.group(1)) < 0 else \
                f"must be less than or equal to {hi}"
        else:  # a port, or another range kube checks as one (InclusiveRangeError)
            rule = f"must be between {lo} and {hi}, inclusive"
        return field, f"Invalid value: {m.group(1)}: {rule}"
    m = re.fullmatch(r"(.+) is not allowed", problem)
    if m and fix.startswith("use one of: "):
        options = ", ".join(f'"{o}"' for o in sorted(fix.removeprefix("use one of: ").split(", ")))
        return field, f'Unsupported value: "{_literal(m.group(1))}": supported values: {options}'
    m = re.fullmatch(r"(.+) is not a valid .*(name|namespace)", problem)
    if m:
        return field, f'Invalid value: "{_literal(m.group(1))}": {_name_rule(kind, field)}'
    m = re.fullmatch(r"(.+) is longer than (\d+) characters", problem)
    if m:
        return field, f'Invalid value: "{_literal(m.group(1))}": must be no more than {m.group(2)} characters'
    m = re.fullmatch(r"(?:port|container) name (.+) is used twice", problem)
    if m:
        return field, f'Duplicate value: "{_literal(m.group(1))}"'
    if problem == "selector does not match the template's labels":
        labels = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        return "spec.template.metadata.labels", f"Invalid value: {_go_map(labels)}: `selector` does not match " \
                                                "template `labels`"
    if problem == "a pod needs at least one container":
        return field, "Required value"
    if problem == "a service needs at least one port":
        return field, "Required value"
    if problem == "every port of a multi-port service needs a name":
        return f"{field}.name", "Required value"
    if problem == "type ExternalName needs spec.externalName":
        return "spec.externalName", "Required value"
    m = re.fullmatch(r"a (\w+) service has no node ports", problem)
    if m:
        return field, f"Forbidden: may not be used when `type` is '{m.group(1)}'"
    return field, f"Invalid value: {problem}"


def from_input_error(exc, resource, name, obj):
    """kube-apiserver's 422 for svclab's InputError ``exc`` about ``obj`` (a manifest)."""
    return status.invalid(resource.kind, name, [cause(exc, resource.kind, obj)], resource.group)
