"""Org unit names and paths (accounts' `org_unit_created` / `_updated` / `_moved`), to
label the `hq` roll-up; the people in each unit come from the directory copy."""
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from reporting.models import OrgUnitCopy
from reporting.periods import parse_time


def apply_org_unit(session: Session, event: dict) -> None:
    unit = event["data"]["org_unit"]
    values = {"id": unit["id"], "name": unit["name"], "path": unit["path"],
              "as_of": parse_time(event["occurred_at"])}
    stmt = pg_insert(OrgUnitCopy).values(**values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[OrgUnitCopy.id],
        set_={k: stmt.excluded[k] for k in ("name", "path", "as_of")},
        where=OrgUnitCopy.as_of <= stmt.excluded.as_of))


def apply_moved(session: Session, event: dict) -> None:
    old, new = event["data"]["old_path"], event["data"]["new_path"]
    session.execute(update(OrgUnitCopy)
                    .where(OrgUnitCopy.path.startswith(old, autoescape=True))
                    .values(path=new + func.substr(OrgUnitCopy.path, len(old) + 1)))


def names(session: Session, unit_ids) -> dict[int, str]:
    ids = {int(i) for i in unit_ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(OrgUnitCopy.id, OrgUnitCopy.name)
                                .where(OrgUnitCopy.id.in_(ids))).all())
