"""kube-apiserver's Status answers, with its reasons, codes and wording (kubectl prints them as
``Error from server (<reason>): <message>``). Pure."""

# field.ErrorType's words -> the cause's reason (apimachinery's field.ErrorType as CauseType)
CAUSE_REASONS = (("Required value", "FieldValueRequired"), ("Unsupported value", "FieldValueNotSupported"),
                 ("Duplicate value", "FieldValueDuplicate"), ("Forbidden", "FieldValueForbidden"),
                 ("Too long", "FieldValueTooLong"), ("Too many", "FieldValueTooMany"),
                 ("Not found", "FieldValueNotFound"), ("Invalid value", "FieldValueInvalid"))


class ApiError(Exception):
    """A request the API answers with a Failure Status. ``reason`` "" is kube's StatusReasonUnknown
    (left out of the body, as kube-apiserver leaves it out)."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        out = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message}
        if self.reason:
            out["reason"] = self.reason
        if self.details is not None:
            out["details"] = self.details
        out["code"] = self.code
        return out


def success(details=None):
    out = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        out["details"] = details
    return out


def _details(resource, name):
    out = {"name": name}
    if resource.group:
        out["group"] = resource.group
    out["kind"] = resource.plural
    return out


def not_found(resource, name):
    return ApiError(404, "NotFound", f'{resource.group_resource} "{name}" not found', _details(resource, name))


def no_such_path():
    """What kube-apiserver answers for a path it does not serve (a generic server response)."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(resource, name):
    return ApiError(409, "AlreadyExists", f'{resource.group_resource} "{name}" already exists',
                    _details(resource, name))


def conflict(resource, name, why="the object has been modified; please apply your changes to the latest version "
                                  "and try again"):
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource.group_resource} "{name}": {why}',
                    _details(resource, name))


def cause_reason(message):
    """The cause's reason for a field error worded ``<type>: ...`` (``Invalid value: 1: ...``)."""
    return next((reason for words, reason in CAUSE_REASONS if message.startswith(words)), "FieldValueInvalid")


def invalid(kind, name, causes, group=""):
    """422 with field causes: ``[(field, message)]``, each message as kube-apiserver words it. The
    message is errors.NewInvalid's: ``<Kind>[.<group>] "<name>" is invalid: <one error>`` or, for
    several, ``[<error>, <error>]`` (an aggregate)."""
    errors = [f"{field}: {message}" if field else message for field, message in causes]
    qualified = f"{kind}.{group}" if group else kind
    text = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    details = {k: v for k, v in (("name", name), ("group", group), ("kind", kind)) if v}  # Go's omitempty
    details["causes"] = [{"reason": cause_reason(message), "message": message, "field": field}
                         for field, message in causes]
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {text}' if errors else
                    f'{qualified} "{name}" is invalid', details)


def invalid_options(kind, field, value, supported):
    """A query parameter of CreateOptions/UpdateOptions/PatchOptions out of its set (422)."""
    listed = ", ".join(f'"{v}"' for v in supported)
    return invalid(kind, "", [(field, f'Unsupported value: "{value}": supported values: {listed}')], "meta.k8s.io")


def unprocessable():
    """kube's generic 422 (a JSON patch that cannot be applied): no details but an empty map."""
    return ApiError(422, "Invalid", "the server rejected our request due to an error in our request", {})


def unknown(code, message):
    """A plain Go error that reached kube-apiserver's responder: no reason, the error's text."""
    return ApiError(code, "", message)


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def unsupported_media_type(accepted):
    return ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media "
                    "types include: " + ", ".join(accepted))


PATCH_MEDIA_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                     "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def unsupported_patch():
    return unsupported_media_type(PATCH_MEDIA_TYPES)


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def too_large(limit):
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def too_many_requests():
    """What kube-apiserver's max-in-flight filter answers (and svclab's connection limit)."""
    return ApiError(429, "TooManyRequests", "Too many requests, please try again later.",
                    {"retryAfterSeconds": 1})


def gone(rv, oldest):
    return ApiError(410, "Expired", f"too old resource version: {rv} ({oldest})")


def internal(message):
    return ApiError(500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]})


def timeout(message):
    return ApiError(504, "Timeout", f"Timeout: {message}", {})
