"""import job attempts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:45:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("import_jobs", sa.Column("attempts", sa.Integer(), server_default="0",
                                           nullable=False))


def downgrade() -> None:
    op.drop_column("import_jobs", "attempts")
