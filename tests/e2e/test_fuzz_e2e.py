"""Fuzzing the HTTP API from its own OpenAPI document (schemathesis generates requests from
the schemas, valid and invalid): nothing a client sends may produce a 5xx. A bounded run
per operation, as an admin (who gets past authorisation into every handler) and as a field
salesperson (who mostly meets the refusals). It runs last in the session (see conftest):
it leaves random records behind, and some operations it calls change shared settings."""
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]
EXAMPLES = int(os.environ.get("CRM_FUZZ_EXAMPLES", "4"))
# Operations that would end the fuzzing session itself or lock its users out.
SKIPPED = {"logout", "issue_token", "refresh_token", "update_user", "reassign_user_records"}


def _fuzzer(stack, headers, operation, operation_id: str, failures: list):
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    def call(case):
        reply = case.call(base_url=stack.url, headers=headers, timeout=30)
        if reply.status_code >= 500:
            failures.append((operation_id, case.method, case.formatted_path,
                             reply.status_code, reply.text[:200], case.query, case.body))
    return call


def _fuzz(stack, api, headers) -> list[tuple]:
    schema = schemathesis.openapi.from_dict(api.get("/openapi.json").json())
    failures: list[tuple] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        operation_id = operation.definition.raw.get("operationId")
        if operation_id not in SKIPPED:
            _fuzzer(stack, headers, operation, operation_id, failures)()
    return failures


def test_no_request_makes_a_server_error(stack, api, admin, login):
    sales = api.post("/users", headers=admin, json={
        "username": "fuzz-sales", "password": "fuzz-password-1", "display_name": "fuzz",
        "roles": ["field_sales"], "org_unit_id": 1, "manager_id": 1})
    assert sales.status_code in (201, 409), sales.text
    failures = _fuzz(stack, api, login("fuzz-sales", "fuzz-password-1"))
    failures += _fuzz(stack, api, admin)
    assert failures == []
