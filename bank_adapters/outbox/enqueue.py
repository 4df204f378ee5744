"""Putting a batch into the outbox: one ``pending`` submission per payment file, listing them.

``enqueue_batch`` works in the caller's transaction and moves the batch to ``submitted``;
nothing leaves the process here (``delivery`` sends).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bank_adapters.models import (
    Submission,
    SubmissionEvent,
    SubmissionState,
)
from bank_adapters.outbox.changes import audit_change
from bank_adapters.protocol import (
    OutgoingFile,
)
from disburse.core.clock import utcnow
from disburse.core.errors import Conflict
from disburse.core.signing import manifest_path, signature_path
from disburse.payments.lifecycle import BatchAction
from disburse.payments.models import PaymentFile
from disburse.payments.state import apply_action, load_for_update
from disburse.payments.storage import payment_file_path

S, E = SubmissionState, SubmissionEvent


def outgoing_file(payment_file: PaymentFile, files_root: Path) -> OutgoingFile:
    """Return the paths of a payment file, its ``.sig`` and manifest (``payment_file_path``)."""
    path = payment_file_path(payment_file, files_root)
    return OutgoingFile(path=path, signature_path=signature_path(path),
                        manifest_path=manifest_path(path), msg_id=payment_file.msg_id,
                        route=payment_file.route)


def enqueue_batch(session: Session, batch_id: int, *, actor: str) -> list[Submission]:
    """Record a pending submission for every payment file of a batch; the batch is submitted.

    Runs in the caller's transaction (the entry point commits): the rows exist before
    anything is sent, and the batch moves ``files_ready`` -> ``submitted`` with them.

    Raises:
        NotFound: no such batch.
        InvalidTransition: the batch is not ``files_ready``.
        Conflict: the batch has no payment files.
    """
    batch = load_for_update(session, batch_id)
    files = session.execute(select(PaymentFile).where(PaymentFile.batch_id == batch_id)
                            .order_by(PaymentFile.route, PaymentFile.part_no)).scalars().all()
    if not files:
        raise Conflict(f"batch {batch_id} has no payment files to send")
    apply_action(session, batch, BatchAction.SEND, actor=actor,
                 detail={"payment_files": len(files)})
    now = utcnow()
    rows = [Submission(payment_file_id=f.id, batch_id=batch_id, route=f.route, msg_id=f.msg_id,
                       state=S.PENDING.value, attempts=0, created_at=now, updated_at=now)
            for f in files]
    session.add_all(rows)
    session.flush()
    for row in rows:
        audit_change(session, actor, row, None, S.PENDING,
                     {"payment_file_id": row.payment_file_id})
    return rows


def list_submissions(session: Session, *, batch_id: int | None = None,
                     state: str | None = None) -> list[Submission]:
    """Return submissions (optionally of one batch, or in one state), oldest first."""
    query = select(Submission).order_by(Submission.id)
    if batch_id is not None:
        query = query.where(Submission.batch_id == batch_id)
    if state is not None:
        query = query.where(Submission.state == state)
    return list(session.execute(query).scalars())
