"""Gateway logic without a bus: revocation rules, the OpenAPI document, the error table."""
import json
import time

from openapi_spec_validator import validate

from crmkit import errors
from gateway.http_errors import HTTP_STATUS, response_for
from gateway.openapi import build_spec
from gateway.revocations import Revocations
from gateway.routes import ROUTES
from gateway.rpc_client import RemoteError

NOW = int(time.time())


def claims(sub=1, sid="s1", iat=NOW - 100, path="/1/2/"):
    return {"sub": str(sub), "sid": sid, "iat": iat, "path": path}


def test_revoked_session_user_cutoff_and_moved_subtree():
    rev = Revocations(horizon_seconds=900)
    assert not rev.is_revoked(claims())
    rev.apply("session_revoked", {"session_id": "s1"})
    assert rev.is_revoked(claims())
    assert not rev.is_revoked(claims(sid="s2"))
    rev.apply("user_tokens_revoked", {"user_id": 7, "not_before": NOW - 50.5})
    assert rev.is_revoked(claims(sub=7, sid="x", iat=NOW - 52))
    assert not rev.is_revoked(claims(sub=7, sid="x", iat=NOW - 50))
    rev.apply("org_unit_moved", {"old_path": "/1/2/", "new_path": "/1/3/2/",
                                 "not_before": NOW - 10})
    assert rev.is_revoked(claims(sub=8, sid="y", iat=NOW - 20, path="/1/2/5/"))
    assert not rev.is_revoked(claims(sub=8, sid="y", iat=NOW - 20, path="/1/20/"))
    rev.prune(NOW + 10_000)  # a lifetime later nothing is left to refuse
    assert not rev.sessions and not rev.users and not rev.paths


def test_openapi_document_is_valid_and_lists_every_route():
    spec = build_spec(ROUTES, "/api/v1")
    validate(spec)
    for route in ROUTES:
        assert route.method.lower() in spec["paths"]["/api/v1" + route.path]


def test_openapi_documents_what_files_and_public_routes_answer():
    paths = build_spec(ROUTES, "/api/v1")["paths"]
    report = paths["/api/v1/reports/tickets"]["get"]["responses"]["200"]["content"]
    assert set(report) == {"application/json", "text/csv", "image/png", "image/svg+xml",
                           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    export = paths["/api/v1/customers/export"]["get"]["responses"]["200"]["content"]
    assert "text/csv" in export and "application/json" not in export
    login = paths["/api/v1/auth/token"]["post"]["responses"]
    assert "401" in login and "403" not in login  # wrong password; no role checked


def test_every_typed_error_has_a_status_and_unknown_errors_are_500_without_detail():
    assert set(HTTP_STATUS) == set(errors.ERROR_TYPES.values())
    remote = RemoteError({"exc_type": "KeyError", "exc_path": "builtins.KeyError",
                          "exc_args": ["secret internals"], "value": "secret internals"})
    response = response_for(remote, "rid")
    assert response.status_code == 500
    assert "secret" not in response.body.decode()
    conflict = response_for(errors.Conflict("x", code="duplicate"), "rid")
    assert conflict.status_code == 409
    assert json.loads(conflict.body)["error"]["code"] == "duplicate"
