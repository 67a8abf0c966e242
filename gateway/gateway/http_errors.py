"""The one table that maps the services' typed errors to HTTP, and the error body of
api.md: {"error": {"code", "message", "fields"}}."""
import base64
import json
import logging
from urllib.parse import quote

from starlette.responses import Response

from crmkit import errors
from gateway.rpc_client import RemoteError

log = logging.getLogger(__name__)

HTTP_STATUS = {
    errors.ValidationFailed: 400,
    errors.NotAuthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooManyRequests: 429,
    errors.ServiceUnavailable: 503,
}


class HttpError(Exception):
    """An error the gateway itself answers (bad JSON, size limit, unknown id form)."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, headers=headers,
                    media_type="application/json")


def file_response(file: dict) -> Response:
    """A file an RPC answered as `{filename, content_type, content_base64}`."""
    name = quote(file["filename"])
    return Response(base64.b64decode(file["content_base64"]), media_type=file["content_type"],
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})


def error_response(status: int, code: str, message: str, fields: dict | None = None,
                   headers: dict | None = None, details: dict | None = None) -> Response:
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    for key, value in (details or {}).items():
        error.setdefault(key, value)
    return json_response({"error": error}, status, headers)


def response_for(exc: Exception, request_id: str) -> Response:
    if isinstance(exc, HttpError):
        return error_response(exc.status, exc.code, exc.message, exc.fields)
    typed = exc if isinstance(exc, errors.CrmError) else None
    if isinstance(exc, RemoteError):
        typed = errors.error_from_wire(exc.error)
    if typed is not None:
        status = HTTP_STATUS[type(typed)]
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status == 429:
            headers = {"Retry-After": "60"}
        return error_response(status, typed.code, typed.message, typed.fields or None, headers,
                              details=typed.details)
    # Anything else is our bug, not the client's: log it, say nothing internal.
    detail = exc.error if isinstance(exc, RemoteError) else repr(exc)
    log.error("internal error", extra={"detail": str(detail)[:2000]},
              exc_info=not isinstance(exc, RemoteError))
    return error_response(500, "internal_error",
                          f"Internal error; quote request id {request_id}")
