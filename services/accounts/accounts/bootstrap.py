"""`python -m accounts.bootstrap`: make sure a fresh system has its HQ unit and the `admin`
user (password from CRM_BOOTSTRAP_ADMIN_PASSWORD). Leaves an existing admin untouched."""
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import OrgUnit, User
from accounts.passwords import _hasher
from accounts.settings import bootstrap_admin_password
from crmkit.database import make_engine
from crmkit.settings import database_settings
from crmkit.tables import audit_log, outbox

ADMIN = "admin"


def bootstrap(password: str) -> bool:
    """Returns True when the admin was created now."""
    import uuid  # noqa: PLC0415
    from datetime import UTC, datetime  # noqa: PLC0415
    engine = make_engine(database_settings("accounts"))
    try:
        with Session(engine) as session, session.begin():
            # Serialise concurrent bootstraps (two replicas starting at once).
            session.execute(select(func.pg_advisory_xact_lock(7231001)))
            if session.execute(select(User.id).where(func.lower(User.username) == ADMIN)).first():
                return False
            hq = session.execute(select(OrgUnit).where(OrgUnit.parent_id.is_(None))
                                 .order_by(OrgUnit.id)).scalars().first()
            if hq is None:
                new_id = session.execute(select(func.nextval("org_units_id_seq"))).scalar_one()
                hq = OrgUnit(id=new_id, name="总部", kind="hq", path=f"/{new_id}/")
                session.add(hq)
                session.flush()
            admin = User(username=ADMIN, display_name="Administrator",
                         password_hash=_hasher.hash(password), roles=["admin"],
                         org_unit_id=hq.id)
            session.add(admin)
            session.flush()
            snapshot = {"id": admin.id, "username": ADMIN, "roles": ["admin"],
                        "org_unit_id": hq.id}
            session.execute(audit_log.insert().values(
                action="create", resource="user", resource_id=str(admin.id), after=snapshot,
                note="bootstrap"))
            session.execute(outbox.insert().values(
                event_id=str(uuid.uuid4()), type="user_created", version=1,
                occurred_at=datetime.now(UTC), actor={"user_id": None, "roles": ["system"]},
                data={"user": snapshot, "org_path": hq.path}))
            return True
    finally:
        engine.dispose()


if __name__ == "__main__":
    created = bootstrap(bootstrap_admin_password())
    print("admin user created" if created else "admin user already exists")
