"""return guards: bank scope of return records, contested states

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('payment_instructions') as batch:
        batch.add_column(sa.Column('contested', sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
    with op.batch_alter_table('return_files') as batch:
        batch.add_column(sa.Column('reason', sa.String(length=300), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('return_files') as batch:
        batch.drop_column('reason')
    with op.batch_alter_table('payment_instructions') as batch:
        batch.drop_column('contested')
