"""directory partner

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 13:45:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """The directory copy learns which channel partner a user works for."""
    op.add_column('directory_users', sa.Column('partner_id', sa.BigInteger(), nullable=True))
    op.create_index('ix_directory_users_partner_id', 'directory_users', ['partner_id'],
                    unique=False, postgresql_where=sa.text('partner_id IS NOT NULL'))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_directory_users_partner_id', table_name='directory_users',
                  postgresql_where=sa.text('partner_id IS NOT NULL'))
    op.drop_column('directory_users', 'partner_id')
