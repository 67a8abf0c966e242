"""Fuzzing the HTTP API from its own OpenAPI document with a small budget: the fuzzer of
bench/fuzz.py (schemathesis generates requests from the schemas) against every operation,
as an admin (who gets past authorisation into every handler), a field salesperson (who
mostly meets the refusals) and a repair partner (bound to a partner company). Every answer
must be no 5xx, a documented status, a documented Content-Type and a body that validates
against the documented schema. It runs last in the session (see conftest): it leaves
random records behind, and some operations it calls change shared settings."""
import os
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import fuzz  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]
# Examples per operation and role: valid requests, and requests that break the schema.
BUDGET = {"positive": int(os.environ.get("CRM_FUZZ_EXAMPLES", "2")),
          "negative": int(os.environ.get("CRM_FUZZ_NEGATIVE_EXAMPLES", "1"))}
ROLES = ("admin", "field_sales", "repair_partner")


def test_generated_requests_get_documented_answers_and_no_server_error(stack, api, admin):
    run_id = uuid.uuid4().hex[:6]
    users = fuzz.create_users(api, admin, ROLES, run_id)
    fuzz.seed_records(api, users, run_id)

    def fresh_login(role: str) -> dict:
        password = stack.env["CRM_BOOTSTRAP_ADMIN_PASSWORD"] if role == "admin" \
            else fuzz.PASSWORD
        return fuzz.login(api, users.usernames[role], password)

    report = fuzz.fuzz(stack.url, api.get("/openapi.json").json(), users, BUDGET,
                       fresh_login=fresh_login)
    assert set(report.cases) == set(ROLES)
    assert report.server_errors == 0, fuzz.describe_failures(report)
    assert not report.failures, fuzz.describe_failures(report)
