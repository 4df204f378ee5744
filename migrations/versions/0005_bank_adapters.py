"""bank adapters: submissions outbox, banks, return files

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 18:41:27.980733
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import disburse.core.db

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('banks',
    sa.Column('bin', sa.String(length=6), nullable=False),
    sa.Column('name', sa.String(length=140), nullable=False),
    sa.Column('route', sa.String(length=40), nullable=False),
    sa.Column('public_key_pem', sa.Text(), nullable=False),
    sa.Column('profile', sa.JSON(), nullable=False),
    sa.Column('api_base_url', sa.String(length=300), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('bin', name=op.f('pk_banks')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_banks_token_hash'))
    )
    op.create_table('return_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bank_bin', sa.String(length=6), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('stored_path', sa.String(length=500), nullable=False),
    sa.Column('signature_valid', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('received_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bank_bin'], ['banks.bin'], name=op.f('fk_return_files_bank_bin_banks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_files')),
    sa.UniqueConstraint('bank_bin', 'sha256', name=op.f('uq_return_files_bank_bin_sha256'))
    )
    with op.batch_alter_table('return_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_return_files_bank_bin'), ['bank_bin'], unique=False)
        batch_op.create_index(batch_op.f('ix_return_files_state'), ['state'], unique=False)

    op.create_table('submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_file_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('route', sa.String(length=40), nullable=False),
    sa.Column('msg_id', sa.String(length=35), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('receipt', sa.JSON(), nullable=True),
    sa.Column('worker', sa.String(length=120), nullable=True),
    sa.Column('lease_until', disburse.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_submissions_batch_id_batches')),
    sa.ForeignKeyConstraint(['payment_file_id'], ['payment_files.id'], name=op.f('fk_submissions_payment_file_id_payment_files')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submissions')),
    sa.UniqueConstraint('msg_id', name=op.f('uq_submissions_msg_id')),
    sa.UniqueConstraint('payment_file_id', name=op.f('uq_submissions_payment_file_id'))
    )
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submissions_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_submissions_state'), ['state'], unique=False)



def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submissions_state'))
        batch_op.drop_index(batch_op.f('ix_submissions_batch_id'))

    op.drop_table('submissions')
    with op.batch_alter_table('return_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_return_files_state'))
        batch_op.drop_index(batch_op.f('ix_return_files_bank_bin'))

    op.drop_table('return_files')
    op.drop_table('banks')
