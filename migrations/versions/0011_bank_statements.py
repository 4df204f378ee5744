"""bank statements: the sequence of camt.053 statements received per bank account

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 17:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import disburse.core.db

revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'bank_statements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('return_file_id', sa.Integer(), nullable=False),
        sa.Column('bank_bin', sa.String(length=6), nullable=False),
        sa.Column('account', sa.String(length=70), nullable=False),
        sa.Column('statement_id', sa.String(length=35), nullable=False),
        sa.Column('sequence', sa.BigInteger(), nullable=True),
        sa.Column('created_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['return_file_id'], ['return_files.id'],
                                name=op.f('fk_bank_statements_return_file_id_return_files')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_statements')),
    )
    op.create_index('ix_bank_statements_sequence', 'bank_statements',
                    ['bank_bin', 'account', 'sequence'], unique=False)
    op.create_index(op.f('ix_bank_statements_return_file_id'), 'bank_statements',
                    ['return_file_id'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f('ix_bank_statements_return_file_id'), table_name='bank_statements')
    op.drop_index('ix_bank_statements_sequence', table_name='bank_statements')
    op.drop_table('bank_statements')
