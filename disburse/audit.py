"""The audit trail: an append-only, hash-chained log of every state change.

Each entry stores the SHA-256 of the previous entry, so editing, deleting or inserting a row
anywhere breaks the chain from that point on. ``verify_chain`` walks it and names the first
broken entry. Entries are written in the same transaction as the change they describe.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from disburse.clock import utcnow
from disburse.db import Base, UTCDateTime

GENESIS_HASH = "0" * 64


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


def entry_digest(
    *, seq: int, at: datetime, actor: str, action: str, object_type: str, object_id: str,
    detail: dict[str, Any], prev_hash: str,
) -> str:
    """Return the SHA-256 (hex) of an entry's canonical JSON form."""
    body = {
        "seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor,
        "action": action, "object_type": object_type, "object_id": object_id,
        "detail": detail, "prev_hash": prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record(
    session: Session, *, actor: str, action: str, object_type: str, object_id: object,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry to the audit trail in the caller's transaction.

    The chain tip is read with a row lock, so concurrent writers queue instead of forking the
    chain; the UNIQUE constraint on ``prev_hash`` is the backstop.
    """
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
    entry = AuditEntry(**fields, entry_hash=entry_digest(**fields))
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


def verify_chain(session: Session) -> ChainReport:
    """Walk the whole chain in order and return the first entry that does not hold.

    An entry fails when its sequence number skips, when its ``prev_hash`` is not the previous
    entry's hash, or when its stored hash is not the hash of its content; the tip recorded in
    ``audit_head`` must equal the last entry.
    """
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    for entry in _entries(session):
        reason = _check_entry(entry, expected_seq, expected_prev)
        if reason:
            # A gap is reported at the missing sequence number, anything else at the entry.
            where = expected_seq if entry.seq != expected_seq else entry.seq
            return ChainReport(checked, ChainBreak(where, reason))
        expected_prev, expected_seq, checked = entry.entry_hash, entry.seq + 1, checked + 1
    head = session.get(AuditHead, 1)
    tip = (head.seq, head.entry_hash) if head else (0, GENESIS_HASH)
    if tip != (expected_seq - 1, expected_prev):
        missing = ChainBreak(expected_seq, "entries after this point are missing")
        return ChainReport(checked, missing)
    return ChainReport(checked, None)


def _check_entry(entry: AuditEntry, expected_seq: int, expected_prev: str) -> str | None:
    if entry.seq != expected_seq:
        return f"entry {expected_seq} is missing (next found is {entry.seq})"
    if entry.prev_hash != expected_prev:
        return "previous-hash link does not match the entry before it"
    actual = entry_digest(
        seq=entry.seq, at=entry.at, actor=entry.actor, action=entry.action,
        object_type=entry.object_type, object_id=entry.object_id, detail=entry.detail,
        prev_hash=entry.prev_hash,
    )
    if actual != entry.entry_hash:
        return "content was changed after it was written (hash does not match)"
    return None
