"""Reading a service's audit log (written through `UnitOfWork.audit`): one record's
entries, newest first. Each service checks the record is in the caller's scope first; the
gateway routes `GET /audit?resource=` to the service that owns the resource."""
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from crmkit.database import UnitOfWork
from crmkit.fields import Id
from crmkit.pagination import PageQuerySchema, page
from crmkit.tables import audit_log


def audit_query_schema(resources) -> type[Schema]:
    """The query schema of an audit read over `resources`."""
    return type("AuditQuerySchema", (PageQuerySchema,), {
        "resource": fields.String(required=True, validate=validate.OneOf(tuple(resources))),
        "id": Id(required=True, strict=False)})


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_id = fields.Integer(allow_none=True)
    action = fields.String()
    resource = fields.String()
    resource_id = fields.String()
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    request_id = fields.String(allow_none=True)


def audit_page(unit: UnitOfWork, query: dict, redact=None) -> dict:
    """One record's entries, newest first; `redact(record) -> record` applies the caller's
    field rules to `before` and `after` (hidden fields must not come back through here)."""
    stmt = select(audit_log).where(audit_log.c.resource == query["resource"],
                                   audit_log.c.resource_id == str(query["id"]))
    if query["cursor"] is not None:
        stmt = stmt.where(audit_log.c.id < query["cursor"])
    rows = unit.session.execute(stmt.order_by(audit_log.c.id.desc())
                                .limit(query["limit"] + 1)).all()
    schema = AuditEntrySchema()
    entries = [schema.dump(r._mapping) for r in rows]
    if redact is not None:
        for entry in entries:
            for side in ("before", "after"):
                if isinstance(entry.get(side), dict):
                    entry[side] = redact(entry[side])
    return page(entries, query["limit"])
