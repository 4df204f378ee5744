"""Loading batches for change, moving them through the lifecycle, and their content hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from disburse import audit
from disburse.batches.lifecycle import BatchAction, BatchState, next_state
from disburse.batches.models import Batch, Instruction
from disburse.clock import utcnow
from disburse.errors import NotFound


def load_for_update(session: Session, batch_id: int) -> Batch:
    """Return the batch locked for update (concurrent changers queue behind the lock).

    Raises:
        NotFound: no such batch.
    """
    batch = session.execute(
        select(Batch).where(Batch.id == batch_id).with_for_update()
    ).scalar_one_or_none()
    if batch is None:
        raise NotFound(f"no batch {batch_id}")
    return batch


def apply_action(session: Session, batch: Batch, action: BatchAction, *, actor: str,
                 detail: dict[str, Any] | None = None) -> BatchState:
    """Move ``batch`` by ``action`` (per the state table), bump its version and audit it.

    Raises:
        InvalidTransition: the table does not allow it from the current state.
    """
    before = batch.state
    after = next_state(before, action)
    batch.state = after.value
    batch.version += 1
    batch.updated_at = utcnow()
    session.flush()
    audit.record(session, actor=actor, action=f"batch.{action.value}", object_type="batch",
                 object_id=batch.id,
                 detail={"from": before, "to": after.value, **(detail or {})})
    return after


@dataclass(frozen=True)
class BatchDigest:
    """The content hash of a batch's ordered instruction list, with its count and total."""

    sha256: str
    count: int
    total: int


def _line(i: Any) -> bytes:
    fields = (i.seq, i.end_to_end_id, i.beneficiary_id, i.amount, i.base_amount,
              i.arrears_amount, i.channel, i.route, i.bank_bin or "", i.account_idx or "",
              i.creditor_name, i.province_code, i.commune_code)
    return ("|".join(str(f) for f in fields) + "\n").encode("utf-8")


def batch_digest(session: Session, batch_id: int, *, chunk: int = 20_000) -> BatchDigest:
    """Hash the batch's instructions (ordered by seq) with SHA-256; streams in chunks.

    Any change to an amount, a creditor, an account, a route or the set of instructions
    changes the hash, so an approval pinned to it is void.
    """
    digest, count, total, last = hashlib.sha256(), 0, 0, -1
    columns = (Instruction.seq, Instruction.end_to_end_id, Instruction.beneficiary_id,
               Instruction.amount, Instruction.base_amount, Instruction.arrears_amount,
               Instruction.channel, Instruction.route, Instruction.bank_bin,
               Instruction.account_idx, Instruction.creditor_name, Instruction.province_code,
               Instruction.commune_code)
    while True:
        rows = session.execute(
            select(*columns).where(Instruction.batch_id == batch_id, Instruction.seq > last)
            .order_by(Instruction.seq).limit(chunk)).all()
        if not rows:
            return BatchDigest(digest.hexdigest(), count, total)
        for row in rows:
            digest.update(_line(row))
            count += 1
            total += row.amount
        last = rows[-1].seq
