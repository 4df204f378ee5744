"""The audit trail: an append-only, keyed hash chain of every state change.

Each entry stores the hash of the previous entry, so editing, deleting or inserting a row
anywhere breaks the chain from that point on. The entry hash is an HMAC-SHA256 keyed with the
audit key from the keyring (``keyring.AuditMacKey``): someone who can write the database but
cannot read the key directory cannot rewrite the chain and recompute the hashes. A truncated
tail with the head moved back is caught by a signed checkpoint of the head
(``disburse.core.audit_checkpoint``). ``verify_chain`` walks the chain and names the first broken
entry. Entries are written in the same transaction as the change they describe.

Chains written before the key existed stay verifiable: the key file records the last unkeyed
entry (``legacy_until``) and its hash, entries up to it are checked with plain SHA-256, and
every later entry must carry the HMAC.

Where the key comes from: the session's ``info[KEY_SOURCE]`` (the application's session
factory puts a ``KeyringKeySource`` there), else the process default set with
``set_default_key_source`` (scripts and tests), else the keyring named by ``DISBURSE_KEY_DIR``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from disburse.core.clock import utcnow
from disburse.core.db import Base, UTCDateTime
from disburse.core.keyring import AuditMacKey, create_audit_key, load_audit_key

GENESIS_HASH = "0" * 64
#: ``Session.info`` key of the callable that returns the audit MAC key for that session.
KEY_SOURCE = "disburse.audit_key_source"

AuditKeySource = Callable[[Session], AuditMacKey]


class AuditEntry(Base):
    """One audit-trail entry; never updated or deleted (triggers refuse both)."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                     primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(80), index=True)
    object_type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str] = mapped_column(String(120), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """A single row holding the chain's tip; locking it serialises writers."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(String(64))


def _canonical(
    *, seq: int, at: datetime, actor: str, action: str, object_type: str, object_id: str,
    detail: dict[str, Any], prev_hash: str,
) -> bytes:
    body = {
        "seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor,
        "action": action, "object_type": object_type, "object_id": object_id,
        "detail": detail, "prev_hash": prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return canonical.encode("utf-8")


def entry_digest(
    *, seq: int, at: datetime, actor: str, action: str, object_type: str, object_id: str,
    detail: dict[str, Any], prev_hash: str,
) -> str:
    """Return the unkeyed SHA-256 (hex) of an entry's canonical JSON form (legacy entries)."""
    return hashlib.sha256(_canonical(
        seq=seq, at=at, actor=actor, action=action, object_type=object_type,
        object_id=object_id, detail=detail, prev_hash=prev_hash)).hexdigest()


def entry_mac(
    key: bytes, *, seq: int, at: datetime, actor: str, action: str, object_type: str,
    object_id: str, detail: dict[str, Any], prev_hash: str,
) -> str:
    """Return the HMAC-SHA256 (hex) keyed with ``key`` of an entry's canonical JSON form."""
    return hmac.new(key, _canonical(
        seq=seq, at=at, actor=actor, action=action, object_type=object_type,
        object_id=object_id, detail=detail, prev_hash=prev_hash), hashlib.sha256).hexdigest()


# --- where the key comes from ----------------------------------------------------------------


class KeyringKeySource:
    """Returns the audit MAC key of a keyring directory, creating it on first use.

    A keyring made before the audit chain was keyed has no ``audit.key``: the first entry point
    that needs it creates it, recording the chain's current head as the end of the unkeyed
    part (``disburse keys init`` on that keyring does the same explicitly).
    """

    def __init__(self, key_dir: Path) -> None:
        """Serve the key kept in ``key_dir``."""
        self.key_dir = key_dir
        self._key: AuditMacKey | None = None
        self._lock = threading.Lock()

    def __call__(self, session: Session) -> AuditMacKey:
        """Return the key, loading or creating it once per process."""
        with self._lock:
            if self._key is None:
                self._key = load_audit_key(self.key_dir) or self._create(session)
            return self._key

    def _create(self, session: Session) -> AuditMacKey:
        seq, entry_hash = chain_head(session)
        return create_audit_key(self.key_dir, legacy_until=seq, legacy_head=entry_hash)


def fixed_key_source(key: bytes) -> AuditKeySource:
    """Return a source that always gives ``key`` with no unkeyed part (tests and scripts)."""
    fixed = AuditMacKey(key, 0, GENESIS_HASH)
    return lambda _session: fixed


_default_source: AuditKeySource | None = None


def set_default_key_source(source: AuditKeySource | None) -> None:
    """Set the key source used by sessions that carry none in their ``info``."""
    global _default_source
    _default_source = source


def mac_key(session: Session) -> AuditMacKey:
    """Return the audit MAC key for ``session`` (see the module docstring for the order).

    Raises:
        ConfigurationError: no key source and no keyring to take the key from.
    """
    source: AuditKeySource | None = session.info.get(KEY_SOURCE) or _default_source
    if source is None:
        from disburse.core.config import Settings

        source = KeyringKeySource(Settings.from_env().key_dir)
    return source(session)


def chain_head(session: Session) -> tuple[int, str]:
    """Return the sequence number and hash of the chain's last entry ((0, genesis) if none)."""
    head = session.get(AuditHead, 1)
    return (head.seq, head.entry_hash) if head is not None else (0, GENESIS_HASH)


def record(
    session: Session, *, actor: str, action: str, object_type: str, object_id: object,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry to the audit trail in the caller's transaction.

    The chain tip is read with a row lock, so concurrent writers queue instead of forking the
    chain; the UNIQUE constraint on ``prev_hash`` is the backstop. The entry hash is keyed
    with the audit MAC key (``mac_key``).

    Raises:
        ConfigurationError: the audit MAC key cannot be had (no keyring).
    """
    key = mac_key(session)
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, entry_hash=GENESIS_HASH)
        session.add(head)
        session.flush()
    at = utcnow()
    payload = json.loads(json.dumps(detail or {}, default=str, ensure_ascii=False))
    fields: dict[str, Any] = {
        "seq": head.seq + 1, "at": at, "actor": actor, "action": action,
        "object_type": object_type, "object_id": str(object_id), "detail": payload,
        "prev_hash": head.entry_hash,
    }
    entry = AuditEntry(**fields, entry_hash=entry_mac(key.key, **fields))
    session.add(entry)
    session.execute(
        update(AuditHead).where(AuditHead.id == 1)
        .values(seq=entry.seq, entry_hash=entry.entry_hash)
        .execution_options(synchronize_session=False)
    )
    session.expire(head)  # the ORM copy of the tip is stale now; reload it on next use
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainBreak:
    """Where and why the audit chain stops holding."""

    seq: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    """The result of walking the chain: how many entries held, and the first break."""

    checked: int
    broken: ChainBreak | None


def _entries(session: Session, chunk: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(chunk)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify_chain(session: Session, key: AuditMacKey | None = None) -> ChainReport:
    """Walk the whole chain in order and return the first entry that does not hold.

    An entry fails when its sequence number skips, when its ``prev_hash`` is not the previous
    entry's hash, or when its stored hash is not the HMAC of its content (the SHA-256 for the
    unkeyed entries before the key's switch point, the last of which must still have the hash
    recorded with the key); the tip recorded in ``audit_head`` must equal the last entry.

    Args:
        session: where the chain is.
        key: the audit MAC key (default: ``mac_key(session)``).
    """
    key = key if key is not None else mac_key(session)
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    for entry in _entries(session):
        reason = _check_entry(entry, expected_seq, expected_prev, key)
        if reason:
            # A gap is reported at the missing sequence number, anything else at the entry.
            where = expected_seq if entry.seq != expected_seq else entry.seq
            return ChainReport(checked, ChainBreak(where, reason))
        expected_prev, expected_seq, checked = entry.entry_hash, entry.seq + 1, checked + 1
    if expected_seq - 1 < key.legacy_until:
        return ChainReport(checked, ChainBreak(
            expected_seq, "entries are missing: the chain is shorter than when it was keyed"))
    if chain_head(session) != (expected_seq - 1, expected_prev):
        missing = ChainBreak(expected_seq, "entries after this point are missing")
        return ChainReport(checked, missing)
    return ChainReport(checked, None)


def _check_entry(entry: AuditEntry, expected_seq: int, expected_prev: str,
                 key: AuditMacKey) -> str | None:
    if entry.seq != expected_seq:
        return f"entry {expected_seq} is missing (next found is {entry.seq})"
    if entry.prev_hash != expected_prev:
        return "previous-hash link does not match the entry before it"
    fields: dict[str, Any] = {
        "seq": entry.seq, "at": entry.at, "actor": entry.actor, "action": entry.action,
        "object_type": entry.object_type, "object_id": entry.object_id,
        "detail": entry.detail, "prev_hash": entry.prev_hash,
    }
    if entry.seq > key.legacy_until:
        if not hmac.compare_digest(entry_mac(key.key, **fields), entry.entry_hash):
            return "content was changed after it was written (keyed hash does not match)"
        return None
    if entry_digest(**fields) != entry.entry_hash:
        return "content was changed after it was written (hash does not match)"
    if entry.seq == key.legacy_until and entry.entry_hash != key.legacy_head:
        return "the unkeyed part of the chain was rewritten after the key was created"
    return None
