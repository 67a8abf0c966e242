"""default field rules of channel partners

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 11:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

RULES = [
    ("channel_owner", "partner", "credit_limit", "read_only"),
    ("field_sales", "partner", "credit_limit", "hidden"),
    ("service_agent", "partner", "credit_limit", "hidden"),
    ("repair_partner", "partner", "credit_limit", "hidden"),
]
TABLE = sa.table("field_permissions", sa.column("role"), sa.column("resource"),
                 sa.column("field"), sa.column("rule"))


def upgrade() -> None:
    # Channels reads the whole table (its copy); its defaults live here with the others.
    op.bulk_insert(TABLE, [dict(zip(("role", "resource", "field", "rule"), r, strict=True))
                           for r in RULES])


def downgrade() -> None:
    for role, resource, field, _ in RULES:
        op.execute(TABLE.delete().where(TABLE.c.role == role, TABLE.c.resource == resource,
                                        TABLE.c.field == field))
