"""Secrets stay out of answers and logs. Runs after every other end-to-end test (see
conftest), so the logs it reads hold the whole session: logins, failed logins, token
refreshes, password changes, photo URLs and the fuzzer's random input."""
import pytest

from crmkit.testing import unique

pytestmark = [pytest.mark.e2e, pytest.mark.scans_logs]
PASSWORD = "a-password-nobody-should-see-7"


def _never_shows_a_password(body) -> None:
    text = str(body)
    assert "password" not in text and "argon2" not in text, text[:300]


def test_passwords_are_never_returned_and_never_logged(stack, api, admin):
    created = api.post("/users", headers=admin, json={
        "username": unique("secret"), "password": PASSWORD, "display_name": "保密",
        "roles": ["field_sales"], "org_unit_id": 1, "manager_id": 1})
    assert created.status_code == 201, created.text
    user = created.json()
    _never_shows_a_password(user)
    _never_shows_a_password(api.get(f"/users/{user['id']}", headers=admin).json())
    _never_shows_a_password(api.get("/users", headers=admin, params={"limit": 500}).json())
    changed = api.patch(f"/users/{user['id']}", headers=admin,
                        json={"password": PASSWORD + "-new"})
    assert changed.status_code == 200, changed.text
    _never_shows_a_password(changed.json())
    wrong = api.post("/auth/token", json={"username": user["username"],
                                          "password": PASSWORD + "-wrong"})
    assert wrong.status_code == 401
    tokens = api.post("/auth/token", json={"username": user["username"],
                                           "password": PASSWORD + "-new"}).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    _never_shows_a_password(api.get("/me", headers=bearer).json())
    refreshed = api.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text

    secrets = {
        "a user's password": PASSWORD,
        "the admin password": stack.env["CRM_BOOTSTRAP_ADMIN_PASSWORD"],
        "the token signing key": stack.env["CRM_JWT_SECRET"],
        "the S3 secret key": stack.env["MINIO_SECRET_KEY"],
        "an access token": tokens["access_token"],
        "a refresh token": tokens["refresh_token"],
        "a refreshed token": refreshed.json()["access_token"],
        "a token's signature": admin["Authorization"].rsplit(".", 1)[-1],
        "a presigned URL's signature": "X-Amz-Signature=",
        "a password hash": "$argon2",
    }
    # Our processes' logs. The S3 server's own access log holds the presigned URLs it
    # served, as MinIO's does: that is the store's log, and the URLs die in minutes.
    logs = {path.name: path.read_text(errors="replace")
            for path in sorted(stack.log_dir.glob("*.log")) if path.name != "s3.log"}
    # At INFO (the e2e stack's level) every request is in the gateway's access log.
    assert user["username"] in logs["gateway.log"] or "/api/v1/users" in logs["gateway.log"]
    leaks = [(what, name) for what, secret in secrets.items() for name, text in logs.items()
             if secret and secret in text]
    assert leaks == []
