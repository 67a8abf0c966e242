"""`python -m accounts.bootstrap`: make sure a fresh system has its HQ unit and the `admin`
user (password from CRM_BOOTSTRAP_ADMIN_PASSWORD). Leaves an existing admin untouched."""
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from accounts.models import OrgUnit, User
from accounts.passwords import hash_password
from accounts.schemas import OrgUnitSchema, UserSchema
from accounts.settings import bootstrap_admin_password
from crmkit.context import ROLES
from crmkit.database import UnitOfWork, make_engine
from crmkit.scope import child_path
from crmkit.settings import database_settings

ADMIN = "admin"
BOOTSTRAP_LOCK = 7231001


def bootstrap(password: str) -> bool:
    """Returns True when the admin was created now."""
    engine = make_engine(database_settings("accounts"))
    unit = UnitOfWork(sessionmaker(engine, expire_on_commit=False), {ROLES: "system"},
                      "accounts")
    try:
        session = unit.session
        # Serialise concurrent bootstraps (two replicas starting at once).
        session.execute(select(func.pg_advisory_xact_lock(BOOTSTRAP_LOCK)))
        if session.execute(select(User.id).where(func.lower(User.username) == ADMIN)).first():
            return False
        hq = session.execute(select(OrgUnit).where(OrgUnit.parent_id.is_(None))
                             .order_by(OrgUnit.id)).scalars().first()
        if hq is None:
            new_id = session.execute(select(func.nextval("org_units_id_seq"))).scalar_one()
            hq = OrgUnit(id=new_id, name="总部", kind="hq", path=child_path(None, new_id))
            session.add(hq)
            session.flush()
            session.refresh(hq)
            unit.audit("create", "org_unit", hq.id, None, OrgUnitSchema().dump(hq),
                       note="bootstrap")
        admin = User(username=ADMIN, display_name="Administrator",
                     password_hash=hash_password(password), roles=["admin"], org_unit_id=hq.id)
        session.add(admin)
        session.flush()
        session.refresh(admin)
        snapshot = UserSchema().dump(admin)
        unit.audit("create", "user", admin.id, None, snapshot, note="bootstrap")
        unit.emit("user_created", {"user": snapshot, "org_path": hq.path})
        unit.commit()
        return True
    finally:
        unit.close()
        engine.dispose()


if __name__ == "__main__":
    created = bootstrap(bootstrap_admin_password())
    print("admin user created" if created else "admin user already exists")
