"""payment batches

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:38:12.184864
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import disburse.core.db

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme', sa.String(length=30), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('province_code', sa.String(length=4), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('preparer', sa.String(length=64), nullable=False),
    sa.Column('requested_execution_date', sa.Date(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('exclusions', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('count >= 0', name=op.f('ck_batches_count_not_negative')),
    sa.CheckConstraint('total >= 0', name=op.f('ck_batches_total_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batches'))
    )
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.create_index('ix_batches_programme_period', ['programme', 'period'], unique=False)
        batch_op.create_index(batch_op.f('ix_batches_state'), ['state'], unique=False)

    op.create_table('batch_approvals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('approver', sa.String(length=64), nullable=False),
    sa.Column('batch_hash', sa.String(length=64), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('voided_at', disburse.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('void_reason', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_batch_approvals_batch_id_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_approvals'))
    )
    with op.batch_alter_table('batch_approvals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_approvals_batch_id'), ['batch_id'], unique=False)

    op.create_table('payment_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('route', sa.String(length=40), nullable=False),
    sa.Column('part_no', sa.Integer(), nullable=False),
    sa.Column('layout', sa.String(length=12), nullable=False),
    sa.Column('msg_id', sa.String(length=35), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('nb_of_txs', sa.BigInteger(), nullable=False),
    sa.Column('ctrl_sum', sa.BigInteger(), nullable=False),
    sa.Column('batch_hash', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_payment_files_batch_id_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_files')),
    sa.UniqueConstraint('batch_id', 'route', 'part_no', name=op.f('uq_payment_files_batch_id_route_part_no')),
    sa.UniqueConstraint('msg_id', name=op.f('uq_payment_files_msg_id'))
    )
    with op.batch_alter_table('payment_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_files_batch_id'), ['batch_id'], unique=False)

    op.create_table('payment_instructions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('beneficiary_id', sa.Integer(), nullable=False),
    sa.Column('programme', sa.String(length=30), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('base_amount', sa.BigInteger(), nullable=False),
    sa.Column('arrears_amount', sa.BigInteger(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('route', sa.String(length=40), nullable=False),
    sa.Column('rerouted_from', sa.String(length=8), nullable=True),
    sa.Column('bank_bin', sa.String(length=6), nullable=True),
    sa.Column('account_enc', sa.LargeBinary(), nullable=True),
    sa.Column('account_idx', sa.String(length=64), nullable=True),
    sa.Column('creditor_name', sa.String(length=140), nullable=False),
    sa.Column('province_code', sa.String(length=4), nullable=False),
    sa.Column('commune_code', sa.String(length=8), nullable=False),
    sa.Column('end_to_end_id', sa.String(length=35), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('reason_code', sa.String(length=8), nullable=True),
    sa.Column('payment_file_id', sa.Integer(), nullable=True),
    sa.Column('created_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount = base_amount + arrears_amount', name=op.f('ck_payment_instructions_amount_adds_up')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payment_instructions_amount_positive')),
    sa.CheckConstraint('arrears_amount >= 0', name=op.f('ck_payment_instructions_arrears_not_negative')),
    sa.CheckConstraint('length(end_to_end_id) <= 35', name=op.f('ck_payment_instructions_e2e_max_35')),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_payment_instructions_batch_id_batches')),
    sa.ForeignKeyConstraint(['beneficiary_id'], ['beneficiaries.id'], name=op.f('fk_payment_instructions_beneficiary_id_beneficiaries')),
    sa.ForeignKeyConstraint(['payment_file_id'], ['payment_files.id'], name=op.f('fk_payment_instructions_payment_file_id_payment_files')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_instructions')),
    sa.UniqueConstraint('beneficiary_id', 'programme', 'period', name=op.f('uq_payment_instructions_beneficiary_id_programme_period')),
    sa.UniqueConstraint('end_to_end_id', name=op.f('uq_payment_instructions_end_to_end_id')),
    sa.UniqueConstraint('batch_id', 'seq', name=op.f('uq_payment_instructions_batch_id_seq'))
    )
    with op.batch_alter_table('payment_instructions', schema=None) as batch_op:
        batch_op.create_index('ix_payment_instructions_batch_route', ['batch_id', 'route'], unique=False)

    op.create_table('arrears_carries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('from_instruction_id', sa.Integer(), nullable=False),
    sa.Column('to_instruction_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['from_instruction_id'], ['payment_instructions.id'], name=op.f('fk_arrears_carries_from_instruction_id_payment_instructions')),
    sa.ForeignKeyConstraint(['to_instruction_id'], ['payment_instructions.id'], name=op.f('fk_arrears_carries_to_instruction_id_payment_instructions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_arrears_carries')),
    sa.UniqueConstraint('from_instruction_id', name=op.f('uq_arrears_carries_from_instruction_id'))
    )
    with op.batch_alter_table('arrears_carries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_arrears_carries_to_instruction_id'), ['to_instruction_id'], unique=False)



def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('arrears_carries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_arrears_carries_to_instruction_id'))

    op.drop_table('arrears_carries')
    with op.batch_alter_table('payment_instructions', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_instructions_batch_route')

    op.drop_table('payment_instructions')
    with op.batch_alter_table('payment_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_files_batch_id'))

    op.drop_table('payment_files')
    with op.batch_alter_table('batch_approvals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_approvals_batch_id'))

    op.drop_table('batch_approvals')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batches_state'))
        batch_op.drop_index('ix_batches_programme_period')

    op.drop_table('batches')
