"""Visit types: admins define custom detail fields and the photo policy."""
from sqlalchemy import select

from crmkit.database import UnitOfWork
from crmkit.errors import Conflict, Forbidden, ValidationFailed
from crmkit.pagination import page, paginate
from visits import domain
from visits.models import VisitType
from visits.schemas import VisitTypeSchema

schema = VisitTypeSchema()


def create_visit_type(unit: UnitOfWork, data: dict) -> dict:
    if not unit.caller.roles & domain.TYPE_ADMINS:
        raise Forbidden("Only admins and HQ heads define visit types")
    names = [f["name"] for f in data["fields"]]
    if len(set(names)) != len(names):
        raise ValidationFailed("Field names repeat", {"fields": ["names must be unique"]})
    if unit.session.execute(select(VisitType.id).where(VisitType.code == data["code"])).first():
        raise Conflict("A visit type with this code exists", {"code": ["already taken"]},
                       code="duplicate_code")
    visit_type = VisitType(**data)
    unit.session.add(visit_type)
    unit.session.flush()
    unit.session.refresh(visit_type)
    dumped = schema.dump(visit_type)
    unit.audit("create", "visit_type", visit_type.id, None, dumped)
    return dumped


def list_visit_types(unit: UnitOfWork, query: dict) -> dict:
    rows = unit.session.execute(paginate(select(VisitType), VisitType.id, query["limit"],
                                         query["cursor"])).scalars().all()
    return page([schema.dump(r) for r in rows], query["limit"])
