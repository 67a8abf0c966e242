"""Photo proof of a visit. The client asks for a slot (declaring size, type and sha256),
PUTs the bytes to object storage with the presigned URL, then confirms; only a stored
object whose bytes match the declaration is linked to the visit. Unconfirmed slots are
swept once their URL has expired."""
import uuid
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from crmkit.database import UnitOfWork, utcnow
from crmkit.errors import Conflict
from crmkit.fields import EARLIEST_YEAR, LATEST_YEAR
from visits import domain
from visits.exif import image_format_matches
from visits.models import Photo, Visit, VisitType
from visits.schemas import PhotoSchema, PhotoSlotSchema
from visits.settings import VisitSettings
from visits.storage import ObjectTooLarge, PhotoStore
from visits.visits import invalid, own_visit, raise_signals, visible_visit

schema = PhotoSchema()
slot_schema = PhotoSlotSchema()
SWEEP_BATCH = 100


def _camera_only(unit: UnitOfWork, visit: Visit) -> bool:
    """Camera-only unless the visit's type says otherwise."""
    if visit.visit_type_id is None:
        return True
    return unit.session.get(VisitType, visit.visit_type_id).camera_only


def create_slot(unit: UnitOfWork, store: PhotoStore, settings: VisitSettings, visit_id: int,
                data: dict) -> dict:
    visit = own_visit(unit, visit_id)
    if visit.status != "checked_in":
        raise Conflict("Photos are taken on site, between check-in and check-out",
                       {"status": [visit.status]}, code="illegal_transition")
    if data["size"] > settings.photo_max_bytes:
        raise invalid("size", f"must be at most {settings.photo_max_bytes} bytes")
    if data["source"] == "gallery" and _camera_only(unit, visit):
        raise invalid("source", "this visit accepts photos taken with the camera only")
    now = utcnow()
    photo = Photo(visit_id=visit.id, object_key=f"visits/{visit.id}/{uuid.uuid4().hex}",
                  content_type=data["content_type"], size=data["size"],
                  sha256=data["sha256"].lower(), source=data["source"],
                  taken_at=data.get("taken_at"),
                  upload_expires_at=now + timedelta(seconds=settings.upload_url_ttl_s))
    unit.session.add(photo)
    unit.session.flush()
    url = store.presign_put(photo.object_key, photo.content_type, settings.upload_url_ttl_s)
    return slot_schema.dump({"photo_id": photo.id, "upload_url": url,
                             "expires_at": photo.upload_expires_at,
                             "content_type": photo.content_type})


def _pending_photo(unit: UnitOfWork, visit: Visit, photo_id: int) -> Photo:
    return unit.one_or_missing(select(Photo).where(
        Photo.id == photo_id, Photo.visit_id == visit.id), "photo", lock_of=Photo)


def _mismatch(problem: str, field: str) -> Conflict:
    return Conflict(f"The stored photo does not match: {problem}", {field: [problem]},
                    code="photo_mismatch")


def confirm(unit: UnitOfWork, store: PhotoStore, settings: VisitSettings, visit_id: int,
            photo_id: int) -> dict:
    visit = own_visit(unit, visit_id)
    photo = _pending_photo(unit, visit, photo_id)
    if photo.status == "confirmed":
        return _dump(unit, store, settings, photo)  # a retried confirm answers the same
    try:
        stored = store.inspect(photo.object_key, photo.size)
    except ObjectTooLarge:
        raise _mismatch("larger than declared", "size") from None
    if stored is None:
        raise Conflict("Nothing was uploaded for this photo", {"photo": ["not uploaded"]},
                       code="photo_missing")
    if stored.size != photo.size:
        raise _mismatch(f"{stored.size} bytes, declared {photo.size}", "size")
    if stored.sha256 != photo.sha256:
        raise _mismatch("sha256 differs from the declared one", "sha256")
    content_type = (stored.content_type or "").split(";")[0].strip().lower()
    if content_type != photo.content_type:
        raise _mismatch(f"uploaded as {content_type or 'no type'}", "content_type")
    if not stored.exif.is_image or not image_format_matches(stored.exif.format,
                                                            photo.content_type):
        raise _mismatch("not an image of the declared type", "content_type")
    photo.status, photo.confirmed_at = "confirmed", utcnow()
    photo.exif_taken_at = _exif_time(stored.exif.taken_at, settings.default_time_zone)
    photo.exif_lat, photo.exif_lon = stored.exif.lat, stored.exif.lon
    seen = unit.session.execute(select(Photo.visit_id).where(
        Photo.sha256 == photo.sha256, Photo.status == "confirmed",
        Photo.id != photo.id).limit(1)).scalar()
    raise_signals(unit, visit, domain.photo_signals(
        sha_seen_on=seen, exif_taken_at=photo.exif_taken_at, check_in_at=visit.check_in_at,
        max_skew_s=settings.exif_max_skew_s))
    unit.session.flush()
    dumped = _dump(unit, store, settings, photo)
    unit.emit("photo_confirmed", {k: v for k, v in dumped.items() if k != "download_url"}
              | {"user_id": visit.user_id, "store_id": visit.store_id})
    return dumped


def _exif_time(taken, zone: str):
    """The camera's capture time in UTC; None when absent or absurd (a camera clock at year
    1 or 9999 is not evidence of anything, and would not survive the conversion)."""
    if taken is None or not EARLIEST_YEAR <= taken.year <= LATEST_YEAR:
        return None
    if taken.tzinfo is None:
        # Cameras record local time without a zone; the field force works in one zone.
        taken = taken.replace(tzinfo=ZoneInfo(zone))
    return taken.astimezone(UTC)


def _dump(unit: UnitOfWork, store: PhotoStore, settings: VisitSettings, photo: Photo) -> dict:
    data = {c: getattr(photo, c) for c in Photo.__table__.columns.keys()}
    if photo.status == "confirmed":
        data["download_url"] = store.presign_get(photo.object_key, settings.download_url_ttl_s)
        data["download_expires_at"] = utcnow() + timedelta(
            seconds=settings.download_url_ttl_s)
    return schema.dump(data)


def get_photo(unit: UnitOfWork, store: PhotoStore, settings: VisitSettings, visit_id: int,
              photo_id: int) -> dict:
    visit = visible_visit(unit, visit_id)
    photo = unit.one_or_missing(select(Photo).where(
        Photo.id == photo_id, Photo.visit_id == visit.id), "photo")
    return _dump(unit, store, settings, photo)


def sweep_expired(unit: UnitOfWork, store: PhotoStore, grace_s: int = 60) -> int:
    """Remove slots never confirmed once their upload URL expired (and any bytes that were
    uploaded for them). Replicas skip each other's rows."""
    rows = unit.session.execute(
        select(Photo.id, Photo.object_key)
        .where(Photo.status == "pending",
               Photo.upload_expires_at < utcnow() - timedelta(seconds=grace_s))
        .order_by(Photo.upload_expires_at).limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)).all()
    for _, key in rows:
        store.remove(key)
    if rows:
        unit.session.execute(delete(Photo).where(Photo.id.in_([r.id for r in rows])))
    return len(rows)

