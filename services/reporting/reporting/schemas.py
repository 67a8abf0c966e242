"""marshmallow schemas of the reporting service: report queries, the file a report is
answered as, and report submissions with their comments."""
from marshmallow import Schema, fields, validate

from crmkit.fields import Id, Month, Text
from crmkit.pagination import PageQuerySchema
from reporting.channel_report import GROUPS
from reporting.exports import FORMATS

REPORTS = ("channels", "visits", "tickets")


class MonthReportQuerySchema(Schema):
    month = Month(required=True, metadata={"description": "YYYY-MM"})
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS),
                           metadata={"description": "json, csv (UTF-8 with BOM), xlsx, or "
                                                    "a chart as png or svg"})


class ChannelReportQuerySchema(MonthReportQuerySchema):
    group_by = fields.String(load_default="partner", validate=validate.OneOf(GROUPS),
                             metadata={"description": "partner, owner (channel owner), or "
                                                      "hq (org units one level below yours)"})


class ReportFileSchema(Schema):
    filename = fields.String()
    content_type = fields.String()
    content_base64 = fields.String()


class SubmissionCreateSchema(Schema):
    report = fields.String(required=True, validate=validate.OneOf(REPORTS))
    month = Month(required=True)
    note = Text(max_length=2000, allow_none=True)
    # Optional, and only ever your direct manager: naming anyone else is refused.
    recipient_id = Id(allow_none=True)


class CommentCreateSchema(Schema):
    text = Text(required=True, max_length=2000)


class CommentSchema(Schema):
    id = fields.Integer()
    submission_id = fields.Integer()
    author_id = fields.Integer()
    author_name = fields.String(allow_none=True)
    text = fields.String()
    created_at = fields.DateTime()


class SubmissionSchema(Schema):
    id = fields.Integer()
    report = fields.String()
    month = fields.String()
    note = fields.String(allow_none=True)
    sender_id = fields.Integer()
    sender_name = fields.String(allow_none=True)
    recipient_id = fields.Integer()
    recipient_name = fields.String(allow_none=True)
    summary = fields.Dict(metadata={"description": "the report's totals as the sender saw "
                                                   "them when sending"})
    created_at = fields.DateTime()
    comments = fields.List(fields.Nested(CommentSchema))


class SubmissionListQuerySchema(PageQuerySchema):
    box = fields.String(validate=validate.OneOf(("sent", "received")),
                        metadata={"description": "sent by me or received by me (default both)"})
    report = fields.String(validate=validate.OneOf(REPORTS))
    month = Month()
