"""Typed errors that services raise and the gateway maps to HTTP status codes.

They cross the bus by name (nameko serialises exc_type and exc_args), so the class names
and the (message, fields, code) argument order are part of the RPC contract.
"""
import json

from nameko.exceptions import deserialize_to_instance


class CrmError(Exception):
    """Base of every error a service promises to raise."""

    code = "error"

    def __init__(self, message: str = "", fields: dict | None = None, code: str | None = None,
                 details: dict | str | None = None):
        self.message = message or self.__class__.__doc__ or self.code
        self.fields = fields or {}
        if code:
            self.code = code
        # Extra JSON-able facts for the client (e.g. duplicate candidates), shown beside
        # code/message/fields in the error body. They travel as one JSON string: nameko
        # turns every non-string in exception arguments into a string.
        self.details = json.loads(details) if isinstance(details, str) else (details or {})
        args = (self.message, self.fields, self.code)
        if self.details:
            args += (json.dumps(self.details, ensure_ascii=False, default=str),)
        super().__init__(*args)


@deserialize_to_instance
class ValidationFailed(CrmError):
    """The input is invalid."""

    code = "invalid_input"


@deserialize_to_instance
class NotAuthenticated(CrmError):
    """Not authenticated."""

    code = "not_authenticated"


@deserialize_to_instance
class Forbidden(CrmError):
    """Outside the caller's scope or role."""

    code = "forbidden"


@deserialize_to_instance
class NotFound(CrmError):
    """No such record."""

    code = "not_found"


@deserialize_to_instance
class Conflict(CrmError):
    """The request conflicts with the current state."""

    code = "conflict"


@deserialize_to_instance
class TooManyRequests(CrmError):
    """Too many requests."""

    code = "too_many_requests"


@deserialize_to_instance
class ServiceUnavailable(CrmError):
    """A dependency is unavailable; retry later."""

    code = "service_unavailable"


ERROR_TYPES = {
    cls.__name__: cls
    for cls in (ValidationFailed, NotAuthenticated, Forbidden, NotFound, Conflict,
                TooManyRequests, ServiceUnavailable)
}


def error_from_wire(error: dict) -> CrmError | None:
    """Rebuild a typed error from nameko's serialised form; None if it is not one of ours."""
    cls = ERROR_TYPES.get(error.get("exc_type", ""))
    if cls is None or not error.get("exc_path", "").startswith("crmkit.errors."):
        return None
    args = list(error.get("exc_args") or [])
    message = args[0] if args and isinstance(args[0], str) else ""
    fields = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
    code = args[2] if len(args) > 2 and isinstance(args[2], str) else None
    details = args[3] if len(args) > 3 and isinstance(args[3], str) else None
    return cls(message, fields, code, details)


def missing(what: str, field: str | None = None) -> CrmError:
    """A record that does not exist or lies outside the caller's scope (answered alike): a
    400 on `field` when the request named it there, a 404 otherwise."""
    if field:
        return ValidationFailed(f"no such {what}", {field: [f"no such {what}"]})
    return NotFound(f"No such {what}")
