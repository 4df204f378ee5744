"""Which instructions the signing bank's records may touch, and the refusals of the rest.

A bank's word applies only to what was sent to that bank (a sent batch, a submission that
may have reached it, the bank's route); records that name anything else are refused and
queued. Also the instruction views the matcher replays, from their state before any return.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.orm import Session

from bank_adapters.models import MAY_HAVE_REACHED, Submission, on_route
from disburse.core.keyring import Keyring
from disburse.payments.lifecycle import SENT
from disburse.payments.models import Batch, Instruction, PaymentFile
from reconciliation.apply.bulk import RECORDS, chunks, executemany
from reconciliation.apply.exception_queue import ExceptionQueue, where_of
from reconciliation.apply.stored import account_indexes
from reconciliation.matching import (
    ExceptionKind,
    InstructionState,
    InstructionView,
)
from reconciliation.models import (
    InstructionEvent,
    QueueKind,
    RecordDecision,
)
from reconciliation.records import ReturnRecord

_SENT_BATCH = frozenset(state.value for state in SENT)
#: Why an instruction may not be touched by the signer's records (None: it may).
Scope = dict[int, ExceptionKind | None]


@dataclass(frozen=True)
class Signer:
    """The bank whose signature the file carried, and the route its payments went by."""

    bin: str
    route: str | None


def touched_views(session: Session, keyring: Keyring, new: Sequence[ReturnRecord],
                   signer: Signer
                   ) -> tuple[list[InstructionView], dict[int, InstructionState], Scope]:
    """Load the instructions the new records may concern, locked, with their base states
    and whether the signing bank may answer for each."""
    bank_bin = signer.bin
    e2e = sorted({r.end_to_end_id for r in new if r.end_to_end_id})
    msgs = sorted({r.msg_id for r in new
                   if r.end_to_end_id is None and r.group_status is not None and r.msg_id})
    fallback = [r for r in new if r.end_to_end_id is None and r.group_status is None]
    ids: set[int] = set()
    for chunk in chunks(e2e):
        ids.update(session.execute(select(Instruction.id)
                                   .where(Instruction.end_to_end_id.in_(chunk))).scalars())
    for chunk in chunks(msgs):
        ids.update(session.execute(select(Instruction.id).join(
            PaymentFile, PaymentFile.id == Instruction.payment_file_id)
            .where(PaymentFile.msg_id.in_(chunk))).scalars())
    indexes = sorted(account_indexes(keyring, bank_bin, fallback))
    amounts = sorted({r.amount for r in fallback if r.amount is not None})
    for chunk in chunks(indexes):
        ids.update(session.execute(select(Instruction.id).where(
            Instruction.account_idx.in_(chunk), Instruction.amount.in_(amounts))).scalars())
    views, scope = _load_views(session, keyring, sorted(ids), signer.route)
    return views, _base_states(session, views), scope


def _scope_of(batch_state: str, sent_by: str | None, submission_state: str | None,
              signer_route: str | None) -> ExceptionKind | None:
    """Whether the signing bank may answer for an instruction (None), or why not.

    It may when the instruction's batch was sent and its payment file was submitted (and
    may have reached the bank) by the route of the signing bank.
    """
    if (batch_state not in _SENT_BATCH or sent_by is None
            or submission_state not in MAY_HAVE_REACHED):
        return ExceptionKind.RECORD_FOR_UNSENT_INSTRUCTION
    if signer_route is None or not on_route(sent_by, signer_route):
        return ExceptionKind.RECORD_FROM_OTHER_BANK
    return None




def _load_views(session: Session, keyring: Keyring, ids: Sequence[int],
                signer_route: str | None) -> tuple[list[InstructionView], Scope]:
    views: list[InstructionView] = []
    scope: Scope = {}
    i = Instruction
    for chunk in chunks(ids):
        rows = session.execute(
            select(i.id, i.end_to_end_id, PaymentFile.msg_id, i.amount, i.account_enc,
                   i.bank_bin, i.state, Batch.requested_execution_date,
                   Batch.state.label("batch_state"), Submission.route.label("sent_by"),
                   Submission.state.label("submission_state"))
            .join(Batch, Batch.id == i.batch_id)
            .outerjoin(PaymentFile, PaymentFile.id == i.payment_file_id)
            .outerjoin(Submission, Submission.payment_file_id == i.payment_file_id)
            .where(i.id.in_(chunk)).order_by(i.id).with_for_update(of=i)).all()
        scope.update((row.id, _scope_of(row.batch_state, row.sent_by, row.submission_state,
                                        signer_route)) for row in rows)
        views.extend(InstructionView(
            instruction_id=row.id, end_to_end_id=row.end_to_end_id, msg_id=row.msg_id,
            amount=row.amount,
            account=keyring.decrypt("account_number", row.account_enc)
            if row.account_enc else None,
            bank_bin=row.bank_bin, current_state=InstructionState(row.state),
            bank_reference=None, requested_date=row.requested_execution_date)
            for row in rows)
    return views, scope


def refused_by_scope(new: Sequence[tuple[str, ReturnRecord]], views: Sequence[InstructionView],
             scope: Scope) -> dict[str, tuple[ReturnRecord, ExceptionKind, tuple[int, ...]]]:
    """The new records that may not touch the instructions they name, with the reason.

    A record naming an EndToEndId (or a whole file by MsgId) that only instructions outside
    the signer's scope carry is refused: another bank's payment, a payment never sent (a
    draft batch, say), or, when the record names a MsgId, another message than the payment
    file (or the one-transaction part an e-wallet receives, whose MsgId is the EndToEndId).
    Records that name nothing known are left to matching (``unknown_end_to_end_id``...).
    """
    by_e2e: dict[str, list[InstructionView]] = defaultdict(list)
    by_msg: dict[str, list[InstructionView]] = defaultdict(list)
    for view in views:
        by_e2e[view.end_to_end_id].append(view)
        if view.msg_id:
            by_msg[view.msg_id].append(view)
    refused: dict[str, tuple[ReturnRecord, ExceptionKind, tuple[int, ...]]] = {}
    for key, record in new:
        if record.end_to_end_id is not None:
            candidates = by_e2e.get(record.end_to_end_id, [])
        elif record.group_status is not None:
            candidates = by_msg.get(record.msg_id or "", [])
        else:
            continue  # fallback look-ups only ever propose in-scope instructions for review
        if not candidates:
            continue
        reasons = [scope[v.instruction_id] or (
            ExceptionKind.MSG_ID_MISMATCH if record.msg_id
            and record.msg_id not in (v.msg_id, v.end_to_end_id) else None)
            for v in candidates]
        if all(reasons):
            ids = tuple(v.instruction_id for v in candidates)
            refused[key] = (record, next(r for r in reasons if r is not None), ids)
    return refused


def queue_refused(session: Session, queue: ExceptionQueue, ids: dict[str, int],
                   refused: dict[str, tuple[ReturnRecord, ExceptionKind, tuple[int, ...]]]
                   ) -> None:
    """Queue the refused records (one exception each) and mark them never to be matched."""
    for key, (record, kind, candidates) in refused.items():
        queue.add(QueueKind(kind.value), ids[key], candidates,
                  {"message": _REFUSAL_MESSAGES[kind], **where_of(record)})
    executemany(session, RECORDS, ("decision",),
                 ((RecordDecision.REFUSED.value, ids[key]) for key in sorted(refused)),
                 key=("id",))


_REFUSAL_MESSAGES = {
    ExceptionKind.RECORD_FROM_OTHER_BANK:
        "the payment was sent to another bank; this bank's word cannot change it",
    ExceptionKind.RECORD_FOR_UNSENT_INSTRUCTION:
        "the payment was never sent to a bank (its batch is not submitted); nothing changed",
    ExceptionKind.MSG_ID_MISMATCH:
        "the record names a payment file the payment was not sent in; nothing changed",
}


def _base_states(session: Session, views: Sequence[InstructionView]
                 ) -> dict[int, InstructionState]:
    """The state each instruction had before any return: its first event's ``from_state``."""
    base = {v.instruction_id: v.current_state for v in views}
    e = InstructionEvent
    for chunk in chunks(sorted(base)):
        first = (select(func.min(e.id)).where(e.instruction_id.in_(chunk))
                 .group_by(e.instruction_id))
        for instruction_id, state in session.execute(
                select(e.instruction_id, e.from_state).where(e.id.in_(first))).tuples():
            base[instruction_id] = InstructionState(state)
    return base


def with_state(view: InstructionView, state: InstructionState) -> InstructionView:
    return InstructionView(view.instruction_id, view.end_to_end_id, view.msg_id, view.amount,
                           view.account, view.bank_bin, state, view.bank_reference,
                           view.requested_date)
