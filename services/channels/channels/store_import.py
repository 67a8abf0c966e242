"""Bulk import of stores as a job. The upload is stored and answered at once (202); the job
runs from the outbox event it emitted, so a crash mid-way reruns it. It is all-or-nothing:
every row is checked (file, then database: partners, codes, owners) and any bad row fails
the whole job with a per-row report; a clean file goes in with one INSERT."""
import base64
import binascii
import hashlib

from eventlet import tpool
from sqlalchemy import Text, cast, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from channels import domain
from channels.access import invalid, require_role, scoped
from channels.models import ImportJob, Partner, Store
from channels.schemas import MAX_IMPORT_BYTES, ImportJobSchema, StoreSchema
from channels.store_file import StoreFileError, parse_store_file
from crmkit.database import UnitOfWork, utcnow
from crmkit.directory import UserDirectory, sees_person
from crmkit.errors import NotFound

KIND = "stores"
EVENT_CHUNK = 500
# The report keeps this many problems; `error_count` says how many there were.
MAX_REPORTED_ERRORS = 1000

job_schema = ImportJobSchema()
store_schema = StoreSchema()


def _dump(job: ImportJob) -> dict:
    return job_schema.dump(job)


def start_store_import(unit: UnitOfWork, data: dict) -> dict:
    require_role(unit, domain.MAINTAINERS, "import stores")
    try:
        content = base64.b64decode(data["content_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise invalid("file", "the upload is not valid base64") from None
    if not content:
        raise invalid("file", "the file is empty")
    if len(content) > MAX_IMPORT_BYTES:
        raise invalid("file", f"the file exceeds {MAX_IMPORT_BYTES} bytes")
    digest = hashlib.sha256(content).hexdigest()
    # The same file from the same person is the same import, whatever happened to it.
    new_id = unit.session.execute(
        pg_insert(ImportJob).values(kind=KIND, filename=data.get("filename"), sha256=digest,
                                    size=len(content), content=content,
                                    created_by=unit.caller.user_id)
        .on_conflict_do_nothing().returning(ImportJob.id)).scalar()
    if new_id is None:
        job = unit.session.execute(select(ImportJob).where(
            ImportJob.created_by == unit.caller.user_id, ImportJob.kind == KIND,
            ImportJob.sha256 == digest).with_for_update()).scalar_one()
        if job.status != "failed":
            return _dump(job)  # queued, running or done: the same import
        # The same file after a failure (a missing partner created since): run it again.
        job.status, job.errors, job.error_count, job.attempts = "queued", [], 0, 0
        job.total = job.processed = job.imported = 0
        job.started_at = job.finished_at = None
        job.filename = data.get("filename")
        new_id = job.id
    unit.emit("store_import_queued", {"import_id": new_id})
    return _dump(unit.session.get(ImportJob, new_id))


def get_import(unit: UnitOfWork, people: UserDirectory, import_id: int) -> dict:
    """The uploader sees their import; so do managers above the uploader."""
    job = unit.session.get(ImportJob, import_id)
    if job is None or job.kind != KIND:
        raise NotFound("No such import")
    if job.created_by != unit.caller.user_id:
        uploader = people.get(job.created_by)
        if uploader is None or not domain.is_manager(unit.caller) \
                or not sees_person(unit.caller, uploader):
            raise NotFound("No such import")
    return _dump(job)


# --- running the job --------------------------------------------------------------------
class Progress:
    """Writes progress on its own autocommitted connection so readers see it while the
    job's transaction is still open (that transaction touches the job row only at the
    end, so the two never wait on each other)."""

    def __init__(self, engine, import_id: int):
        self.engine = engine
        self.import_id = import_id

    def __call__(self, **values) -> None:
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(update(ImportJob).where(ImportJob.id == self.import_id)
                         .values(**values))


def run_store_import(unit: UnitOfWork, people: UserDirectory, import_id: int,
                     max_attempts: int) -> None:
    # One runner per job even if a redelivered event arrives while it still runs.
    if not unit.session.execute(text("SELECT pg_try_advisory_xact_lock(:k, :id)"),
                                {"k": 7301, "id": import_id}).scalar():
        return
    job = unit.session.get(ImportJob, import_id)
    if job is None or job.status in ("succeeded", "failed"):
        return
    progress = Progress(unit.session.get_bind(), import_id)
    attempt = job.attempts + 1
    progress(status="running", started_at=utcnow(), attempts=attempt)
    try:
        _run(unit, people, job, progress)
    except Exception:
        if attempt < max_attempts:
            raise  # the event comes back for another attempt
        # The last attempt: say so on the job rather than leave it running for ever.
        unit.rollback()
        progress(status="failed", finished_at=utcnow(), error_count=1, errors=[{
            "row": 0, "field": "file",
            "message": "the import failed unexpectedly; nothing was imported"}])
        raise


def _run(unit: UnitOfWork, people: UserDirectory, job: ImportJob, progress: Progress) -> None:
    try:
        # Parsing is seconds of pure Python for a large XLSX (openpyxl): in a thread of its
        # own the hub keeps serving this process's other requests meanwhile (the GIL
        # switches between them) instead of stalling them past their RPC timeout.
        parsed = tpool.execute(parse_store_file, job.content, job.filename)
    except StoreFileError as exc:
        _finish(unit, job, 0, [{"row": 0, "field": "file", "message": exc.message}])
        return
    errors = list(parsed.errors)
    progress(total=parsed.total)
    errors += _database_problems(unit, people, parsed.rows)
    progress(processed=parsed.total)
    if errors:
        _finish(unit, job, parsed.total, errors)
        return
    inserted = _insert_stores(unit, parsed.rows, job.id)
    _publish(unit, job.id, parsed.rows, inserted)
    unit.audit("import", "store_import", job.id, None,
               {"imported": len(parsed.rows), "sha256": job.sha256, "filename": job.filename})
    _finish(unit, job, parsed.total, [], imported=len(parsed.rows))


def _database_problems(unit: UnitOfWork, people: UserDirectory, rows: list[dict]) -> list[dict]:
    problems = []
    partner_codes = {r["partner_code"].lower() for r in rows}
    partners = dict(unit.session.execute(scoped(
        select(func.lower(Partner.code), Partner.id)
        .where(func.lower(Partner.code).in_(partner_codes)), Partner, unit)).all()) \
        if partner_codes else {}
    existing = set(unit.session.execute(
        select(func.lower(Store.code)).where(func.lower(Store.code) == func.any(
            cast(literal(_pg_array({r["code"].lower() for r in rows}), Text), ARRAY(Text)))))
        .scalars())
    owners = people.get_many({r["owner_id"] for r in rows if r["owner_id"]})
    caller = unit.caller
    for r in rows:
        partner_id = partners.get(r["partner_code"].lower())
        if partner_id is None:
            problems.append(_problem(r, "partner_code",
                                     f"unknown partner '{r['partner_code']}'"))
        r["partner_id"] = partner_id
        if r["code"].lower() in existing:
            problems.append(_problem(r, "code", f"store '{r['code']}' already exists"))
        owner_id = r["owner_id"] or caller.user_id
        if r["owner_id"]:
            owner = owners.get(owner_id)
            if owner is None or not sees_person(caller, owner) or not owner.active:
                problems.append(_problem(r, "owner_id", f"no such active user {owner_id}"))
            elif not domain.may_assign_owner(caller, owner_id):
                problems.append(_problem(r, "owner_id", "you may only own stores yourself"))
        r["owner_id"] = owner_id
    return problems


def _problem(row: dict, field: str, message: str) -> dict:
    return {"row": row["row"], "field": field, "message": message}


def _pg_array(values) -> str:
    """A PostgreSQL array literal: one string parameter is far cheaper to send and parse
    than psycopg2's ARRAY[...] of one bound value per element."""
    return "{" + ",".join(
        "NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
        for v in values) + "}"


# One statement for all rows: each column travels as one array parameter. (COPY would be
# faster still, but psycopg2 refuses COPY on the green connections nameko workers use.)
INSERT_STORES = text("""
    INSERT INTO stores (code, name, partner_id, address, lat, lon, region, brand_center,
                        owner_id, staff, products, status, import_id)
    SELECT code, name, partner_id, address, lat, lon, region, brand_center, owner_id,
           staff::varchar(100)[], products::varchar(100)[], status, :import_id
    FROM unnest(CAST(:code AS text[]), CAST(:name AS text[]), CAST(:partner_id AS bigint[]),
                CAST(:address AS text[]), CAST(:lat AS numeric[]), CAST(:lon AS numeric[]),
                CAST(:region AS text[]), CAST(:brand_center AS text[]),
                CAST(:owner_id AS bigint[]), CAST(:staff AS text[]),
                CAST(:products AS text[]), CAST(:status AS text[]))
         AS r(code, name, partner_id, address, lat, lon, region, brand_center, owner_id,
              staff, products, status)
    RETURNING id, code, created_at
""")
PLAIN_COLUMNS = ("code", "name", "partner_id", "address", "lat", "lon", "region",
                 "brand_center", "owner_id", "status")


def _insert_stores(unit: UnitOfWork, rows: list[dict], import_id: int) -> dict[str, tuple]:
    """Insert every row; returns code -> (id, created_at)."""
    params = {name: _pg_array([r[name] for r in rows]) for name in PLAIN_COLUMNS}
    params["staff"] = _pg_array([_pg_array(r["staff"]) for r in rows])
    params["products"] = _pg_array([_pg_array(r["products"]) for r in rows])
    inserted = unit.session.execute(INSERT_STORES, dict(params, import_id=import_id))
    return {code: (store_id, created_at) for store_id, code, created_at in inserted}


def _store_payload(row: dict, store_id: int, created_at) -> dict:
    """The row as `StoreSchema` dumps a store, built directly: marshmallow over 20,000
    reloaded stores cost more than the whole insert."""
    stamp = created_at.isoformat()
    return {"id": store_id, "code": row["code"], "name": row["name"],
            "partner_id": row["partner_id"], "address": row["address"], "lat": row["lat"],
            "lon": row["lon"], "region": row["region"], "brand_center": row["brand_center"],
            "owner_id": row["owner_id"], "staff": row["staff"], "products": row["products"],
            "status": row["status"],
            "visitable": bool(row["address"]) and row["lat"] is not None
            and row["lon"] is not None,
            "created_at": stamp, "updated_at": stamp}


def _publish(unit: UnitOfWork, import_id: int, rows: list[dict],
             inserted: dict[str, tuple]) -> None:
    """Imported stores are announced in chunks (`stores_imported`), not one event each:
    20,000 single events would keep the bus busy for seconds for one upload."""
    stores = [_store_payload(r, *inserted[r["code"]]) for r in rows]
    for start in range(0, len(stores), EVENT_CHUNK):
        unit.emit("stores_imported", {"import_id": import_id,
                                      "stores": stores[start:start + EVENT_CHUNK]})


def _finish(unit: UnitOfWork, job: ImportJob, total: int, errors: list[dict],
            imported: int = 0) -> None:
    errors.sort(key=lambda e: (e["row"], e["field"]))
    unit.session.execute(update(ImportJob).where(ImportJob.id == job.id).values(
        status="failed" if errors else "succeeded", total=total, processed=total,
        imported=imported, error_count=len(errors), errors=errors[:MAX_REPORTED_ERRORS],
        finished_at=utcnow()))
    unit.session.expire(job)
