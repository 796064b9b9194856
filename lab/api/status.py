"""kube-apiserver's Status answers, with its reasons, codes and wording (kubectl prints them as
``Error from server (<reason>): <message>``). Pure."""


class ApiError(Exception):
    """A request the API answers with a Failure Status."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        out = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
               "reason": self.reason, "code": self.code}
        if self.details is not None:
            out["details"] = self.details
        return out


def success(details=None):
    out = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        out["details"] = details
    return out


def _details(resource, name):
    out = {"name": name, "kind": resource.plural}
    if resource.group:
        out["group"] = resource.group
    return out


def not_found(resource, name):
    return ApiError(404, "NotFound", f'{resource.group_resource} "{name}" not found', _details(resource, name))


def no_such_path():
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(resource, name):
    return ApiError(409, "AlreadyExists", f'{resource.group_resource} "{name}" already exists',
                    _details(resource, name))


def conflict(resource, name):
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource.group_resource} "{name}": the object '
                    "has been modified; please apply your changes to the latest version and try again",
                    _details(resource, name))


CAUSE_REASONS = {"Forbidden": "FieldValueForbidden", "Required value": "FieldValueRequired",
                 "Unsupported value": "FieldValueNotSupported", "Duplicate value": "FieldValueDuplicate"}


def invalid(kind, name, causes, group=""):
    """422 with field causes: ``[(field, message)]``, each message as kube-apiserver words it (the
    cause's reason follows the message: ``Forbidden: ...`` is FieldValueForbidden). The message
    names the kind with its group, as kube-apiserver's does (``StatefulSet.apps "db" is invalid``)."""
    text = "; ".join(f"{field}: {message}" if field else message for field, message in causes)
    details = {"name": name, "kind": kind,
               "causes": [{"reason": _cause_reason(message), "message": message, "field": field}
                          for field, message in causes]}
    if group:
        details["group"] = group
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {text}', details)


def _cause_reason(message):
    return next((reason for prefix, reason in CAUSE_REASONS.items() if message.startswith(prefix + ":")),
                "FieldValueInvalid")


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def unsupported_patch():
    return ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media "
                    "types include: application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml, application/strategic-merge-patch+json")


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def too_large(limit):
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def gone(rv, oldest):
    return ApiError(410, "Expired", f"too old resource version: {rv} ({oldest})")


def internal(message):
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def timeout(message):
    return ApiError(504, "Timeout", message)
