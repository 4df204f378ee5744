"""personal data: e-wallet numbers encrypted, encrypted stored originals

Phone numbers (the wallet numbers of e-wallet recipients) move from the plaintext
``beneficiaries.phone`` into the ciphertext column ``phone_enc``, sealed with the keyring like
account numbers, and the plaintext column is dropped. Phone changes written to the history in
plain text are replaced by ``"changed"``, as account changes always were.

Encrypting needs the keyring, which a schema migration normally does without. This one loads
it only when there is something to encrypt (or, going down, to decrypt): a database with no
phone number migrates without keys. Otherwise the keyring comes from the Alembic config
attribute ``keyring``, else the running application's (``disburse db upgrade``), else the
``DISBURSE_KEY_DIR`` directory; if none can be loaded the migration stops with a message
saying so and changes nothing (it runs in one transaction), so plaintext is never dropped
unencrypted and never kept beside its ciphertext.

Stored import files (originals, rejected-rows workbooks, reports) are sealed by the service
from this release on; no column changes for them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 2000
_FIELD = "phone"


def _keyring(why: str) -> Any:
    """The keyring, or a clear error naming what to set (nothing has been changed yet)."""
    from disburse.core.config import Settings
    from disburse.core.errors import ConfigurationError
    from disburse.core.keyring import Keyring

    given = context.config.attributes.get("keyring") if context.config else None
    if given is not None:
        return given
    try:
        from flask import has_app_context

        if has_app_context():
            from disburse.entry.context import services

            return services().keyring()
        return Keyring.load(Settings.from_env().key_dir)
    except ConfigurationError as error:
        raise ConfigurationError(
            f"migration 0008 must {why} and needs the keyring: {error.detail}") from None


def _convert(source: str, target: str, change: Callable[[Any, Any], Any]) -> None:
    """Write ``change(keyring, value)`` of every non-null ``source`` into ``target``, by id."""
    bind = op.get_bind()
    table = sa.table('beneficiaries', sa.column('id', sa.Integer()),
                     sa.column(source), sa.column(target))
    if bind.execute(sa.select(table.c.id).where(table.c[source].is_not(None)).limit(1)
                    ).first() is None:
        return
    keyring = _keyring("encrypt the phone numbers already stored" if target == 'phone_enc'
                       else "decrypt the phone numbers to go back to plain text")
    statement = (sa.update(table).where(table.c.id == sa.bindparam('_id'))
                 .values({target: sa.bindparam('_value')}))
    last = 0
    while True:
        rows = bind.execute(sa.select(table.c.id, table.c[source])
                            .where(table.c[source].is_not(None), table.c.id > last)
                            .order_by(table.c.id).limit(_CHUNK)).all()
        if not rows:
            return
        bind.execute(statement, [{'_id': pk, '_value': change(keyring, value)}
                                 for pk, value in rows])
        last = rows[-1][0]


def _scrub_history() -> None:
    """Replace plaintext phone changes in the history by ``"changed"``."""
    bind = op.get_bind()
    history = sa.table('beneficiary_history', sa.column('id', sa.Integer()),
                       sa.column('changed', sa.JSON()))
    rows = bind.execute(sa.select(history.c.id, history.c.changed).where(
        sa.cast(history.c.changed, sa.Text()).like('%"phone"%'))).all()
    updates = [{'_id': pk, '_changed': {**changed, 'phone': 'changed'}}
               for pk, changed in rows
               if isinstance(changed, dict) and isinstance(changed.get('phone'), dict)]
    if updates:
        bind.execute(sa.update(history).where(history.c.id == sa.bindparam('_id'))
                     .values(changed=sa.bindparam('_changed', type_=sa.JSON())), updates)


def _drop_column(name: str) -> None:
    """Drop a plain column of ``beneficiaries`` in place.

    Not a batch (copy-and-move) operation on SQLite: dropping the old table would break the
    foreign keys of the history and the payment instructions that point at it, and the
    column has no index or constraint, so SQLite's own ``DROP COLUMN`` (3.35+) does it.
    """
    op.drop_column('beneficiaries', name)


def upgrade() -> None:
    """Encrypt the phone numbers into ``phone_enc`` and drop the plaintext column."""
    with op.batch_alter_table('beneficiaries') as batch:
        batch.add_column(sa.Column('phone_enc', sa.LargeBinary(), nullable=True))
    _convert('phone', 'phone_enc', lambda keyring, plain: keyring.encrypt(_FIELD, plain))
    _scrub_history()
    _drop_column('phone')


def downgrade() -> None:
    """Decrypt the phone numbers back into ``phone`` (history scrubs stay scrubbed)."""
    with op.batch_alter_table('beneficiaries') as batch:
        batch.add_column(sa.Column('phone', sa.String(length=15), nullable=True))
    _convert('phone_enc', 'phone', lambda keyring, blob: keyring.decrypt(_FIELD, blob))
    _drop_column('phone_enc')
