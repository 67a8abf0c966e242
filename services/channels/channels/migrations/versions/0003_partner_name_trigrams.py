"""partner name search with a trigram index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:20:00

"""
from typing import Sequence, Union

from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # pg_trgm ships with PostgreSQL (contrib) and is allowed on the managed services.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index("ix_partners_name_trgm", "partners", ["name"], unique=False,
                    postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"})
    # Not on stores: the GIN index made a 20,000-row import 0.3 s slower (bench/README).


def downgrade() -> None:
    op.drop_index("ix_partners_name_trgm", table_name="partners")
