"""reconciliation: return records, instruction events, exceptions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 18:47:34.106682
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import disburse.core.db

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('return_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('return_file_id', sa.Integer(), nullable=False),
    sa.Column('record_key', sa.String(length=64), nullable=False),
    sa.Column('record_index', sa.Integer(), nullable=False),
    sa.Column('source_format', sa.String(length=12), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('msg_id', sa.String(length=140), nullable=True),
    sa.Column('end_to_end_id', sa.String(length=140), nullable=True),
    sa.Column('bank_reference', sa.String(length=140), nullable=True),
    sa.Column('account_enc', sa.LargeBinary(), nullable=True),
    sa.Column('account_idx', sa.String(length=64), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('group_status', sa.String(length=10), nullable=True),
    sa.Column('reason_code', sa.String(length=35), nullable=True),
    sa.Column('reason_text', sa.String(length=1000), nullable=True),
    sa.Column('booking_date', sa.Date(), nullable=True),
    sa.Column('matched_instruction_id', sa.Integer(), nullable=True),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('created_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['matched_instruction_id'], ['payment_instructions.id'], name=op.f('fk_return_records_matched_instruction_id_payment_instructions')),
    sa.ForeignKeyConstraint(['return_file_id'], ['return_files.id'], name=op.f('fk_return_records_return_file_id_return_files')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_records')),
    sa.UniqueConstraint('record_key', name=op.f('uq_return_records_record_key'))
    )
    with op.batch_alter_table('return_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_return_records_bank_reference'), ['bank_reference'], unique=False)
        batch_op.create_index('ix_return_records_e2e', ['end_to_end_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_return_records_matched_instruction_id'), ['matched_instruction_id'], unique=False)
        batch_op.create_index('ix_return_records_msg_id', ['msg_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_return_records_return_file_id'), ['return_file_id'], unique=False)

    op.create_table('instruction_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instruction_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=12), nullable=False),
    sa.Column('to_state', sa.String(length=12), nullable=False),
    sa.Column('reason_code', sa.String(length=35), nullable=True),
    sa.Column('return_record_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instruction_id'], ['payment_instructions.id'], name=op.f('fk_instruction_events_instruction_id_payment_instructions')),
    sa.ForeignKeyConstraint(['return_record_id'], ['return_records.id'], name=op.f('fk_instruction_events_return_record_id_return_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instruction_events'))
    )
    with op.batch_alter_table('instruction_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instruction_events_instruction_id'), ['instruction_id'], unique=False)

    op.create_table('reconciliation_exceptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('return_file_id', sa.Integer(), nullable=True),
    sa.Column('return_record_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('candidate_ids', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('resolution_note', sa.String(length=1000), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('resolved_at', disburse.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['return_file_id'], ['return_files.id'], name=op.f('fk_reconciliation_exceptions_return_file_id_return_files')),
    sa.ForeignKeyConstraint(['return_record_id'], ['return_records.id'], name=op.f('fk_reconciliation_exceptions_return_record_id_return_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_exceptions'))
    )
    with op.batch_alter_table('reconciliation_exceptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reconciliation_exceptions_return_file_id'), ['return_file_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reconciliation_exceptions_return_record_id'), ['return_record_id'], unique=False)
        batch_op.create_index('ix_reconciliation_exceptions_state_kind', ['state', 'kind'], unique=False)



def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('reconciliation_exceptions', schema=None) as batch_op:
        batch_op.drop_index('ix_reconciliation_exceptions_state_kind')
        batch_op.drop_index(batch_op.f('ix_reconciliation_exceptions_return_record_id'))
        batch_op.drop_index(batch_op.f('ix_reconciliation_exceptions_return_file_id'))

    op.drop_table('reconciliation_exceptions')
    with op.batch_alter_table('instruction_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_instruction_events_instruction_id'))

    op.drop_table('instruction_events')
    with op.batch_alter_table('return_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_return_records_return_file_id'))
        batch_op.drop_index('ix_return_records_msg_id')
        batch_op.drop_index(batch_op.f('ix_return_records_matched_instruction_id'))
        batch_op.drop_index('ix_return_records_e2e')
        batch_op.drop_index(batch_op.f('ix_return_records_bank_reference'))

    op.drop_table('return_records')
