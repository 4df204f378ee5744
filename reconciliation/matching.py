"""Match bank return records to payment instructions: a pure function, no database.

``match_returns(records, instructions)`` returns :data:`Decision` values: an :class:`Apply`
(move one instruction to a state, citing the record) or a :class:`MatchException` (a
record a person must look at). Every record ends up in at least one decision.

Matching is on EndToEndId, narrowed by the original MsgId when several instructions share
the id (a re-routed payment), then amount and account are checked. A record without an
EndToEndId is tried by bank reference, then by account + amount + a date window; such a
fallback match is never applied automatically, it becomes ``fallback_match_needs_review``.

Order does not matter within one call: duplicates (same :func:`record_key`) are removed
keeping a fixed representative, and each instruction's records are replayed in a fixed
precedence, ``accepted < pending < rejected < settled < returned``, through
:data:`TRANSITIONS`. Conflicts are named by the pair, not by their order: a settlement and
a rejection for one instruction always give ``settled_after_rejection``, whichever came
first, and the state already reached is kept. A return after a settlement is a reversal
(``paid -> returned``). Re-matching the same records against the updated instructions
changes nothing (every ``Apply`` then has ``from_state == new_state``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from functools import cached_property
from typing import TypeVar

from reconciliation.records import ReturnRecord, ReturnStatus


class InstructionState(StrEnum):
    """Where a payment instruction stands."""

    INSTRUCTED = "instructed"
    ACCEPTED = "accepted"
    PAID = "paid"
    REJECTED = "rejected"
    RETURNED = "returned"
    CANCELLED = "cancelled"


class ExceptionKind(StrEnum):
    """Why a record was not applied automatically."""

    UNKNOWN_END_TO_END_ID = "unknown_end_to_end_id"
    AMBIGUOUS_END_TO_END_ID = "ambiguous_end_to_end_id"
    AMOUNT_MISMATCH = "amount_mismatch"
    ACCOUNT_MISMATCH = "account_mismatch"
    SETTLED_AFTER_REJECTION = "settled_after_rejection"
    RETURNED_AFTER_REJECTION = "returned_after_rejection"
    RECORD_FOR_CANCELLED_INSTRUCTION = "record_for_cancelled_instruction"
    DUPLICATE_RECORD = "duplicate_record"
    FALLBACK_MATCH_NEEDS_REVIEW = "fallback_match_needs_review"
    NO_MATCH = "no_match"
    WHOLE_FILE_REJECTED = "whole_file_rejected"
    WHOLE_FILE_NEEDS_REVIEW = "whole_file_needs_review"
    UNKNOWN_MSG_ID = "unknown_msg_id"


@dataclass(frozen=True, slots=True)
class InstructionView:
    """What matching needs to know about one payment instruction.

    Attributes:
        instruction_id: The instruction's primary key.
        end_to_end_id: Its EndToEndId as sent.
        msg_id: MsgId of the payment file it was sent in, if sent in a file.
        amount: Whole dong.
        account: Beneficiary account or wallet number.
        bank_bin: NAPAS BIN of the beneficiary's bank.
        current_state: Its state now.
        bank_reference: A bank reference already known for it, if any.
        requested_date: The requested execution date.
    """

    instruction_id: int
    end_to_end_id: str
    msg_id: str | None
    amount: int
    account: str | None
    bank_bin: str | None
    current_state: InstructionState
    bank_reference: str | None
    requested_date: date | None


@dataclass(frozen=True, slots=True)
class Apply:
    """Move one instruction to ``new_state`` because of one record.

    ``from_state == new_state`` means the record agrees with what is already known: it is
    accounted for, and there is nothing to change.
    """

    instruction_id: int
    from_state: InstructionState
    new_state: InstructionState
    reason_code: str | None
    record_key: str
    record: ReturnRecord

    @property
    def changes_state(self) -> bool:
        """Whether applying this decision changes the instruction's state."""
        return self.from_state != self.new_state


@dataclass(frozen=True, slots=True)
class MatchException:
    """A record that needs a person, with the instructions it may concern."""

    kind: ExceptionKind
    record_key: str
    record: ReturnRecord
    candidate_ids: tuple[int, ...]
    detail: str


Decision = Apply | MatchException

_I = InstructionState
_S = ReturnStatus
_E = ExceptionKind
# The fixed replay order of one instruction's records (lower first).
STATUS_PRECEDENCE: dict[ReturnStatus, int] = {
    _S.ACCEPTED: 0, _S.PENDING: 1, _S.REJECTED: 2, _S.SETTLED: 3, _S.RETURNED: 4,
}
# (current state, record status) -> next state, or the exception it raises.
TRANSITIONS: dict[tuple[InstructionState, ReturnStatus], InstructionState | ExceptionKind] = {
    **{(state, status): target
       for state in (_I.INSTRUCTED, _I.ACCEPTED)
       for status, target in ((_S.ACCEPTED, _I.ACCEPTED), (_S.PENDING, _I.ACCEPTED),
                              (_S.SETTLED, _I.PAID), (_S.REJECTED, _I.REJECTED),
                              (_S.RETURNED, _I.RETURNED))},
    (_I.PAID, _S.ACCEPTED): _I.PAID,
    (_I.PAID, _S.PENDING): _I.PAID,
    (_I.PAID, _S.SETTLED): _I.PAID,
    (_I.PAID, _S.REJECTED): _E.SETTLED_AFTER_REJECTION,
    (_I.PAID, _S.RETURNED): _I.RETURNED,
    (_I.REJECTED, _S.ACCEPTED): _I.REJECTED,
    (_I.REJECTED, _S.PENDING): _I.REJECTED,
    (_I.REJECTED, _S.REJECTED): _I.REJECTED,
    (_I.REJECTED, _S.SETTLED): _E.SETTLED_AFTER_REJECTION,
    (_I.REJECTED, _S.RETURNED): _E.RETURNED_AFTER_REJECTION,
    (_I.RETURNED, _S.ACCEPTED): _I.RETURNED,
    (_I.RETURNED, _S.PENDING): _I.RETURNED,
    (_I.RETURNED, _S.SETTLED): _I.RETURNED,
    (_I.RETURNED, _S.RETURNED): _I.RETURNED,
    (_I.RETURNED, _S.REJECTED): _E.RETURNED_AFTER_REJECTION,
    (_I.CANCELLED, _S.REJECTED): _I.CANCELLED,
    **{(_I.CANCELLED, status): _E.RECORD_FOR_CANCELLED_INSTRUCTION
       for status in (_S.ACCEPTED, _S.PENDING, _S.SETTLED, _S.RETURNED)},
}
DEFAULT_DATE_WINDOW_DAYS = 3
_K = TypeVar("_K")
# The same encoder ``json.dumps(parts, ensure_ascii=False)`` builds on every call, built once
# (the output is byte-identical, so stored keys stay valid).
_KEY_ENCODER = json.JSONEncoder(ensure_ascii=False)
# Characters an account is compared without.
_ACCOUNT_NOISE = str.maketrans("", "", " .-")


def record_key(record: ReturnRecord) -> str:
    """The content key of a record: equal keys mean the same bank statement about a payment.

    Built from EndToEndId, MsgId, status, amount, bank reference, booking date, account,
    reason code and group status; not from the file it came in, so the same line in a
    re-sent file is a duplicate.

    Args:
        record: A parsed record.

    Returns:
        A 64-character hex digest, stable across runs (fit for a UNIQUE column).
    """
    return _record_digest(record).hex()


def _record_digest(record: ReturnRecord) -> bytes:
    """The 32 bytes :func:`record_key` writes in hex (half the memory while matching)."""
    parts = [record.end_to_end_id, record.msg_id, record.status.value, record.amount,
             record.bank_reference,
             record.booking_date.isoformat() if record.booking_date else None,
             record.account, record.reason_code,
             record.group_status.value if record.group_status else None]
    return hashlib.sha256(_KEY_ENCODER.encode(parts).encode()).digest()


def _tie_order(record: ReturnRecord) -> tuple[str, str, int, str]:
    # Total over every field outside the key, so the representative kept among duplicates
    # (and the order of exceptions with the same key) never depends on arrival order.
    return (record.source_format.value, record.file_sha256, record.record_index,
            record.reason_text or "")


def normalize_account(account: str | None) -> str | None:
    """Compare accounts without spaces, dots or dashes, upper-case (leading zeros kept).

    Args:
        account: An account or wallet number as written.

    Returns:
        The comparable form, or None.
    """
    if account is None:
        return None
    return account.translate(_ACCOUNT_NOISE).upper() or None


class _Index:
    """Look-ups over the instructions; each built on first use (most files need only one).

    A million-entry file matched on EndToEndId never pays for the account + amount index
    (a normalised account and a tuple per instruction).
    """

    def __init__(self, instructions: Iterable[InstructionView]) -> None:
        # Sorted by id so that every candidate list is in a fixed order.
        self.views = sorted(instructions, key=lambda v: v.instruction_id)
        # One view per EndToEndId, plus the rare extra ones: a list per id would cost
        # ~90 bytes per instruction for nothing.
        self.first_by_e2e: dict[str, InstructionView] = {}
        self.more_by_e2e: dict[str, list[InstructionView]] = {}
        for view in self.views:
            first = self.first_by_e2e.setdefault(view.end_to_end_id, view)
            if first is not view:
                self.more_by_e2e.setdefault(view.end_to_end_id, []).append(view)

    def by_e2e(self, end_to_end_id: str) -> list[InstructionView]:
        first = self.first_by_e2e.get(end_to_end_id)
        if first is None:
            return []
        return [first, *self.more_by_e2e.get(end_to_end_id, ())]

    @cached_property
    def by_msg(self) -> dict[str, list[InstructionView]]:
        return _group(self.views, lambda v: v.msg_id or None)

    @cached_property
    def by_reference(self) -> dict[str, list[InstructionView]]:
        return _group(self.views, lambda v: v.bank_reference or None)

    @cached_property
    def by_account_amount(self) -> dict[tuple[str, int], list[InstructionView]]:
        def key(view: InstructionView) -> tuple[str, int] | None:
            account = normalize_account(view.account)
            return (account, view.amount) if account else None
        return _group(self.views, key)


def _group(views: Iterable[InstructionView], key: Callable[[InstructionView], _K | None]
           ) -> dict[_K, list[InstructionView]]:
    groups: dict[_K, list[InstructionView]] = {}
    for view in views:
        value = key(view)
        if value is not None:
            groups.setdefault(value, []).append(view)
    return groups


def match_returns(
    records: Iterable[ReturnRecord],
    instructions: Iterable[InstructionView],
    *,
    date_window_days: int = DEFAULT_DATE_WINDOW_DAYS,
) -> list[Decision]:
    """Decide what each return record does to the instructions it answers.

    Args:
        records: Records from one or more parsed files, in any order.
        instructions: The instructions they may answer (at least all with their
            EndToEndIds or MsgIds).
        date_window_days: Half-width of the booking/requested-date window used by the
            account + amount fallback.

    Returns:
        Decisions in a deterministic order: the applies grouped by instruction in replay
        order (apply them in sequence), then the exceptions sorted by kind and record key.
    """
    return _match(((_record_digest(r), r) for r in records), instructions, date_window_days)


def match_keyed_returns(
    keyed: Iterable[tuple[str, ReturnRecord]],
    instructions: Iterable[InstructionView],
    *,
    date_window_days: int = DEFAULT_DATE_WINDOW_DAYS,
) -> list[Decision]:
    """:func:`match_returns` for records whose :func:`record_key` the caller already has.

    Args:
        keyed: ``(record_key(record), record)`` pairs; the key must be the record's own.
        instructions: As for :func:`match_returns`.
        date_window_days: As for :func:`match_returns`.

    Returns:
        The same decisions as ``match_returns`` of the records.
    """
    return _match(((bytes.fromhex(key), r) for key, r in keyed), instructions,
                  date_window_days)


def _match(
    keyed: Iterable[tuple[bytes, ReturnRecord]],
    instructions: Iterable[InstructionView],
    date_window_days: int,
) -> list[Decision]:
    # Keys are held as 32-byte digests (65 bytes each, not 113 for the hex string) until a
    # decision needs the hex form: at a million records that is ~50 MB less at the peak.
    index = _Index(instructions)
    unique, exceptions = _deduplicate(keyed)
    # Most instructions get one record: keep (view, record, key) for the first, and a list
    # only for the others (a list per instruction was ~90 bytes each at a million).
    first: dict[int, tuple[InstructionView, ReturnRecord, bytes]] = {}
    more: dict[int, list[tuple[ReturnRecord, bytes]]] = {}
    # The order records are routed in does not matter: each queue is replayed in a fixed
    # order and the exceptions are sorted at the end.
    for key, record in unique.items():
        outcome = _route(record, key.hex(), index, date_window_days)
        if isinstance(outcome, MatchException):
            exceptions.append(outcome)
            continue
        for view in outcome:
            if view.instruction_id in first:
                more.setdefault(view.instruction_id, []).append((record, key))
            else:
                first[view.instruction_id] = (view, record, key)
    del unique, index
    applies: list[Apply] = []
    for instruction_id in sorted(first):
        view, record, digest = first.pop(instruction_id)  # frees the entry as we go
        queue = [(record, digest.hex())]
        queue.extend((r, d.hex()) for r, d in more.get(instruction_id, ()))
        _replay(view, queue, applies, exceptions)
    exceptions.sort(key=lambda e: (e.kind.value, e.record_key, e.candidate_ids,
                                   *_tie_order(e.record)))
    return [*applies, *exceptions]


def _deduplicate(
    keyed: Iterable[tuple[bytes, ReturnRecord]],
) -> tuple[dict[bytes, ReturnRecord], list[MatchException]]:
    """Keep one record per key, the first in :func:`_tie_order`; the others are duplicates."""
    unique: dict[bytes, ReturnRecord] = {}
    duplicates: list[MatchException] = []
    for key, record in keyed:
        kept = unique.setdefault(key, record)
        if kept is record:
            continue
        if _tie_order(record) < _tie_order(kept):
            unique[key], record = record, kept
        duplicates.append(MatchException(_E.DUPLICATE_RECORD, key.hex(), record, (),
                                         "same record already seen"))
    return unique, duplicates


def _route(
    record: ReturnRecord, key: str, index: _Index, window: int
) -> list[InstructionView] | MatchException:
    """Find the instruction(s) a record applies to, or the exception it raises."""
    if record.end_to_end_id is None and record.group_status is not None:
        return _route_group(record, key, index)
    if record.end_to_end_id is None:
        return _fallback(record, key, index, window)
    candidates = index.by_e2e(record.end_to_end_id)
    if len(candidates) > 1 and record.msg_id:
        candidates = [v for v in candidates if v.msg_id == record.msg_id] or candidates
    ids = tuple(v.instruction_id for v in candidates)
    if not candidates:
        return MatchException(_E.UNKNOWN_END_TO_END_ID, key, record, (),
                              f"no instruction with EndToEndId {record.end_to_end_id}")
    if len(candidates) > 1:
        return MatchException(_E.AMBIGUOUS_END_TO_END_ID, key, record, ids,
                              "several instructions share this EndToEndId")
    return _check_details(record, key, candidates[0])


def _check_details(
    record: ReturnRecord, key: str, view: InstructionView
) -> list[InstructionView] | MatchException:
    if record.amount is not None and record.amount != view.amount:
        return MatchException(_E.AMOUNT_MISMATCH, key, record, (view.instruction_id,),
                              f"record {record.amount} != instruction {view.amount}")
    ours, theirs = normalize_account(view.account), normalize_account(record.account)
    if ours and theirs and ours != theirs:
        return MatchException(_E.ACCOUNT_MISMATCH, key, record, (view.instruction_id,),
                              f"record account {record.account} != {view.account}")
    return [view]


def _route_group(
    record: ReturnRecord, key: str, index: _Index
) -> list[InstructionView] | MatchException:
    members = index.by_msg.get(record.msg_id or "", [])
    ids = tuple(v.instruction_id for v in members)
    if not members:
        return MatchException(_E.UNKNOWN_MSG_ID, key, record, (),
                              f"whole-file status for unknown MsgId {record.msg_id}")
    if record.status is _S.REJECTED:
        return MatchException(_E.WHOLE_FILE_REJECTED, key, record, ids,
                              f"the bank rejected the whole file {record.msg_id}")
    if record.status in (_S.ACCEPTED, _S.PENDING):
        return list(members)  # harmless: only moves instructed -> accepted
    return MatchException(_E.WHOLE_FILE_NEEDS_REVIEW, key, record, ids,
                          f"whole-file status {record.status.value} for {record.msg_id}")


def _fallback(record: ReturnRecord, key: str, index: _Index, window: int) -> MatchException:
    if record.bank_reference and record.bank_reference in index.by_reference:
        found = index.by_reference[record.bank_reference]
        how = f"bank reference {record.bank_reference}"
    else:
        found = _by_account_amount_date(record, index, window)
        how = f"account, amount and date within {window} days"
    if not found:
        return MatchException(_E.NO_MATCH, key, record, (),
                              "no EndToEndId and no instruction found by fallback")
    ids = tuple(sorted(v.instruction_id for v in found))
    return MatchException(_E.FALLBACK_MATCH_NEEDS_REVIEW, key, record, ids,
                          f"matched only by {how}")


def _by_account_amount_date(
    record: ReturnRecord, index: _Index, window: int
) -> list[InstructionView]:
    account = normalize_account(record.account)
    if account is None or record.amount is None:
        return []
    found = index.by_account_amount.get((account, record.amount), [])
    if record.booking_date is None:
        return list(found)
    booked = record.booking_date
    return [v for v in found
            if v.requested_date is None or abs((booked - v.requested_date).days) <= window]


def _replay(
    view: InstructionView, queue: Sequence[tuple[ReturnRecord, str]], applies: list[Apply],
    raised: list[MatchException],
) -> None:
    """Run one instruction's records through the state machine in the fixed order."""
    if len(queue) > 1:
        queue = sorted(queue, key=lambda pair: (STATUS_PRECEDENCE[pair[0].status], pair[1]))
    state = view.current_state
    for record, key in queue:
        outcome = TRANSITIONS[(state, record.status)]
        if isinstance(outcome, ExceptionKind):
            raised.append(MatchException(outcome, key, record, (view.instruction_id,),
                                         f"{record.status.value} record while {state.value}"))
            continue
        applies.append(Apply(view.instruction_id, state, outcome, record.reason_code, key,
                             record))
        state = outcome


def apply_decisions(
    instructions: Iterable[InstructionView], decisions: Iterable[Decision]
) -> list[InstructionView]:
    """Return the instructions with the decisions' state changes applied (pure helper).

    Args:
        instructions: The instructions as they were matched.
        decisions: The output of :func:`match_returns`, in its order.

    Returns:
        New views, in ``instruction_id`` order; exceptions change nothing.
    """
    states = {view.instruction_id: view for view in instructions}
    for decision in decisions:
        if isinstance(decision, Apply) and decision.instruction_id in states:
            view = states[decision.instruction_id]
            states[decision.instruction_id] = replace(view, current_state=decision.new_state)
    return [states[key] for key in sorted(states)]
