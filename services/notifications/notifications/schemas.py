"""marshmallow schemas of the notifications RPC payloads and results."""
from marshmallow import Schema, fields

from crmkit.pagination import PageQuerySchema


class RelatedSchema(Schema):
    resource = fields.String()
    id = fields.Integer()


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    related = fields.Method("_related")
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)

    def _related(self, notice) -> dict | None:
        if notice.related_resource is None:
            return None
        return {"resource": notice.related_resource, "id": notice.related_id}


class InboxQuerySchema(PageQuerySchema):
    unread = fields.Boolean()


class MarkedSchema(Schema):
    marked = fields.Integer()
