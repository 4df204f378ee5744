"""Maker-checker: submitting, approving, rejecting, cancelling and editing a batch.

Rules kept here:

- Only the batch's preparer (or an admin) submits, edits or cancels it as the maker; only a
  user with the approver role who is *not* the preparer approves it.
- An approval pins the batch hash (``state.batch_digest``), count and total. Approving
  re-computes the hash and refuses when it differs from what was submitted.
- Any edit after approval voids the approval (``Approval.voided_at``) and sends the batch back
  to draft. ``current_approval`` is what file writing checks before it writes a byte.
- Cancelling deletes the instructions of the never-sent batch (and their arrears carries), so
  the UNIQUE (beneficiary, programme, period) slots are free for a rebuild; the batch row keeps
  its count, total and hash, and the audit entry lists them. The state table refuses a cancel
  once the batch has been submitted to the bank.
- Two approvers racing: the batch row lock plus the state check let exactly one through; the
  other gets ``InvalidTransition``.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from disburse.core import audit
from disburse.core.clock import utcnow
from disburse.core.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from disburse.core.users import Role, require_role
from disburse.payments.lifecycle import BatchAction, BatchState, next_state
from disburse.payments.models import Approval, ArrearsCarry, Batch, Instruction
from disburse.payments.state import BatchDigest, apply_action, batch_digest, load_for_update

MIN_REASON_LENGTH: Final = 5
#: States in which a preparer may still change instructions (the last two void the approval).
EDIT_STATES: Final = frozenset({BatchState.DRAFT, BatchState.PENDING_APPROVAL,
                                BatchState.APPROVED, BatchState.FILES_READY})
_VOIDING_STATES: Final = frozenset({BatchState.APPROVED, BatchState.FILES_READY})


def hold_writer_lock(session: Session) -> None:
    """On SQLite, make the current transaction the database's writer before it reads.

    SQLite has no row locks, and a transaction that has already read cannot wait for the write
    lock: it fails at once with "database is locked". A no-op write as the transaction's first
    statement makes it queue (up to the busy timeout) instead, so concurrent changers run one
    after the other. PostgreSQL has real row locks (``load_for_update``); nothing is done there.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Batch).where(Batch.id == -1).values(version=Batch.version))


def _lock(session: Session, batch_id: int) -> Batch:
    hold_writer_lock(session)
    return load_for_update(session, batch_id)


def _digest_detail(digest: BatchDigest) -> dict[str, Any]:
    return {"hash": digest.sha256, "count": digest.count, "total": digest.total}


def _check_reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if len(text) < MIN_REASON_LENGTH:
        raise ValidationFailed(f"{what} needs a reason of at least {MIN_REASON_LENGTH} "
                               "characters")
    return text


def _require_maker(session: Session, batch: Batch, actor: str, doing: str) -> None:
    user = require_role(session, actor, Role.PREPARER, Role.ADMIN)
    if user.role != Role.ADMIN.value and actor != batch.preparer:
        raise Forbidden(f"only the batch's preparer ({batch.preparer}) or an admin may {doing} "
                        f"batch {batch.id}")


def _store_digest(session: Session, batch: Batch) -> BatchDigest:
    digest = batch_digest(session, batch.id)
    batch.count, batch.total, batch.content_hash = digest.count, digest.total, digest.sha256
    session.flush()
    return digest


def _submitted_digest(session: Session, batch: Batch) -> BatchDigest:
    """Return the digest to pin on submission, recomputing it unless it cannot be stale.

    A batch at version 1 has never left draft: its stored hash is the one the build computed
    from the rows it inserted, refreshed by every draft edit. After a round trip through
    approval (version > 1) an edit may have kept the submitted hash on purpose, so it is
    recomputed. The approver recomputes it in any case and refuses a mismatch.
    """
    if batch.version == 1:
        return BatchDigest(batch.content_hash, batch.count, batch.total)
    return _store_digest(session, batch)


def submit_batch(session: Session, batch_id: int, *, actor: str) -> Batch:
    """Ask for approval: draft -> pending_approval, pinning the current hash on the batch.

    Raises:
        NotFound: no such batch. Forbidden: not the preparer or an admin.
        InvalidTransition: not a draft. Conflict: the batch has no instructions.
    """
    batch = _lock(session, batch_id)
    _require_maker(session, batch, actor, "submit")
    next_state(batch.state, BatchAction.SUBMIT)
    digest = _submitted_digest(session, batch)
    if digest.count == 0:
        raise Conflict(f"batch {batch_id} has no instructions left to pay")
    apply_action(session, batch, BatchAction.SUBMIT, actor=actor, detail=_digest_detail(digest))
    return batch


def approve_batch(session: Session, batch_id: int, *, actor: str) -> Approval:
    """Approve a pending batch as the checker, pinning its hash, count and total.

    Raises:
        NotFound: no such batch or user.
        Forbidden: the actor prepared the batch, or does not hold the approver role.
        InvalidTransition: the batch is not pending approval (e.g. a racing approver won).
        Conflict: the content changed since it was submitted.
    """
    batch = _lock(session, batch_id)
    if actor == batch.preparer:
        raise Forbidden(f"user {actor!r} prepared batch {batch_id} and cannot approve it "
                        "(maker-checker: approval needs a second person)")
    require_role(session, actor, Role.APPROVER)
    next_state(batch.state, BatchAction.APPROVE)
    digest = batch_digest(session, batch_id)
    if digest.sha256 != batch.content_hash:
        raise Conflict(f"batch {batch_id} changed after it was submitted (hash "
                       f"{digest.sha256[:12]}… is not the submitted {batch.content_hash[:12]}…); "
                       "reject it so the preparer can check and resubmit")
    approval = Approval(batch_id=batch_id, approver=actor, batch_hash=digest.sha256,
                        count=digest.count, total=digest.total, at=utcnow())
    session.add(approval)
    session.flush()
    apply_action(session, batch, BatchAction.APPROVE, actor=actor,
                 detail={**_digest_detail(digest), "approval_id": approval.id})
    return approval


def reject_batch(session: Session, batch_id: int, *, actor: str, reason: str) -> Batch:
    """Send a pending batch back to draft with the checker's reason.

    Raises:
        ValidationFailed: reason shorter than 5 characters. Forbidden: not an approver/admin.
        InvalidTransition: the batch is not pending approval.
    """
    text = _check_reason(reason, "rejecting a batch")
    batch = _lock(session, batch_id)
    require_role(session, actor, Role.APPROVER, Role.ADMIN)
    batch.reason = text
    apply_action(session, batch, BatchAction.REJECT, actor=actor, detail={"reason": text})
    return batch


def _void_approvals(session: Session, batch: Batch, reason: str) -> list[int]:
    live = list(session.execute(select(Approval).where(
        Approval.batch_id == batch.id, Approval.voided_at.is_(None))).scalars())
    for approval in live:
        approval.voided_at = utcnow()
        approval.void_reason = reason[:300]
    session.flush()
    return [a.id for a in live]


def cancel_batch(session: Session, batch_id: int, *, actor: str, reason: str) -> Batch:
    """Cancel a batch that was never submitted to a bank, freeing its beneficiaries' slots.

    The instructions (and the arrears they carried) are deleted so that a new batch can be
    built for the same programme and period; the batch keeps its count, total and hash.

    Raises:
        ValidationFailed: no reason. Forbidden: not the preparer, an approver or an admin.
        InvalidTransition: the batch was submitted already (or is cancelled).
    """
    text = _check_reason(reason, "cancelling a batch")
    batch = _lock(session, batch_id)
    user = require_role(session, actor, Role.PREPARER, Role.APPROVER, Role.ADMIN)
    if user.role == Role.PREPARER.value and actor != batch.preparer:
        raise Forbidden(f"only the batch's preparer ({batch.preparer}), an approver or an "
                        f"admin may cancel batch {batch_id}")
    next_state(batch.state, BatchAction.CANCEL)
    digest = batch_digest(session, batch_id)
    voided = _void_approvals(session, batch, f"batch cancelled: {text}")
    ids = select(Instruction.id).where(Instruction.batch_id == batch_id).scalar_subquery()
    session.execute(delete(ArrearsCarry).where(ArrearsCarry.to_instruction_id.in_(ids)))
    session.execute(delete(Instruction).where(Instruction.batch_id == batch_id))
    batch.reason = text
    apply_action(session, batch, BatchAction.CANCEL, actor=actor, detail={
        **_digest_detail(digest), "reason": text, "voided_approvals": voided,
        "deleted_instructions": digest.count})
    return batch


def edit_instruction(session: Session, instruction_id: int, *, actor: str,
                     amount: int | None = None, remove: bool = False, reason: str) -> Batch:
    """Change one instruction's amount, or remove it, as the batch's preparer.

    Allowed while the batch is draft, pending approval, approved or files ready. After
    approval the edit voids the approval and sends the batch back to draft. During approval the
    submitted hash is kept, so the approver is refused until the batch is resubmitted.

    Raises:
        ValidationFailed: no reason, both or neither of amount/remove, or an amount not above
            the instruction's arrears. NotFound: no such instruction. Forbidden: not the
            maker. InvalidTransition: the batch is past the point where it may change.
    """
    text = _check_reason(reason, "editing an instruction")
    if (amount is None) == (not remove):
        raise ValidationFailed("give either a new amount or remove, not both or neither")
    hold_writer_lock(session)
    instruction = session.get(Instruction, instruction_id)
    if instruction is None:
        raise NotFound(f"no payment instruction {instruction_id}")
    batch = load_for_update(session, instruction.batch_id)
    _require_maker(session, batch, actor, "edit")
    state = BatchState(batch.state)
    if state not in EDIT_STATES:
        raise InvalidTransition(f"cannot edit an instruction of batch {batch.id}: it is "
                                f"{state.value}")
    detail = _change(session, instruction, amount, text)
    audit.record(session, actor=actor, action="batch.edit_instruction", object_type="batch",
                 object_id=batch.id, detail=detail)
    if state in _VOIDING_STATES:
        voided = _void_approvals(session, batch, f"instruction {instruction_id} edited: {text}")
        digest = _store_digest(session, batch)
        apply_action(session, batch, BatchAction.VOID_APPROVAL, actor=actor,
                     detail={**_digest_detail(digest), "voided_approvals": voided,
                             "reason": text})
    elif state is BatchState.DRAFT:
        _store_digest(session, batch)
    return batch


def _change(session: Session, instruction: Instruction, amount: int | None,
            reason: str) -> dict[str, Any]:
    detail: dict[str, Any] = {"instruction_id": instruction.id,
                              "end_to_end_id": instruction.end_to_end_id,
                              "beneficiary_id": instruction.beneficiary_id,
                              "before": instruction.amount, "reason": reason}
    if amount is None:
        session.execute(delete(ArrearsCarry).where(
            ArrearsCarry.to_instruction_id == instruction.id))
        session.delete(instruction)
        session.flush()
        return {**detail, "after": None, "removed": True}
    if isinstance(amount, bool) or not isinstance(amount, int) \
            or amount <= instruction.arrears_amount:
        raise ValidationFailed(f"amount must be whole dong above the arrears of "
                               f"{instruction.arrears_amount:,}")
    instruction.base_amount = amount - instruction.arrears_amount
    instruction.amount = amount
    session.flush()
    return {**detail, "after": amount, "removed": False}


def current_approval(session: Session, batch_id: int) -> Approval | None:
    """Return the batch's live approval if the content still matches it; None if there is none.

    File writing calls this before writing: what is sent must be what was approved.

    Raises:
        Conflict: an approval exists but the batch's instructions no longer match its hash,
            count or total.
    """
    approval = live_approval(session, batch_id)
    if approval is None:
        return None
    check_approved(approval, batch_digest(session, batch_id))
    return approval


def live_approval(session: Session, batch_id: int) -> Approval | None:
    """Return the batch's newest unvoided approval, not yet checked against its content."""
    return session.execute(select(Approval).where(
        Approval.batch_id == batch_id, Approval.voided_at.is_(None))
        .order_by(Approval.id.desc()).limit(1)).scalar_one_or_none()


def check_approved(approval: Approval, digest: BatchDigest) -> None:
    """Refuse content (given by its digest) that is not what ``approval`` pinned.

    Raises:
        Conflict: the hash, count or total differ from the approval's.
    """
    pinned = (approval.batch_hash, approval.count, approval.total)
    if (digest.sha256, digest.count, digest.total) != pinned:
        raise Conflict(f"batch {approval.batch_id} no longer matches approval {approval.id}: "
                       f"approved {approval.count} instructions / {approval.total:,} VND (hash "
                       f"{approval.batch_hash[:12]}…), now {digest.count} / {digest.total:,} "
                       f"(hash {digest.sha256[:12]}…); it must be approved again")
