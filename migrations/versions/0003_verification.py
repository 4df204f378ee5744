"""verification

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 18:34:52.553664
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import disburse.core.db

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('verifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('beneficiary_id', sa.Integer(), nullable=False),
    sa.Column('beneficiary_version', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('differences', sa.JSON(), nullable=False),
    sa.Column('date_of_death', sa.Date(), nullable=True),
    sa.Column('evidence_digest', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('registry_served_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('checked_at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['beneficiary_id'], ['beneficiaries.id'], name=op.f('fk_verifications_beneficiary_id_beneficiaries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verifications'))
    )
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        batch_op.create_index('ix_verifications_beneficiary_latest', ['beneficiary_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_verifications_outcome'), ['outcome'], unique=False)

    op.create_table('verification_overrides',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('verification_id', sa.Integer(), nullable=False),
    sa.Column('beneficiary_id', sa.Integer(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('at', disburse.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['beneficiary_id'], ['beneficiaries.id'], name=op.f('fk_verification_overrides_beneficiary_id_beneficiaries')),
    sa.ForeignKeyConstraint(['verification_id'], ['verifications.id'], name=op.f('fk_verification_overrides_verification_id_verifications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_overrides')),
    sa.UniqueConstraint('verification_id', name=op.f('uq_verification_overrides_verification_id'))
    )
    with op.batch_alter_table('verification_overrides', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verification_overrides_beneficiary_id'), ['beneficiary_id'], unique=False)



def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('verification_overrides', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_overrides_beneficiary_id'))

    op.drop_table('verification_overrides')
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verifications_outcome'))
        batch_op.drop_index('ix_verifications_beneficiary_latest')

    op.drop_table('verifications')
