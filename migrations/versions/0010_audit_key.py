"""audit chain keyed with HMAC, checkpoints

No schema change: the switch from SHA-256 to HMAC-SHA256 entry hashes is recorded beside the
key in the keyring's ``audit.key`` (the last unkeyed entry and its hash), where someone who can
write the database cannot move it; checkpoints are files. See ``disburse.core.audit``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""


def downgrade() -> None:
    """Revert this revision."""
