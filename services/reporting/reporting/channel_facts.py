"""Channels' events into the channel read models: partners, inspection forms (status and
owner) and the per-form, per-product-type line totals. Every apply is an upsert, so
events may arrive in any order (and two batches commit in either order): a form's status
only moves forward, its owner and partner name only change to a newer fact.

The form and line upserts run for every inspection event (a day holds ~14,000 lines), so
they are written out as SQL once: SQLAlchemy never caches its PostgreSQL `INSERT ... ON
CONFLICT` (the dialect's Insert is not cacheable), and building and compiling them per
event cost more CPU than everything else a consumer does (bench/reports.py). They take
arrays (`unnest`): the consumer of line events applies a whole batch of events in a
fixed number of statements (`apply_lines`), a single event being a batch of one; the
rebuild replays one event at a time through the same code."""
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from reporting.models import PartnerCopy
from reporting.periods import parse_time

# draft -> submitted -> reviewed; a late "draft" event never takes a form back. (The same
# order is spelled out in _UPSERT_FORMS.)
STATUS_RANK = {"draft": 0, "submitted": 1, "reviewed": 2}

# The cached reports of the months a transaction changes go stale with its commit (see
# report_cache): it says it bumps them itself (the tables' triggers then leave the other
# months' reports alone), writes, then bumps them once, last, so the version rows are
# locked only from there to the commit.
_MONTHS_BUMPED_HERE = text("SELECT set_config('reporting.months_bumped', 'on', true)")
_BUMP_MONTHS = text("""
    INSERT INTO report_versions AS v (topic, shard, version)
    SELECT DISTINCT 'month:' || m, (pg_backend_pid() % 8)::smallint, 1
    FROM unnest(CAST(:months AS text[])) AS m ORDER BY 1
    ON CONFLICT (topic, shard) DO UPDATE SET version = v.version + 1""")
# One row per form (each form once per statement). Owner and partner name only change to
# a newer fact (owner_as_of); SET reads the row as it was.
_UPSERT_FORMS = text("""
    INSERT INTO inspection_forms AS f
        (inspection_id, partner_id, partner_name, month, owner_id, status, owner_as_of)
    SELECT * FROM unnest(CAST(:inspection_ids AS bigint[]), CAST(:partner_ids AS bigint[]),
                         CAST(:partner_names AS text[]), CAST(:months AS text[]),
                         CAST(:owner_ids AS bigint[]), CAST(:statuses AS text[]),
                         CAST(:ats AS timestamptz[]))
    ON CONFLICT (inspection_id) DO UPDATE SET
        status = CASE WHEN (CASE excluded.status WHEN 'draft' THEN 0 WHEN 'submitted' THEN 1
                                                 WHEN 'reviewed' THEN 2 ELSE -1 END)
                         > (CASE f.status WHEN 'draft' THEN 0 WHEN 'submitted' THEN 1
                                          WHEN 'reviewed' THEN 2 ELSE -1 END)
                      THEN excluded.status ELSE f.status END,
        owner_id = CASE WHEN f.owner_as_of <= excluded.owner_as_of THEN excluded.owner_id
                        ELSE f.owner_id END,
        owner_as_of = CASE WHEN f.owner_as_of <= excluded.owner_as_of
                           THEN excluded.owner_as_of ELSE f.owner_as_of END,
        partner_name = CASE WHEN f.owner_as_of <= excluded.owner_as_of
                            THEN excluded.partner_name ELSE f.partner_name END""")
# A new owner takes the form's totals along (its lines count for whoever fills it). The
# owner in force is read back from the forms just upserted, in the database: returning
# it to Python cost the consumer more than the statement.
_MOVE_TOTALS = text("""
    UPDATE channel_line_totals t SET owner_id = f.owner_id
    FROM inspection_forms f
    WHERE f.inspection_id = ANY(CAST(:inspection_ids AS bigint[]))
      AND t.inspection_id = f.inspection_id AND t.owner_id <> f.owner_id""")
# One row per form and product type: the lines of the batch added at once, for the
# form's owner in force, in the order given.
_ADD_LINES = text("""
    INSERT INTO channel_line_totals AS t
        (inspection_id, product_type, month, partner_id, owner_id, line_count, quantity,
         amount)
    SELECT u.inspection_id, u.product_type, u.month, u.partner_id, f.owner_id,
           u.line_count, u.quantity, u.amount
    FROM unnest(CAST(:inspection_ids AS bigint[]), CAST(:product_types AS text[]),
                CAST(:months AS text[]), CAST(:partner_ids AS bigint[]),
                CAST(:line_counts AS bigint[]), CAST(:quantities AS bigint[]),
                CAST(:amounts AS numeric[]))
        WITH ORDINALITY AS u(inspection_id, product_type, month, partner_id, line_count,
                             quantity, amount, position)
    JOIN inspection_forms f ON f.inspection_id = u.inspection_id
    ORDER BY u.position
    ON CONFLICT (inspection_id, product_type) DO UPDATE SET
        line_count = t.line_count + excluded.line_count,
        quantity = t.quantity + excluded.quantity, amount = t.amount + excluded.amount""")


def apply_partner(session: Session, event: dict) -> None:
    """`partner_created` / `partner_updated`: `{partner, changed?}`."""
    partner = event["data"]["partner"]
    share = partner.get("channel_share")
    values = {"partner_id": partner["id"], "name": partner["name"],
              "kind": partner.get("kind"), "owner_id": partner.get("owner_id"),
              "channel_share": Decimal(str(share)) if share is not None else None,
              "as_of": parse_time(event["occurred_at"])}
    stmt = pg_insert(PartnerCopy).values(**values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[PartnerCopy.partner_id],
        set_={k: stmt.excluded[k] for k in values if k != "partner_id"},
        where=PartnerCopy.as_of <= stmt.excluded.as_of))


def _form_states(events: list[dict]) -> dict[int, dict]:
    """What applying `events` one by one, in order, would leave of each form's fields,
    as one row per form for _UPSERT_FORMS: partner and month of the first event (they
    only matter when it inserts the row), the highest status (the first event carrying
    it), and the partner name and owner of the last event with the newest time (the
    upsert then compares that time with the row's, as each event would have)."""
    forms: dict[int, dict] = {}
    for event in events:
        data = event["data"]
        at = parse_time(event["occurred_at"])
        form = forms.get(data["inspection_id"])
        if form is None:
            forms[data["inspection_id"]] = {
                "partner_id": data["partner_id"], "month": data["month"],
                "partner_name": data.get("partner_name") or "", "status": data["status"],
                "owner_id": data["owner_id"], "at": at}
            continue
        if STATUS_RANK.get(data["status"], -1) > STATUS_RANK.get(form["status"], -1):
            form["status"] = data["status"]
        if form["at"] <= at:
            form["owner_id"], form["at"] = data["owner_id"], at
            form["partner_name"] = data.get("partner_name") or ""
    return forms


def _upsert_forms(session: Session, events: list[dict]) -> None:
    """The form fields every inspection event carries, one statement for all the forms
    of `events` (in id order: concurrent batches lock forms in the same order, and hold
    them until they commit, so the forms' totals are only ever written by one batch at a
    time); each form's totals then follow its owner in force."""
    forms = _form_states(events)
    ids = sorted(forms)
    rows = [forms[i] for i in ids]
    session.execute(_MONTHS_BUMPED_HERE)
    session.execute(_UPSERT_FORMS, {
        "inspection_ids": ids, "partner_ids": [r["partner_id"] for r in rows],
        "partner_names": [r["partner_name"] for r in rows],
        "months": [r["month"] for r in rows], "owner_ids": [r["owner_id"] for r in rows],
        "statuses": [r["status"] for r in rows], "ats": [r["at"] for r in rows]})
    session.execute(_MOVE_TOTALS, {"inspection_ids": ids})


def _bump_months(session: Session, events: list[dict]) -> None:
    session.execute(_BUMP_MONTHS, {"months": sorted({e["data"]["month"] for e in events})})


def apply_forms(session: Session, events: list[dict]) -> None:
    """`inspection_created`, `inspection_updated`, `inspection_submitted`,
    `inspection_reviewed` (their `totals` are the same lines already counted one by
    one)."""
    _upsert_forms(session, events)
    _bump_months(session, events)


def apply_lines(session: Session, events: list[dict]) -> None:
    """`inspection_line_added` events (the form fields + `line`), in the order they are
    applied: the same rows as applying them one by one, in the same five statements
    whatever their number (lines summed per form and product type first)."""
    _upsert_forms(session, events)
    cells: dict[tuple, list] = {}
    for event in events:
        data, line = event["data"], event["data"]["line"]
        key = (data["inspection_id"], line["product_type"])
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [data["month"], data["partner_id"], 0, 0, Decimal(0)]
        cell[2] += 1
        cell[3] += int(line["quantity"])
        cell[4] += Decimal(str(line["amount"]))
    keys = sorted(cells)
    session.execute(_ADD_LINES, {
        "inspection_ids": [k[0] for k in keys], "product_types": [k[1] for k in keys],
        "months": [cells[k][0] for k in keys], "partner_ids": [cells[k][1] for k in keys],
        "line_counts": [cells[k][2] for k in keys],
        "quantities": [cells[k][3] for k in keys], "amounts": [cells[k][4] for k in keys]})
    _bump_months(session, events)


def apply_form(session: Session, event: dict) -> None:
    apply_forms(session, [event])


def apply_line(session: Session, event: dict) -> None:
    apply_lines(session, [event])
