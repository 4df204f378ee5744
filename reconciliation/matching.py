"""Match bank return records to payment instructions: a pure function, no database.

``match_returns(records, instructions)`` returns :data:`Decision` values: an :class:`Apply`
(move one instruction to a state, citing the record) or a :class:`MatchException` (a
record a person must look at). Every record ends up in at least one decision.
:func:`iter_match_returns` gives the same decisions in the same order one at a time, for a
caller that need not hold them all.

Matching is on EndToEndId, narrowed by the original MsgId when several instructions share
the id (a re-routed payment), then amount and account are checked. A record without an
EndToEndId is tried by bank reference, then by account + amount + a date window; such a
fallback match is never applied automatically, it becomes ``fallback_match_needs_review``.

Order does not matter within one call: duplicates (same :func:`record_key`) are removed
keeping a fixed representative, and each instruction's records are replayed in a fixed
precedence, ``accepted < pending < settled < rejected < returned``, through
:data:`TRANSITIONS`. Conflicts are named by the pair, not by their order: a settlement and
a rejection for one instruction always give ``settled_after_rejection``, whichever came
first, and the instruction stays ``paid`` (the bank confirmed the money; a rejection never
takes that back). A return after a settlement is a reversal (``paid -> returned``), the only
way out of ``paid``. Re-matching the same records against the updated instructions
changes nothing (every ``Apply`` then has ``from_state == new_state``).

The types, the state machine and the record key live in :mod:`reconciliation.match_model`
and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from operator import itemgetter
from typing import TypeVar

from reconciliation.match_model import (
    CONTESTING,
    DEFAULT_DATE_WINDOW_DAYS,
    OUT_OF_SCOPE,
    PAIR_CONFLICTS,
    STATUS_PRECEDENCE,
    TRANSITIONS,
    Apply,
    Decision,
    ExceptionKind,
    InstructionState,
    InstructionView,
    MatchException,
    apply_decisions,
    normalize_account,
    record_key,
    tie_order,
)
from reconciliation.records import ReturnRecord, ReturnStatus

__all__ = [
    "CONTESTING", "DEFAULT_DATE_WINDOW_DAYS", "OUT_OF_SCOPE", "STATUS_PRECEDENCE",
    "TRANSITIONS", "Apply", "Decision",
    "ExceptionKind", "InstructionState", "InstructionView", "MatchException",
    "apply_decisions", "iter_match_keyed_returns", "iter_match_returns",
    "match_keyed_returns", "match_returns", "normalize_account", "record_key",
]

_S = ReturnStatus
_E = ExceptionKind
_K = TypeVar("_K")
_T = TypeVar("_T")
#: What routing a record gives when it is not applied: (kind, candidate ids, detail).
_Raise = tuple[ExceptionKind, tuple[int, ...], str]
_Keyed = tuple[str, ReturnRecord]
_DUPLICATE = "same record already seen"


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
        more = self.more_by_e2e.get(end_to_end_id)
        return [first, *more] if more else [first]

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
    return list(iter_match_returns(records, instructions, date_window_days=date_window_days))


def iter_match_returns(
    records: Iterable[ReturnRecord],
    instructions: Iterable[InstructionView],
    *,
    date_window_days: int = DEFAULT_DATE_WINDOW_DAYS,
) -> Iterator[Decision]:
    """:func:`match_returns`, one decision at a time (the same decisions, the same order).

    All records are read before the first decision; the applies are then built one
    instruction at a time, so a caller that consumes them as they come never holds a
    million decisions at once.

    Args:
        records: As for :func:`match_returns`.
        instructions: As for :func:`match_returns`.
        date_window_days: As for :func:`match_returns`.

    Returns:
        An iterator over the decisions.
    """
    return _match(records, _itself, record_key, instructions, date_window_days)


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
    return list(iter_match_keyed_returns(keyed, instructions,
                                         date_window_days=date_window_days))


def iter_match_keyed_returns(
    keyed: Iterable[tuple[str, ReturnRecord]],
    instructions: Iterable[InstructionView],
    *,
    date_window_days: int = DEFAULT_DATE_WINDOW_DAYS,
) -> Iterator[Decision]:
    """:func:`match_keyed_returns`, one decision at a time (see :func:`iter_match_returns`).

    Args:
        keyed: As for :func:`match_keyed_returns`.
        instructions: As for :func:`match_returns`.
        date_window_days: As for :func:`match_returns`.

    Returns:
        An iterator over the decisions.
    """
    return _match(keyed, _RECORD_OF_PAIR, _KEY_OF_PAIR, instructions, date_window_days)


def _itself(record: ReturnRecord) -> ReturnRecord:
    return record


_RECORD_OF_PAIR: Callable[[_Keyed], ReturnRecord] = itemgetter(1)
_KEY_OF_PAIR: Callable[[_Keyed], str] = itemgetter(0)


def _match(
    entries: Iterable[_T],
    record_of: Callable[[_T], ReturnRecord],
    key_of: Callable[[_T], str],
    instructions: Iterable[InstructionView],
    window: int,
) -> Iterator[Decision]:
    """Route every record, then replay each instruction's records in id order.

    An entry is a record or a (key, record) pair, as the caller gave it. Memory is what
    bounds a million-record file: an instruction with a single record holds just the
    caller's entry (no tuple, no key yet: its key is made when its decisions are), and the
    decisions are built one instruction at a time. Deduplication needs no key-wide table:
    the route of a record depends only on fields inside its key, so duplicates of a record
    routed to one instruction meet in that instruction's queue; the others (exceptions and
    whole-file answers for several instructions) are deduplicated by key here.
    """
    index = _Index(instructions)
    single: dict[int, _T] = {}  # instruction id -> its only entry so far
    more: dict[int, list[_Keyed]] = {}  # instruction id -> its further records, keyed
    held: dict[str, tuple[ReturnRecord, list[InstructionView] | _Raise]] = {}
    exceptions: list[MatchException] = []
    for entry in entries:
        record = record_of(entry)
        outcome = _route(record, index, window)
        if isinstance(outcome, list) and len(outcome) == 1:
            outcome = outcome[0]
        if isinstance(outcome, InstructionView):
            instruction_id = outcome.instruction_id
            if instruction_id in single or instruction_id in more:
                more.setdefault(instruction_id, []).append((key_of(entry), record))
            else:
                single[instruction_id] = entry
        else:
            _hold(held, key_of(entry), record, outcome, exceptions)
    views = index.views
    del index  # the look-ups are done with
    for key, (record, outcome) in held.items():
        if isinstance(outcome, list):  # a whole-file answer: one record in several queues
            for view in outcome:
                more.setdefault(view.instruction_id, []).append((key, record))
        else:
            kind, candidate_ids, detail = outcome
            exceptions.append(MatchException(kind, key, record, candidate_ids, detail))
    del held
    for view in views:
        extra = more.pop(view.instruction_id, None) if more else None
        only = single.pop(view.instruction_id, None)  # frees the entry as we go
        if only is not None and extra is None:  # the usual case: one record
            applied = _step(view, view.current_state, key_of(only), record_of(only),
                            exceptions)
            if applied is not None:
                yield applied
        elif extra is not None:
            if only is not None:
                extra.insert(0, (key_of(only), record_of(only)))
            yield from _replay(view, _deduplicate(extra, exceptions), exceptions)
    exceptions.sort(key=lambda e: (e.kind.value, e.record_key, e.candidate_ids,
                                   *tie_order(e.record)))
    yield from exceptions


def _hold(held: dict[str, tuple[ReturnRecord, list[InstructionView] | _Raise]], key: str,
          record: ReturnRecord, outcome: list[InstructionView] | _Raise,
          exceptions: list[MatchException]) -> None:
    """Keep one record per key, the first in :func:`tie_order`; the others are duplicates."""
    kept = held.setdefault(key, (record, outcome))
    if kept[0] is record:
        return
    if tie_order(record) < tie_order(kept[0]):
        held[key], record = (record, outcome), kept[0]
    exceptions.append(MatchException(_E.DUPLICATE_RECORD, key, record, (), _DUPLICATE))


def _deduplicate(queue: list[_Keyed], exceptions: list[MatchException]) -> list[_Keyed]:
    """One instruction's records, one per key (the first in :func:`tie_order`)."""
    unique: dict[str, ReturnRecord] = {}
    for key, record in queue:
        kept = unique.setdefault(key, record)
        if kept is record:
            continue
        if tie_order(record) < tie_order(kept):
            unique[key], record = record, kept
        exceptions.append(MatchException(_E.DUPLICATE_RECORD, key, record, (), _DUPLICATE))
    return list(unique.items())


def _route(record: ReturnRecord, index: _Index, window: int
           ) -> InstructionView | list[InstructionView] | _Raise:
    """Find the instruction(s) a record applies to, or the exception it raises.

    Only fields inside the record's key are read, so duplicates always route alike.
    """
    e2e = record.end_to_end_id
    if e2e is None and record.group_status is not None:
        return _route_group(record, index)
    if e2e is None:
        return _fallback(record, index, window)
    if e2e not in index.more_by_e2e:  # the usual case: at most one instruction has the id
        view = index.first_by_e2e.get(e2e)
        if view is not None:
            return _check_details(record, view)
    candidates = index.by_e2e(e2e)
    if len(candidates) > 1 and record.msg_id:
        candidates = [v for v in candidates if v.msg_id == record.msg_id] or candidates
    if not candidates:
        return (_E.UNKNOWN_END_TO_END_ID, (),
                f"no instruction with EndToEndId {record.end_to_end_id}")
    if len(candidates) > 1:
        return (_E.AMBIGUOUS_END_TO_END_ID, tuple(v.instruction_id for v in candidates),
                "several instructions share this EndToEndId")
    return _check_details(record, candidates[0])


def _check_details(record: ReturnRecord, view: InstructionView) -> InstructionView | _Raise:
    if record.amount is not None and record.amount != view.amount:
        return (_E.AMOUNT_MISMATCH, (view.instruction_id,),
                f"record {record.amount} != instruction {view.amount}")
    if record.account != view.account:  # equal as written: equal when normalised too
        ours, theirs = normalize_account(view.account), normalize_account(record.account)
        if ours and theirs and ours != theirs:
            return (_E.ACCOUNT_MISMATCH, (view.instruction_id,),
                    f"record account {record.account} != {view.account}")
    return view


def _route_group(record: ReturnRecord, index: _Index) -> list[InstructionView] | _Raise:
    members = index.by_msg.get(record.msg_id or "", [])
    ids = tuple(v.instruction_id for v in members)
    if not members:
        return (_E.UNKNOWN_MSG_ID, (), f"whole-file status for unknown MsgId {record.msg_id}")
    if record.status is _S.REJECTED:
        return (_E.WHOLE_FILE_REJECTED, ids,
                f"the bank rejected the whole file {record.msg_id}")
    if record.status in (_S.ACCEPTED, _S.PENDING):
        return list(members)  # harmless: only moves instructed -> accepted
    return (_E.WHOLE_FILE_NEEDS_REVIEW, ids,
            f"whole-file status {record.status.value} for {record.msg_id}")


def _fallback(record: ReturnRecord, index: _Index, window: int) -> _Raise:
    if record.bank_reference and record.bank_reference in index.by_reference:
        found = index.by_reference[record.bank_reference]
        how = f"bank reference {record.bank_reference}"
    else:
        found = _by_account_amount_date(record, index, window)
        how = f"account, amount and date within {window} days"
    if not found:
        return (_E.NO_MATCH, (), "no EndToEndId and no instruction found by fallback")
    return (_E.FALLBACK_MATCH_NEEDS_REVIEW, tuple(sorted(v.instruction_id for v in found)),
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


def _replay(view: InstructionView, queue: list[_Keyed], raised: list[MatchException]
            ) -> Iterator[Apply]:
    """Run one instruction's records through the state machine in the fixed order."""
    if len(queue) > 1:
        queue.sort(key=lambda pair: (STATUS_PRECEDENCE[pair[1].status], pair[0]))
    state = view.current_state
    start = len(raised)
    for key, record in queue:
        applied = _step(view, state, key, record, raised)
        if applied is not None:
            yield applied
            state = applied.new_state
    _raise_pair_conflicts(view, queue, raised, start)


def _raise_pair_conflicts(view: InstructionView, queue: list[_Keyed],
                          raised: list[MatchException], start: int) -> None:
    """Raise :data:`PAIR_CONFLICTS` the replay stepped around (see there), once per record."""
    statuses = {record.status for _, record in queue}
    done = {(e.kind, e.record_key) for e in raised[start:]}
    for (first, later), kind in PAIR_CONFLICTS.items():
        if first not in statuses or later not in statuses:
            continue
        for key, record in queue:
            if record.status is later and (kind, key) not in done:
                done.add((kind, key))
                raised.append(MatchException(kind, key, record, (view.instruction_id,),
                                             f"{later.value} record beside a {first.value} one"))


def _step(view: InstructionView, state: InstructionState, key: str, record: ReturnRecord,
          raised: list[MatchException]) -> Apply | None:
    """One record in state ``state``: the move it makes, or None with its exception raised."""
    outcome = TRANSITIONS[(state, record.status)]
    if isinstance(outcome, ExceptionKind):
        raised.append(MatchException(outcome, key, record, (view.instruction_id,),
                                     f"{record.status.value} record while {state.value}"))
        return None
    return Apply(view.instruction_id, state, outcome, record.reason_code, key, record)
