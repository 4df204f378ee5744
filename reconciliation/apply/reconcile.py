"""Applying one received file: store, set aside confirmations, rematch, write, settle.

See the package docstring for why every touched instruction is matched again from scratch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.orm import Session

from bank_adapters.models import Bank, ReceivedReturnFile
from disburse.core.keyring import Keyring
from disburse.payments.models import Instruction
from reconciliation.apply.bulk import RECORDS, chunks, executemany
from reconciliation.apply.events import set_decisions, write_events
from reconciliation.apply.exception_queue import ExceptionQueue, where_of
from reconciliation.apply.scope import (
    Signer,
    queue_refused,
    refused_by_scope,
    touched_views,
    with_state,
)
from reconciliation.apply.stored import split_new, store_new, stored_records
from reconciliation.consequences import apply_consequences, settle_batches
from reconciliation.matching import (
    CONTESTING,
    Apply,
    InstructionView,
    MatchException,
    iter_match_keyed_returns,
)
from reconciliation.models import (
    QueueKind,
    RecordDecision,
)
from reconciliation.parsers.camt import StatementHeader
from reconciliation.records import ParseError, ReturnRecord
from reconciliation.statements import find_confirmations, record_statements


@dataclass
class ReconcileOutcome:
    """Counts of what applying one file did.

    Attributes:
        records: records parsed from the file.
        stored: new distinct records stored.
        duplicates: records already known (from this file or an earlier one).
        confirmed: records that confirm an earlier report of the same booking (a statement
            entry repeating a notification, or the other way round).
        parse_errors: parts of the file that could not be read.
        events: instruction state changes written.
        exceptions: new exceptions queued (parse errors and duplicates included).
        state_changes: ``"from->to"`` -> count of the events written.
        exception_kinds: kind -> count of the new exceptions.
        batches: batch id -> the state it moved to.
    """

    records: int = 0
    stored: int = 0
    duplicates: int = 0
    confirmed: int = 0
    parse_errors: int = 0
    events: int = 0
    exceptions: int = 0
    state_changes: dict[str, int] = field(default_factory=dict)
    exception_kinds: dict[str, int] = field(default_factory=dict)
    batches: dict[int, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Return the counts for the audit trail."""
        return {"records": self.records, "stored": self.stored,
                "duplicates": self.duplicates, "confirmed": self.confirmed,
                "parse_errors": self.parse_errors,
                "events": self.events, "exceptions": self.exceptions,
                "batches": {str(k): v for k, v in self.batches.items()}}


def reconcile_records(
    session: Session,
    keyring: Keyring,
    return_file: ReceivedReturnFile,
    records: Sequence[ReturnRecord],
    errors: Sequence[ParseError],
    *,
    actor: str,
    date_window_days: int,
    statements: Sequence[StatementHeader] = (),
) -> ReconcileOutcome:
    """Store, match and apply the records of one received file.

    Args:
        session: The caller's session; only flushed.
        keyring: Opens instruction accounts and seals/indexes record accounts.
        return_file: The ``return_files`` row the records came from.
        records: The parsed records.
        errors: The parse errors (each becomes a ``parse_error`` exception).
        actor: Written on events and on beneficiary changes.
        date_window_days: Window of the account + amount fallback.
        statements: The file's camt.053 statements (their place in the bank's sequence).

    Returns:
        What was done.
    """
    outcome = ReconcileOutcome(records=len(records), parse_errors=len(errors))
    session.flush()  # the bulk statements below go through Core, which does not autoflush
    queue = ExceptionQueue(session, return_file.id)
    for error in errors:
        queue.add(QueueKind.PARSE_ERROR, None, (), {
            "file": error.file, "location": error.location, "field": error.field,
            "reason": error.reason, "code": error.code.value})
    signer = Signer(return_file.bank_bin, _route_of(session, return_file.bank_bin))
    new, ids = _store(session, keyring, return_file.id, records, queue, outcome, signer.bin)
    new = _set_aside_confirmations(session, queue, new, ids, signer.bin, outcome)
    for gap in record_statements(session, signer.bin, return_file.id, statements):
        queue.add(QueueKind.STATEMENT_SEQUENCE_GAP, None, (), gap)
    views, applies, raised = _rematch(session, keyring, queue, new, ids, signer=signer,
                                      date_window_days=date_window_days)
    written = write_events(session, views, applies, ids, actor=actor)
    outcome.events = len(written)
    outcome.state_changes = dict(Counter(f"{e['from_state']}->{e['to_state']}" for e in written))
    _hold_contested(session, raised)
    apply_consequences(session, _verdicts_of_new(new, applies, raised), actor=actor)
    outcome.batches = settle_batches(session, {v.instruction_id for v in views}, actor=actor)
    queue.flush()
    outcome.exceptions = queue.added
    outcome.exception_kinds = dict(queue.kinds)
    return outcome


def _route_of(session: Session, bank_bin: str) -> str | None:
    return session.execute(select(Bank.route).where(Bank.bin == bank_bin)).scalar_one_or_none()


def _store(session: Session, keyring: Keyring, return_file_id: int,
           records: Sequence[ReturnRecord], queue: ExceptionQueue, outcome: ReconcileOutcome,
           signer: str) -> tuple[list[tuple[str, ReturnRecord]], dict[str, int]]:
    """Store the new distinct records, queue the duplicates; return them and key -> row id."""
    new, duplicates, known = split_new(session, records, signer)
    ids = store_new(session, keyring, return_file_id, new)
    for key, record in duplicates:
        queue.add(QueueKind.DUPLICATE_RECORD, known.get(key, ids.get(key)), (), {
            "message": "the same record was already received", **where_of(record)})
    outcome.stored, outcome.duplicates = len(new), len(duplicates)
    return new, ids


def _rematch(session: Session, keyring: Keyring, queue: ExceptionQueue,
             new: Sequence[tuple[str, ReturnRecord]], ids: dict[str, int], *, signer: Signer,
             date_window_days: int
             ) -> tuple[list[InstructionView], list[Apply], list[MatchException]]:
    """Match the new records together with every stored record of the instructions touched.

    Records that may not touch the instructions they name (see :func:`refused_by_scope`) are queued
    and marked refused first; only the instructions sent to the signing bank take part.
    Queues the exceptions (each kind once per record), records each record's decision, and
    returns the instructions (as they are now) with the replayed applies.
    """
    views, base_states, scope = touched_views(session, keyring, [r for _, r in new], signer)
    refused = refused_by_scope(new, views, scope)
    if refused:
        queue_refused(session, queue, ids, refused)
        new = [pair for pair in new if pair[0] not in refused]
    views = [v for v in views if scope[v.instruction_id] is None]
    stored = stored_records(session, keyring, views, exclude=set(ids.values()))
    ids.update((key, row_id) for row_id, key, _record in stored)
    base_views = [with_state(v, base_states[v.instruction_id]) for v in views]
    # The keys are known already (computed once for the new records, read back for the
    # stored ones): hashing a million records twice was a tenth of the import.
    # Split as they come: no list of every decision next to the two below.
    applies: list[Apply] = []
    raised: list[MatchException] = []
    for decision in iter_match_keyed_returns([*new, *((key, r) for _, key, r in stored)],
                                             base_views, date_window_days=date_window_days):
        if isinstance(decision, Apply):
            applies.append(decision)
        else:
            raised.append(decision)
    del stored
    queue.preload(ids[exc.record_key] for exc in raised)
    for exc in raised:
        queue.add(QueueKind(exc.kind.value), ids[exc.record_key], exc.candidate_ids,
                  {"message": exc.detail, **where_of(exc.record)})
    set_decisions(session, ids, applies, raised)
    return views, applies, raised


def _verdicts_of_new(new: Sequence[tuple[str, ReturnRecord]], applies: Sequence[Apply],
                     raised: Sequence[MatchException]) -> list[dict[str, Any]]:
    """What the new records say about the instructions they matched, for the consequences.

    Each record acts once, when it first arrives, whether it moved the state or contradicts
    another answer (a rejection beside a settlement, a return after a rejection): what the
    bank says about the account or the person is true either way. So beneficiaries end the
    same whatever the order of the files, and old records never act twice. What a
    contradiction holds back is the money: arrears and re-routing (see
    :func:`_hold_contested`).
    """
    new_keys = {key for key, _ in new}
    verdicts = [{"instruction_id": a.instruction_id, "to_state": a.new_state.value,
                 "reason_code": a.reason_code} for a in applies if a.record_key in new_keys]
    verdicts += [{"instruction_id": e.candidate_ids[0], "to_state": e.record.status.value,
                  "reason_code": e.record.reason_code} for e in raised
                 if e.record_key in new_keys and e.kind in CONTESTING]
    return verdicts


def _set_aside_confirmations(session: Session, queue: ExceptionQueue,
                             new: list[tuple[str, ReturnRecord]], ids: dict[str, int],
                             signer: str, outcome: ReconcileOutcome
                             ) -> list[tuple[str, ReturnRecord]]:
    """Mark the new records that confirm (or contradict) an earlier report of the same
    booking (see :mod:`reconciliation.statements`); return the others, to be matched."""
    found = find_confirmations(session, new, signer, (ids[key] for key, _ in new))
    if not found.confirmed and not found.mismatched:
        return new
    by_key = dict(new)
    for key, (earlier_id, what) in sorted(found.mismatched.items()):
        queue.add(QueueKind.STATEMENT_MISMATCH, ids[key], (), {
            "message": f"disagrees with the earlier report of the same booking: {what}",
            "earlier_record_id": earlier_id, **where_of(by_key[key])})
    decisions = [(RecordDecision.CONFIRMED.value, ids[key]) for key in sorted(found.confirmed)]
    decisions += [(RecordDecision.REFUSED.value, ids[key]) for key in sorted(found.mismatched)]
    executemany(session, RECORDS, ("decision",), decisions, key=("id",))
    outcome.confirmed = len(found.confirmed)
    return [(key, r) for key, r in new
            if key not in found.confirmed and key not in found.mismatched]


def _hold_contested(session: Session, raised: Sequence[MatchException]) -> None:
    """Mark the instructions of contesting exceptions as held.

    The flag stops arrears and re-routing in the next batch (see ``batches.plan``) and is
    lifted when the auditor resolves the last contesting exception of the instruction.
    """
    ids = sorted({e.candidate_ids[0] for e in raised if e.kind in CONTESTING})
    for chunk in chunks(ids):
        session.execute(update(Instruction).where(Instruction.id.in_(chunk))
                        .values(contested=True).execution_options(synchronize_session=False))
