"""A field visit through the gateway as the mobile app does it: plan, check in, photo
straight to object storage with a presigned URL, confirm, check out; and a manager's view
(trajectory, fraud signals, targets)."""
import hashlib
import io
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from PIL import Image

from crmkit.testing import unique, wait_until

pytestmark = pytest.mark.e2e
PASSWORD = "visit-pass-123"
STORE = (22.5431, 114.0579)


@pytest.fixture(scope="module")
def field(api, admin, login):
    unit = api.post("/org-units", headers=admin, json={
        "name": unique("深圳大区"), "kind": "region", "parent_id": 1}).json()
    made, manager_id = {}, 1
    for key, role in (("manager", "region_manager"), ("owner", "channel_owner"),
                      ("sales", "field_sales")):
        user = api.post("/users", headers=admin, json={
            "username": unique(key), "password": PASSWORD, "display_name": key,
            "roles": [role], "org_unit_id": unit["id"],
            "manager_id": made["manager"]["user"]["id"] if key != "manager" else manager_id})
        assert user.status_code == 201, user.text
        made[key] = {"user": user.json(), "headers": login(user.json()["username"], PASSWORD)}
    owner = made["owner"]["headers"]
    partner = api.post("/partners", headers=owner, json={
        "code": unique("SZ"), "name": "深圳连锁", "kind": "chain"}).json()
    made["store"] = api.post("/stores", headers=owner, json={
        "code": unique("ST"), "name": "福田店", "partner_id": partner["id"],
        "address": "深圳市福田区", "lat": STORE[0], "lon": STORE[1]}).json()
    return made


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (uuid.uuid4().int % 255, 90, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_a_visit_with_photo_proof(api, field):
    sales = field["sales"]["headers"]
    visit = {}

    def planned():  # the store reaches visits through channels' events
        reply = api.post("/visits", headers=sales, json={
            "store_id": field["store"]["id"], "planned_at": datetime.now(UTC).isoformat()})
        visit.update(reply.json())
        return reply.status_code == 201
    assert wait_until(planned), visit
    check_in = {"lat": STORE[0], "lon": STORE[1] + 0.0005, "accuracy_m": 8,
                "at": datetime.now(UTC).isoformat()}
    key = {"Idempotency-Key": unique("ci-")}
    first = api.post(f"/visits/{visit['id']}/check-in", headers={**sales, **key},
                     json=check_in)
    retried = api.post(f"/visits/{visit['id']}/check-in", headers={**sales, **key},
                       json=check_in)
    assert first.status_code == retried.status_code == 200, first.text
    assert first.json() == retried.json() and first.json()["within_radius"] is True

    photo = _jpeg()
    declared = {"content_type": "image/jpeg", "size": len(photo),
                "sha256": hashlib.sha256(photo).hexdigest(), "source": "camera"}
    slot = api.post(f"/visits/{visit['id']}/photos", headers=sales, json=declared)
    assert slot.status_code == 201, slot.text
    # Upload and download URLs are short-lived (CRM_PHOTO_*_URL_TTL, 300 s by default).
    expires_in = (datetime.fromisoformat(slot.json()["expires_at"]) - datetime.now(UTC))
    assert 0 < expires_in.total_seconds() <= 300
    assert "X-Amz-Expires=300&" in slot.json()["upload_url"]
    assert httpx.put(slot.json()["upload_url"], content=photo,
                     headers={"Content-Type": "image/jpeg"}).status_code == 200
    confirm = f"/visits/{visit['id']}/photos/{slot.json()['photo_id']}/confirm"
    confirmed = api.post(confirm, headers=sales)
    assert confirmed.status_code == 200, confirmed.text
    assert httpx.get(confirmed.json()["download_url"]).content == photo
    assert "X-Amz-Expires=300&" in confirmed.json()["download_url"]

    not_image = b"plain text, not a photo" * 10
    fake = api.post(f"/visits/{visit['id']}/photos", headers=sales, json={
        **declared, "size": len(not_image), "sha256": hashlib.sha256(not_image).hexdigest()})
    httpx.put(fake.json()["upload_url"], content=not_image,
              headers={"Content-Type": "image/jpeg"})
    refused = api.post(f"/visits/{visit['id']}/photos/{fake.json()['photo_id']}/confirm",
                       headers=sales)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "photo_mismatch"

    done = api.post(f"/visits/{visit['id']}/check-out", headers=sales,
                    json={"feedback": "店员培训完成", "needs": "需要新品海报"})
    assert done.status_code == 200 and done.json()["status"] == "completed"
    manager = field["manager"]["headers"]
    day = api.get(f"/users/{field['sales']['user']['id']}/trajectory", headers=manager,
                  params={"date": datetime.now(UTC).date().isoformat(), "tz": "UTC"})
    assert day.status_code == 200 and visit["id"] in [p["visit_id"]
                                                      for p in day.json()["points"]]


def test_bad_visit_input_is_4xx(api, field):
    sales = field["sales"]["headers"]
    assert api.post("/visits", headers=sales, json={
        "store_id": 10**12, "planned_at": "2026-11-23T10:00:00+08:00"}).status_code == 400
    assert api.post("/visits", headers=sales, json={
        "store_id": field["store"]["id"], "planned_at": "2026-11-23T10:00:00"}
    ).status_code == 400  # no offset
    manager = field["manager"]["headers"]
    target = api.put("/visit-targets", headers=manager, json={
        "user_id": field["sales"]["user"]["id"], "month": "2026-11", "target": 20})
    assert target.status_code == 200 and target.json()["effective_target"] == 20
    assert api.put("/visit-targets", headers=sales, json={
        "user_id": field["manager"]["user"]["id"], "month": "2026-11", "target": 1}
    ).status_code == 403
