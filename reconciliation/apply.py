"""Apply parsed return records: store them, match them, and project instruction states.

The result must not depend on the order files arrive in. So the new records are not
applied on their own: for every instruction they touch, *all* its stored records are
matched again (:func:`reconciliation.matching.match_returns`) from the instruction's state
before any return (the ``from_state`` of its first event), and only the difference between
that recomputed state and the current one is written, as new ``instruction_events``.
Importing the same records again therefore writes nothing, and exceptions are stored once
per (kind, record).

Consequences follow what each new record says (see :func:`_verdicts_of_new`): an account
problem (AC01/AC03/AC04/AC06) flags the beneficiary's account for correction; MD07 suspends
the beneficiary; a retry code (AM04, TM01) only keeps the instruction rejected with its code,
which the batch builder reads.
Touched batches then move to ``partially_settled`` or ``settled``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Date,
    DateTime,
    Row,
    Table,
    TypeDecorator,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from bank_adapters.models import Bank, ReceivedReturnFile, Submission, SubmissionState
from disburse.core.clock import utcnow
from disburse.core.keyring import Keyring
from disburse.payments.lifecycle import SENT
from disburse.payments.models import Batch, Instruction, PaymentFile
from reconciliation.consequences import apply_consequences, settle_batches
from reconciliation.matching import (
    CONTESTING,
    Apply,
    ExceptionKind,
    InstructionState,
    InstructionView,
    MatchException,
    iter_match_keyed_returns,
    normalize_account,
    record_key,
)
from reconciliation.models import (
    ExceptionState,
    InstructionEvent,
    QueueKind,
    ReconciliationException,
    RecordDecision,
    ReturnRecordRow,
)
from reconciliation.parsers.camt import StatementHeader
from reconciliation.records import ParseError, ReturnRecord, ReturnStatus, SourceFormat
from reconciliation.statements import find_confirmations, record_statements

_CHUNK = 5000
# Core tables: bulk paths bypass the ORM (no per-row unit-of-work bookkeeping).
_RECORDS: Table = ReturnRecordRow.__table__  # type: ignore[assignment]
_INSTRUCTIONS: Table = Instruction.__table__  # type: ignore[assignment]
_EVENTS: Table = InstructionEvent.__table__  # type: ignore[assignment]
_EXCEPTIONS: Table = ReconciliationException.__table__  # type: ignore[assignment]
#: Submission states in which the file may have reached the bank: only then can the bank
#: answer for its payments.
_REACHED = frozenset({SubmissionState.SENDING.value, SubmissionState.ACCEPTED.value,
                      SubmissionState.UNKNOWN.value})
_SENT_BATCH = frozenset(state.value for state in SENT)
#: Why an instruction may not be touched by the signer's records (None: it may).
_Scope = dict[int, ExceptionKind | None]
_T = TypeVar("_T")


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


def _executemany(session: Session, table: Table, columns: Sequence[str],
                 rows: Iterable[Sequence[Any]], *, key: Sequence[str] = ()) -> None:
    """One driver-level executemany of plain tuples, chunked: INSERT, or UPDATE by ``key``.

    SQLAlchemy's per-row parameter processing of an executemany cost more than the
    database itself (about a fifth of a 100k import). Values are given in the driver's
    terms; on SQLite dates and timestamps are written in the text forms SQLAlchemy's
    SQLite types use (ISO date; naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff``).

    Args:
        session: The session whose connection (and transaction) to use.
        table: The table written.
        columns: The columns set, in the order of each row's values.
        rows: One sequence of values per row; for an UPDATE the ``key`` values follow.
        key: The columns an UPDATE matches on; empty for an INSERT.
    """
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    if key:
        sql = (f"UPDATE {table.name} SET {', '.join(f'{c} = {mark}' for c in columns)} "
               f"WHERE {' AND '.join(f'{c} = {mark}' for c in key)}")
    else:
        sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
               f"VALUES ({', '.join(mark for _ in columns)})")
    temporal = _temporal_positions(table, columns) if sqlite else []
    batch: list[Sequence[Any]] = []
    for row in rows:
        if temporal:
            values = list(row)
            for position in temporal:
                values[position] = _sqlite_value(values[position])
            row = tuple(values)
        batch.append(tuple(row))  # the driver-level call wants tuples, not lists
        if len(batch) >= _CHUNK:
            connection.exec_driver_sql(sql, batch)
            batch = []
    if batch:
        connection.exec_driver_sql(sql, batch)


def _temporal_positions(table: Table, columns: Sequence[str]) -> list[int]:
    """Positions of the date and timestamp columns (the only values SQLite needs as text)."""
    found = []
    for position, name in enumerate(columns):
        column_type = table.c[name].type
        if isinstance(column_type, TypeDecorator):
            column_type = column_type.impl_instance
        if isinstance(column_type, Date | DateTime):
            found.append(position)
    return found


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


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
    queue = _Queue(session, return_file.id)
    for error in errors:
        queue.add(QueueKind.PARSE_ERROR, None, (), {
            "file": error.file, "location": error.location, "field": error.field,
            "reason": error.reason, "code": error.code.value})
    signer = _Signer(return_file.bank_bin, _route_of(session, return_file.bank_bin))
    new, ids = _store(session, keyring, return_file.id, records, queue, outcome, signer.bin)
    new = _set_aside_confirmations(session, queue, new, ids, signer.bin, outcome)
    for gap in record_statements(session, signer.bin, return_file.id, statements):
        queue.add(QueueKind.STATEMENT_SEQUENCE_GAP, None, (), gap)
    views, applies, raised = _rematch(session, keyring, queue, new, ids, signer=signer,
                                      date_window_days=date_window_days)
    written = _write_events(session, views, applies, ids, actor=actor)
    outcome.events = len(written)
    outcome.state_changes = dict(Counter(f"{e['from_state']}->{e['to_state']}" for e in written))
    _hold_contested(session, raised)
    apply_consequences(session, _verdicts_of_new(new, applies, raised), actor=actor)
    outcome.batches = settle_batches(session, {v.instruction_id for v in views}, actor=actor)
    queue.flush()
    outcome.exceptions = queue.added
    outcome.exception_kinds = dict(queue.kinds)
    return outcome


@dataclass(frozen=True)
class _Signer:
    """The bank whose signature the file carried, and the route its payments went by."""

    bin: str
    route: str | None


def _route_of(session: Session, bank_bin: str) -> str | None:
    return session.execute(select(Bank.route).where(Bank.bin == bank_bin)).scalar_one_or_none()


def _store(session: Session, keyring: Keyring, return_file_id: int,
           records: Sequence[ReturnRecord], queue: _Queue, outcome: ReconcileOutcome,
           signer: str) -> tuple[list[tuple[str, ReturnRecord]], dict[str, int]]:
    """Store the new distinct records, queue the duplicates; return them and key -> row id."""
    new, duplicates, known = _split_new(session, records, signer)
    ids = _store_new(session, keyring, return_file_id, new)
    for key, record in duplicates:
        queue.add(QueueKind.DUPLICATE_RECORD, known.get(key, ids.get(key)), (), {
            "message": "the same record was already received", **_where(record)})
    outcome.stored, outcome.duplicates = len(new), len(duplicates)
    return new, ids


def _rematch(session: Session, keyring: Keyring, queue: _Queue,
             new: Sequence[tuple[str, ReturnRecord]], ids: dict[str, int], *, signer: _Signer,
             date_window_days: int
             ) -> tuple[list[InstructionView], list[Apply], list[MatchException]]:
    """Match the new records together with every stored record of the instructions touched.

    Records that may not touch the instructions they name (see :func:`_refused`) are queued
    and marked refused first; only the instructions sent to the signing bank take part.
    Queues the exceptions (each kind once per record), records each record's decision, and
    returns the instructions (as they are now) with the replayed applies.
    """
    views, base_states, scope = _touched_views(session, keyring, [r for _, r in new], signer)
    refused = _refused(new, views, scope)
    if refused:
        _queue_refused(session, queue, ids, refused)
        new = [pair for pair in new if pair[0] not in refused]
    views = [v for v in views if scope[v.instruction_id] is None]
    stored = _stored_records(session, keyring, views, exclude=set(ids.values()))
    ids.update((key, row_id) for row_id, key, _record in stored)
    base_views = [_with_state(v, base_states[v.instruction_id]) for v in views]
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
                  {"message": exc.detail, **_where(exc.record)})
    _set_decisions(session, ids, applies, raised)
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


def _set_aside_confirmations(session: Session, queue: _Queue,
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
            "earlier_record_id": earlier_id, **_where(by_key[key])})
    decisions = [(RecordDecision.CONFIRMED.value, ids[key]) for key in sorted(found.confirmed)]
    decisions += [(RecordDecision.REFUSED.value, ids[key]) for key in sorted(found.mismatched)]
    _executemany(session, _RECORDS, ("decision",), decisions, key=("id",))
    outcome.confirmed = len(found.confirmed)
    return [(key, r) for key, r in new
            if key not in found.confirmed and key not in found.mismatched]


def _hold_contested(session: Session, raised: Sequence[MatchException]) -> None:
    """Mark the instructions of contesting exceptions as held.

    The flag stops arrears and re-routing in the next batch (see ``batches.plan``) and is
    lifted when the auditor resolves the last contesting exception of the instruction.
    """
    ids = sorted({e.candidate_ids[0] for e in raised if e.kind in CONTESTING})
    for chunk in _chunks(ids):
        session.execute(update(Instruction).where(Instruction.id.in_(chunk))
                        .values(contested=True).execution_options(synchronize_session=False))


def _where(record: ReturnRecord) -> dict[str, Any]:
    return {"file_sha256": record.file_sha256, "record_index": record.record_index,
            "end_to_end_id": record.end_to_end_id, "msg_id": record.msg_id,
            "status": record.status.value, "amount": record.amount,
            "reason_code": record.reason_code}


class _Queue:
    """Collects new exceptions, skipping any (kind, record) already queued."""

    def __init__(self, session: Session, return_file_id: int) -> None:
        self.session = session
        self.return_file_id = return_file_id
        self.rows: list[dict[str, Any]] = []
        self.seen: set[tuple[str, int]] = set()
        self.checked: set[int] = set()
        self.kinds: Counter[str] = Counter()
        self.added = 0

    def add(self, kind: QueueKind, record_id: int | None, candidates: Iterable[int],
            detail: dict[str, Any]) -> None:
        """Queue one exception unless the same kind is already queued for the record."""
        if record_id is not None and kind is not QueueKind.DUPLICATE_RECORD:
            self._load_known(record_id)
            if (kind.value, record_id) in self.seen:
                return
            self.seen.add((kind.value, record_id))
        self.rows.append({"kind": kind.value, "return_file_id": self.return_file_id,
                          "return_record_id": record_id, "detail": detail,
                          "candidate_ids": sorted(candidates),
                          "state": ExceptionState.OPEN.value, "created_at": utcnow()})
        self.kinds[kind.value] += 1
        self.added += 1

    def preload(self, record_ids: Iterable[int]) -> None:
        """Read the kinds already queued for these records, in a few queries."""
        wanted = sorted(set(record_ids) - self.checked)
        self.checked.update(wanted)
        for chunk in _chunks(wanted):
            found = self.session.execute(
                select(ReconciliationException.kind, ReconciliationException.return_record_id)
                .where(ReconciliationException.return_record_id.in_(chunk))).tuples()
            self.seen.update((kind, rid) for kind, rid in found if rid is not None)

    def _load_known(self, record_id: int) -> None:
        if record_id not in self.checked:
            self.preload([record_id])

    def flush(self) -> None:
        """Insert the collected exceptions."""
        if self.rows:
            self.session.connection().execute(insert(_EXCEPTIONS), self.rows)
            self.rows = []


def _split_new(session: Session, records: Sequence[ReturnRecord], signer: str) -> tuple[
        list[tuple[str, ReturnRecord]], list[tuple[str, ReturnRecord]], dict[str, int]]:
    """Split records into new distinct ones and duplicates; also return the known keys' ids.

    Within the file the first occurrence (by position) is the one stored. Keys include the
    signing bank: only the same bank's same statement is a duplicate.
    """
    keyed = sorted(((record_key(r, signer), r) for r in records),
                   key=lambda p: p[1].record_index)
    known: dict[str, int] = {}
    for chunk in _chunks(sorted({key for key, _ in keyed})):
        known.update(session.execute(select(ReturnRecordRow.record_key, ReturnRecordRow.id)
                                     .where(ReturnRecordRow.record_key.in_(chunk))).tuples().all())
    new: list[tuple[str, ReturnRecord]] = []
    duplicates: list[tuple[str, ReturnRecord]] = []
    first_in_file: set[str] = set()
    for key, record in keyed:
        if key in known or key in first_in_file:
            duplicates.append((key, record))
        else:
            first_in_file.add(key)
            new.append((key, record))
    return new, duplicates, known


_RECORD_COLUMNS = (
    "return_file_id", "record_key", "record_index", "source_format", "file_sha256", "msg_id",
    "end_to_end_id", "bank_reference", "account_enc", "account_idx", "amount", "status",
    "group_status", "reason_code", "reason_text", "booking_date", "matched_instruction_id",
    "decision", "created_at",
)


def _row(keyring: Keyring, return_file_id: int, key: str, r: ReturnRecord, now: datetime
         ) -> tuple[Any, ...]:
    """The values of one ``return_records`` row, in :data:`_RECORD_COLUMNS` order."""
    account = normalize_account(r.account)
    return (
        return_file_id, key, r.record_index, r.source_format.value, r.file_sha256,
        r.msg_id, r.end_to_end_id, r.bank_reference,
        keyring.encrypt("account_number", r.account) if r.account else None,
        keyring.blind_index("account_number", account) if account else None,
        r.amount, r.status.value, r.group_status.value if r.group_status else None,
        r.reason_code, (r.reason_text or "")[:1000] or None, r.booking_date, None,
        RecordDecision.APPLIED.value, now,
    )


def _store_new(session: Session, keyring: Keyring, return_file_id: int,
               new: Sequence[tuple[str, ReturnRecord]]) -> dict[str, int]:
    """Insert the new distinct records; return record key -> row id."""
    now = utcnow()
    _executemany(session, _RECORDS, _RECORD_COLUMNS,
                 (_row(keyring, return_file_id, key, r, now) for key, r in new))
    connection = session.connection()
    ids: dict[str, int] = {}
    for keys in _chunks([key for key, _ in new]):
        ids.update(connection.execute(select(_RECORDS.c.record_key, _RECORDS.c.id)
                                      .where(_RECORDS.c.record_key.in_(keys))).tuples().all())
    return ids


def _account_indexes(keyring: Keyring, bank_bin: str, records: Iterable[ReturnRecord]
                     ) -> set[str]:
    """Blind indexes an instruction would carry for these records' accounts at this bank.

    Instructions index ``"<bin>:<account>"`` (the registry's form), so a fallback look-up
    by account works only for accounts at the sending bank; others end as ``no_match``.
    """
    found: set[str] = set()
    for record in records:
        for account in {normalize_account(record.account),
                        "".join((record.account or "").split()).replace("-", "")}:
            if account:
                found.add(keyring.blind_index("account_number", f"{bank_bin}:{account}"))
    return found


def _touched_views(session: Session, keyring: Keyring, new: Sequence[ReturnRecord],
                   signer: _Signer
                   ) -> tuple[list[InstructionView], dict[int, InstructionState], _Scope]:
    """Load the instructions the new records may concern, locked, with their base states
    and whether the signing bank may answer for each."""
    bank_bin = signer.bin
    e2e = sorted({r.end_to_end_id for r in new if r.end_to_end_id})
    msgs = sorted({r.msg_id for r in new
                   if r.end_to_end_id is None and r.group_status is not None and r.msg_id})
    fallback = [r for r in new if r.end_to_end_id is None and r.group_status is None]
    ids: set[int] = set()
    for chunk in _chunks(e2e):
        ids.update(session.execute(select(Instruction.id)
                                   .where(Instruction.end_to_end_id.in_(chunk))).scalars())
    for chunk in _chunks(msgs):
        ids.update(session.execute(select(Instruction.id).join(
            PaymentFile, PaymentFile.id == Instruction.payment_file_id)
            .where(PaymentFile.msg_id.in_(chunk))).scalars())
    indexes = sorted(_account_indexes(keyring, bank_bin, fallback))
    amounts = sorted({r.amount for r in fallback if r.amount is not None})
    for chunk in _chunks(indexes):
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
    if batch_state not in _SENT_BATCH or sent_by is None or submission_state not in _REACHED:
        return ExceptionKind.RECORD_FOR_UNSENT_INSTRUCTION
    if signer_route is None or not on_route(sent_by, signer_route):
        return ExceptionKind.RECORD_FROM_OTHER_BANK
    return None


def on_route(route: str, bank_route: str) -> bool:
    """Whether a payment file's route belongs to a bank's route (``post-01`` to ``post``:
    a cash route carries the province as a suffix)."""
    return route == bank_route or route.startswith(f"{bank_route}-")


def _load_views(session: Session, keyring: Keyring, ids: Sequence[int],
                signer_route: str | None) -> tuple[list[InstructionView], _Scope]:
    views: list[InstructionView] = []
    scope: _Scope = {}
    i = Instruction
    for chunk in _chunks(ids):
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


def _refused(new: Sequence[tuple[str, ReturnRecord]], views: Sequence[InstructionView],
             scope: _Scope) -> dict[str, tuple[ReturnRecord, ExceptionKind, tuple[int, ...]]]:
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


def _queue_refused(session: Session, queue: _Queue, ids: dict[str, int],
                   refused: dict[str, tuple[ReturnRecord, ExceptionKind, tuple[int, ...]]]
                   ) -> None:
    """Queue the refused records (one exception each) and mark them never to be matched."""
    for key, (record, kind, candidates) in refused.items():
        queue.add(QueueKind(kind.value), ids[key], candidates,
                  {"message": _REFUSAL_MESSAGES[kind], **_where(record)})
    _executemany(session, _RECORDS, ("decision",),
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
    for chunk in _chunks(sorted(base)):
        first = (select(func.min(e.id)).where(e.instruction_id.in_(chunk))
                 .group_by(e.instruction_id))
        for instruction_id, state in session.execute(
                select(e.instruction_id, e.from_state).where(e.id.in_(first))).tuples():
            base[instruction_id] = InstructionState(state)
    return base


def _with_state(view: InstructionView, state: InstructionState) -> InstructionView:
    return InstructionView(view.instruction_id, view.end_to_end_id, view.msg_id, view.amount,
                           view.account, view.bank_bin, state, view.bank_reference,
                           view.requested_date)


_STORED_COLUMNS = (
    _RECORDS.c.id, _RECORDS.c.record_key, _RECORDS.c.source_format, _RECORDS.c.file_sha256,
    _RECORDS.c.msg_id, _RECORDS.c.end_to_end_id, _RECORDS.c.bank_reference,
    _RECORDS.c.account_enc, _RECORDS.c.amount, _RECORDS.c.status, _RECORDS.c.reason_code,
    _RECORDS.c.reason_text, _RECORDS.c.booking_date, _RECORDS.c.record_index,
    _RECORDS.c.group_status,
)


def _stored_records(session: Session, keyring: Keyring, views: Sequence[InstructionView],
                    *, exclude: set[int]) -> list[tuple[int, str, ReturnRecord]]:
    """Every usable stored record about these instructions (by EndToEndId or whole-file
    MsgId); refused records are never read again.

    Read as plain rows of the needed columns (no ORM objects), with the stored key.
    """
    r = _RECORDS.c
    e2e = sorted({v.end_to_end_id for v in views})
    msgs = sorted({v.msg_id for v in views if v.msg_id})
    connection = session.connection()
    rows: dict[int, Row[Any]] = {}
    usable = r.decision.not_in([RecordDecision.REFUSED.value, RecordDecision.CONFIRMED.value])
    for chunk in _chunks(e2e):
        rows.update((row.id, row) for row in connection.execute(
            select(*_STORED_COLUMNS).where(r.end_to_end_id.in_(chunk), usable)))
    for chunk in _chunks(msgs):
        rows.update((row.id, row) for row in connection.execute(
            select(*_STORED_COLUMNS).where(r.end_to_end_id.is_(None),
                                           r.group_status.is_not(None),
                                           r.msg_id.in_(chunk), usable)))
    return [(row_id, row.record_key, _as_record(keyring, row))
            for row_id, row in sorted(rows.items()) if row_id not in exclude]


def _as_record(keyring: Keyring, row: Row[Any]) -> ReturnRecord:
    return ReturnRecord(
        source_format=SourceFormat(row.source_format), file_sha256=row.file_sha256,
        msg_id=row.msg_id, end_to_end_id=row.end_to_end_id, bank_reference=row.bank_reference,
        account=keyring.decrypt("account_number", row.account_enc) if row.account_enc else None,
        amount=row.amount, status=ReturnStatus(row.status), reason_code=row.reason_code,
        reason_text=row.reason_text, booking_date=row.booking_date,
        record_index=row.record_index,
        group_status=ReturnStatus(row.group_status) if row.group_status else None)


def _set_decisions(session: Session, ids: dict[str, int], applies: Sequence[Apply],
                   raised: Sequence[MatchException]) -> None:
    """Record, per record, whether it was applied (and to which instruction) or queued."""
    matched: dict[str, set[int]] = defaultdict(set)
    for a in applies:
        matched[a.record_key].add(a.instruction_id)
    queued = {e.record_key for e in raised}
    updates = []
    for key in sorted(set(matched) | queued):
        targets = matched.get(key, set())
        updates.append(((RecordDecision.EXCEPTION if key in queued
                         else RecordDecision.APPLIED).value,
                        next(iter(targets)) if len(targets) == 1 else None, ids[key]))
    # One executemany of plain tuples, not the ORM's bulk update.
    _executemany(session, _RECORDS, ("decision", "matched_instruction_id"), updates,
                 key=("id",))


def _write_events(session: Session, views: Sequence[InstructionView], applies: Sequence[Apply],
                  ids: dict[str, int], *, actor: str) -> list[dict[str, Any]]:
    """Write the difference between each recomputed and current state as new events."""
    steps: dict[int, list[Apply]] = defaultdict(list)
    for a in applies:
        if a.changes_state:
            steps[a.instruction_id].append(a)
    events: list[dict[str, Any]] = []
    changes: list[tuple[str, str | None, int]] = []
    now = utcnow()
    current_codes = dict(session.execute(select(Instruction.id, Instruction.reason_code).where(
        Instruction.id.in_(list(steps)))).tuples().all()) if steps else {}
    for view in views:
        chain = steps.get(view.instruction_id)
        if not chain or (chain[-1].new_state, _code(chain[-1].reason_code)) == (
                view.current_state, current_codes.get(view.instruction_id)):
            continue  # nothing new; never fall back to the base state without a record
        for a in _steps_from(view.current_state, chain):
            events.append({"instruction_id": view.instruction_id,
                           "from_state": a.from_state.value, "to_state": a.new_state.value,
                           "reason_code": a.reason_code, "return_record_id": ids[a.record_key],
                           "actor": actor, "at": now})
        changes.append((chain[-1].new_state.value, _code(chain[-1].reason_code),
                        view.instruction_id))
    if events:
        _executemany(session, _EVENTS, _EVENT_COLUMNS,
                     ([e[c] for c in _EVENT_COLUMNS] for e in events))
        _executemany(session, _INSTRUCTIONS, ("state", "reason_code"), changes, key=("id",))
    return events


_EVENT_COLUMNS = ("instruction_id", "from_state", "to_state", "reason_code",
                  "return_record_id", "actor", "at")


def _code(reason_code: str | None) -> str | None:
    """The reason code as an instruction stores it (at most 8 characters)."""
    return (reason_code or "")[:8] or None


def _steps_from(current: InstructionState, chain: Sequence[Apply]) -> list[Apply]:
    """The part of a recomputed chain after ``current``; one jump when it is not on the path.

    The jump also covers a changed reason with an unchanged state (e.g. two rejections
    arriving in the other order): the code of the recomputed chain wins, as a new event.
    """
    for position, a in enumerate(chain):
        if a.from_state == current:
            return list(chain[position:])
    last = chain[-1]
    return [Apply(last.instruction_id, current, last.new_state, last.reason_code,
                  last.record_key, last.record)]


__all__ = ["ReconcileOutcome", "reconcile_records"]
