"""The one table that maps the service's typed errors to gRPC status codes (the gateway
keeps the HTTP one), and the details string: the same {"code", "message", "fields"} object
as api.md's error body, as JSON."""
import json

import grpc

from crmkit import errors

GRPC_STATUS = {
    errors.ValidationFailed: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotAuthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.Conflict: grpc.StatusCode.FAILED_PRECONDITION,
    errors.TooManyRequests: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.ServiceUnavailable: grpc.StatusCode.UNAVAILABLE,
}
# A unique value taken already (translate_db_error's code): the record exists, which gRPC
# names apart from a state conflict.
DUPLICATE_CODE = "duplicate"


def status_of(exc: errors.CrmError) -> grpc.StatusCode:
    if isinstance(exc, errors.Conflict) and exc.code == DUPLICATE_CODE:
        return grpc.StatusCode.ALREADY_EXISTS
    for error_type, status in GRPC_STATUS.items():
        if isinstance(exc, error_type):
            return status
    return grpc.StatusCode.INTERNAL


def details_of(exc: errors.CrmError) -> str:
    body = {"code": exc.code, "message": exc.message}
    if exc.fields:
        body["fields"] = exc.fields
    for key, value in exc.details.items():
        body.setdefault(key, value)
    return json.dumps(body, ensure_ascii=False, default=str)


def internal_details(request_id: str) -> str:
    return json.dumps({"code": "internal", "request_id": request_id,
                       "message": "Something went wrong on our side; quote the request id"})
