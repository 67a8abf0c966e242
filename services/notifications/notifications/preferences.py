"""Each user's own choice of outbound channels (the inbox always gets every notice)."""
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.database import UnitOfWork, utcnow
from notifications.models import Preference
from notifications.outbound import configured_senders
from notifications.schemas import PreferencesSchema

schema = PreferencesSchema()
FIELDS = ("email", "email_enabled", "phone", "sms_enabled", "muted_kinds")


def _answer(values: dict) -> dict:
    return schema.dump(dict(values, available_channels=sorted(configured_senders())))


def get_preferences(unit: UnitOfWork) -> dict:
    pref = unit.session.get(Preference, unit.caller.user_id)
    values = {name: getattr(pref, name) for name in FIELDS} if pref else \
        {"email": None, "email_enabled": False, "phone": None, "sms_enabled": False,
         "muted_kinds": []}
    return _answer(values)


def set_preferences(unit: UnitOfWork, data: dict) -> dict:
    values = {name: data.get(name) for name in FIELDS}
    values["muted_kinds"] = sorted(set(values["muted_kinds"] or ()))
    stmt = pg_insert(Preference).values(user_id=unit.caller.user_id, updated_at=utcnow(),
                                        **values)
    unit.session.execute(stmt.on_conflict_do_update(
        index_elements=["user_id"], set_={k: stmt.excluded[k] for k in (*FIELDS,
                                                                         "updated_at")}))
    return _answer(values)
