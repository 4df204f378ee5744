"""beneficiary registry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:21:52.694930
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import disburse.core.db
from beneficiaries.programmes import SEED_RATES

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('list_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme', sa.String(length=30), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accept_valid', sa.Boolean(), nullable=False),
    sa.Column('end_missing', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('stored_dir', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_list_imports'))
    )
    with op.batch_alter_table('list_imports', schema=None) as batch_op:
        batch_op.create_index('ix_list_imports_programme_sha', ['programme', 'file_sha256'], unique=False)

    op.create_table('programme_rates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rate_name', sa.String(length=60), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('legal_reference', sa.String(length=200), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_programme_rates_amount_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_rates')),
    sa.UniqueConstraint('rate_name', 'effective_from', name=op.f('uq_programme_rates_rate_name_effective_from'))
    )
    op.create_table('beneficiaries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme', sa.String(length=30), nullable=False),
    sa.Column('citizen_id_enc', sa.LargeBinary(), nullable=False),
    sa.Column('citizen_id_idx', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=False),
    sa.Column('gender', sa.String(length=6), nullable=False),
    sa.Column('province_code', sa.String(length=4), nullable=False),
    sa.Column('commune_code', sa.String(length=8), nullable=False),
    sa.Column('locality_version', sa.String(length=10), nullable=False),
    sa.Column('monthly_amount', sa.BigInteger(), nullable=False),
    sa.Column('coefficient_x100', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('bank_bin', sa.String(length=6), nullable=True),
    sa.Column('account_enc', sa.LargeBinary(), nullable=True),
    sa.Column('account_idx', sa.String(length=64), nullable=True),
    sa.Column('account_holder', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=15), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('status_reason', sa.String(length=200), nullable=True),
    sa.Column('review_flags', sa.JSON(), nullable=False),
    sa.Column('source_import_id', sa.Integer(), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=False),
    sa.Column('last_seen_import_id', sa.Integer(), nullable=False),
    sa.Column('created_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("channel = 'cash' OR (bank_bin IS NOT NULL AND account_enc IS NOT NULL)", name=op.f('ck_beneficiaries_account_for_non_cash')),
    sa.CheckConstraint("channel IN ('bank', 'ewallet', 'cash')", name=op.f('ck_beneficiaries_channel_known')),
    sa.CheckConstraint("status IN ('active', 'suspended', 'ended')", name=op.f('ck_beneficiaries_status_known')),
    sa.CheckConstraint('monthly_amount > 0', name=op.f('ck_beneficiaries_monthly_amount_positive')),
    sa.ForeignKeyConstraint(['last_seen_import_id'], ['list_imports.id'], name=op.f('fk_beneficiaries_last_seen_import_id_list_imports')),
    sa.ForeignKeyConstraint(['source_import_id'], ['list_imports.id'], name=op.f('fk_beneficiaries_source_import_id_list_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_beneficiaries')),
    sa.UniqueConstraint('programme', 'citizen_id_idx', name=op.f('uq_beneficiaries_programme_citizen_id_idx'))
    )
    with op.batch_alter_table('beneficiaries', schema=None) as batch_op:
        batch_op.create_index('ix_beneficiaries_account_idx', ['account_idx'], unique=False)
        batch_op.create_index('ix_beneficiaries_scope', ['programme', 'province_code', 'commune_code'], unique=False)

    op.create_table('beneficiary_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('beneficiary_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('change', sa.String(length=20), nullable=False),
    sa.Column('changed', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['beneficiary_id'], ['beneficiaries.id'], name=op.f('fk_beneficiary_history_beneficiary_id_beneficiaries')),
    sa.ForeignKeyConstraint(['import_id'], ['list_imports.id'], name=op.f('fk_beneficiary_history_import_id_list_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_beneficiary_history'))
    )
    with op.batch_alter_table('beneficiary_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_beneficiary_history_beneficiary_id'), ['beneficiary_id'], unique=False)
    rates = sa.table("programme_rates", sa.column("rate_name", sa.String),
                     sa.column("amount", sa.BigInteger), sa.column("effective_from", sa.Date),
                     sa.column("legal_reference", sa.String))
    op.bulk_insert(rates, [{"rate_name": n, "amount": a, "effective_from": d,
                            "legal_reference": ref} for n, a, d, ref in SEED_RATES])


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('beneficiary_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_beneficiary_history_beneficiary_id'))

    op.drop_table('beneficiary_history')
    with op.batch_alter_table('beneficiaries', schema=None) as batch_op:
        batch_op.drop_index('ix_beneficiaries_scope')
        batch_op.drop_index('ix_beneficiaries_account_idx')

    op.drop_table('beneficiaries')
    op.drop_table('programme_rates')
    with op.batch_alter_table('list_imports', schema=None) as batch_op:
        batch_op.drop_index('ix_list_imports_programme_sha')

    op.drop_table('list_imports')
