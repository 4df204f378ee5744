"""The reconciliation exceptions queue: list, resolve (auditors, with a note), and closing.

Every return record that was not applied automatically, and every part of a file that could
not be read, sits here until an auditor (or an admin) resolves it with a note; each
resolution is audited. A settled batch is closed only when no open exception concerns any
of its instructions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from disburse.core import audit
from disburse.core.clock import utcnow
from disburse.core.errors import Conflict, NotFound, ValidationFailed
from disburse.core.users import Role, require_role
from disburse.payments.lifecycle import BatchAction
from disburse.payments.models import Instruction
from disburse.payments.state import apply_action, load_for_update
from reconciliation.matching import CONTESTING
from reconciliation.models import ExceptionState, ReconciliationException, ReturnRecordRow

MAX_PER_PAGE = 500
_CONTESTING = frozenset(kind.value for kind in CONTESTING)
_OPEN_SCAN = 2000


def _item(exc: ReconciliationException, record: ReturnRecordRow | None) -> dict[str, Any]:
    return {
        "id": exc.id, "kind": exc.kind, "state": exc.state,
        "return_file_id": exc.return_file_id, "return_record_id": exc.return_record_id,
        "end_to_end_id": record.end_to_end_id if record else None,
        "msg_id": record.msg_id if record else None,
        "amount": record.amount if record else None,
        "status": record.status if record else None,
        "reason_code": record.reason_code if record else None,
        "candidate_ids": list(exc.candidate_ids or []), "detail": exc.detail,
        "created_at": exc.created_at.isoformat(),
        "resolution_note": exc.resolution_note, "resolved_by": exc.resolved_by,
        "resolved_at": exc.resolved_at.isoformat() if exc.resolved_at else None,
    }


def list_exceptions(session: Session, *, state: ExceptionState | str | None = ExceptionState.OPEN,
                    kind: str | None = None, page: int = 1, per_page: int = 50
                    ) -> dict[str, Any]:
    """Return one page of the exceptions queue, oldest first.

    Args:
        session: A session.
        state: ``open``, ``resolved``, or None for both.
        kind: Only this kind (e.g. ``amount_mismatch``).
        page: 1-based page number.
        per_page: Items per page (at most 500).

    Returns:
        ``{"total", "page", "per_page", "items"}``; each item carries the record's
        EndToEndId, MsgId, amount, status and reason code when there is a record.
    """
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    conditions = []
    if state is not None:
        conditions.append(ReconciliationException.state == ExceptionState(state).value)
    if kind is not None:
        conditions.append(ReconciliationException.kind == kind)
    total = session.execute(select(func.count()).select_from(ReconciliationException)
                            .where(*conditions)).scalar_one()
    rows = session.execute(
        select(ReconciliationException, ReturnRecordRow)
        .outerjoin(ReturnRecordRow,
                   ReturnRecordRow.id == ReconciliationException.return_record_id)
        .where(*conditions).order_by(ReconciliationException.id)
        .limit(per_page).offset((max(page, 1) - 1) * per_page)).tuples()
    return {"total": total, "page": max(page, 1), "per_page": per_page,
            "items": [_item(exc, record) for exc, record in rows]}


def resolve_exception(session: Session, exception_id: int, *, actor: str, note: str
                      ) -> dict[str, Any]:
    """Resolve one open exception with a note (auditor or admin only); audited.

    Args:
        session: The caller's session.
        exception_id: The exception.
        actor: The resolving user; must be an active auditor or admin.
        note: Why it is resolved (required, not blank).

    Returns:
        The resolved exception as a list item.

    Raises:
        ValidationFailed: the note is blank.
        NotFound: no such exception (or user).
        Forbidden: the user is not an active auditor or admin.
        Conflict: it is already resolved.
    """
    if not note or not note.strip():
        raise ValidationFailed("a resolution note is required")
    require_role(session, actor, Role.AUDITOR, Role.ADMIN)
    exc = session.execute(select(ReconciliationException).where(
        ReconciliationException.id == exception_id).with_for_update()).scalar_one_or_none()
    if exc is None:
        raise NotFound(f"no reconciliation exception {exception_id}")
    if exc.state != ExceptionState.OPEN.value:
        raise Conflict(f"exception {exception_id} is already {exc.state}")
    exc.state = ExceptionState.RESOLVED.value
    exc.resolution_note = note.strip()[:1000]
    exc.resolved_by = actor
    exc.resolved_at = utcnow()
    session.flush()
    audit.record(session, actor=actor, action="reconciliation.resolve_exception",
                 object_type="reconciliation_exception", object_id=exc.id,
                 detail={"kind": exc.kind, "note": exc.resolution_note,
                         "return_record_id": exc.return_record_id})
    if exc.kind in _CONTESTING:
        _release_held(session, list(exc.candidate_ids or []))
    record = session.get(ReturnRecordRow, exc.return_record_id) if exc.return_record_id else None
    return _item(exc, record)


def _release_held(session: Session, instruction_ids: list[int]) -> None:
    """Lift the hold of instructions with no open contesting exception left."""
    still = set()
    for candidates in session.execute(
            select(ReconciliationException.candidate_ids)
            .where(ReconciliationException.state == ExceptionState.OPEN.value,
                   ReconciliationException.kind.in_(sorted(_CONTESTING)))).scalars():
        still.update(candidates or [])
    released = [i for i in instruction_ids if i not in still]
    if released:
        session.execute(update(Instruction).where(Instruction.id.in_(released))
                        .values(contested=False).execution_options(synchronize_session=False))


def open_exceptions_for_batch(session: Session, batch_id: int) -> list[int]:
    """Ids of the open exceptions that concern an instruction of the batch.

    An exception concerns an instruction when it names it as a candidate or its record was
    matched to it.
    """
    members = set(session.execute(select(Instruction.id)
                                  .where(Instruction.batch_id == batch_id)).scalars())
    found = set(session.execute(
        select(ReconciliationException.id)
        .join(ReturnRecordRow, ReturnRecordRow.id == ReconciliationException.return_record_id)
        .join(Instruction, Instruction.id == ReturnRecordRow.matched_instruction_id)
        .where(ReconciliationException.state == ExceptionState.OPEN.value,
               Instruction.batch_id == batch_id)).scalars())
    # Candidate ids are JSON: scan the open queue in chunks (it is small by design).
    query = (select(ReconciliationException.id, ReconciliationException.candidate_ids)
             .where(ReconciliationException.state == ExceptionState.OPEN.value)
             .execution_options(yield_per=_OPEN_SCAN))
    for exc_id, candidates in session.execute(query).tuples():
        if members.intersection(candidates or []):
            found.add(exc_id)
    return sorted(found)


def close_batch(session: Session, batch_id: int, *, actor: str) -> str:
    """Close a settled batch (settled -> closed) once no open exception concerns it.

    Args:
        session: The caller's session.
        batch_id: The batch.
        actor: Who closes it (audited by the batch transition).

    Returns:
        The new state, ``closed``.

    Raises:
        NotFound: no such batch.
        Conflict: open exceptions still concern its instructions.
        InvalidTransition: the batch is not settled.
    """
    batch = load_for_update(session, batch_id)
    blocking = open_exceptions_for_batch(session, batch_id)
    if blocking:
        raise Conflict(f"batch {batch_id} has {len(blocking)} open reconciliation exceptions "
                       f"(ids {', '.join(map(str, blocking[:20]))})", exception_ids=blocking)
    return apply_action(session, batch, BatchAction.CLOSE, actor=actor).value
