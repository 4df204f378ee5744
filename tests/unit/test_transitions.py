"""The instruction state machine, cell by cell: what each bank record does in each state.

The expected table is written out here independently of ``reconciliation.match_model``, so a
change to any cell of :data:`TRANSITIONS` fails a named case.
"""

from __future__ import annotations

from datetime import date

import pytest

from reconciliation.matching import (
    CONTESTING,
    STATUS_PRECEDENCE,
    TRANSITIONS,
    ExceptionKind,
    InstructionState,
    InstructionView,
    match_returns,
)
from reconciliation.records import ReturnRecord, ReturnStatus, SourceFormat

St, S, E = InstructionState, ReturnStatus, ExceptionKind

EXPECTED: dict[tuple[InstructionState, ReturnStatus], InstructionState | ExceptionKind] = {
    (St.INSTRUCTED, S.ACCEPTED): St.ACCEPTED,
    (St.INSTRUCTED, S.PENDING): St.ACCEPTED,
    (St.INSTRUCTED, S.SETTLED): St.PAID,
    (St.INSTRUCTED, S.REJECTED): St.REJECTED,
    (St.INSTRUCTED, S.RETURNED): St.RETURNED,
    (St.ACCEPTED, S.ACCEPTED): St.ACCEPTED,
    (St.ACCEPTED, S.PENDING): St.ACCEPTED,
    (St.ACCEPTED, S.SETTLED): St.PAID,
    (St.ACCEPTED, S.REJECTED): St.REJECTED,
    (St.ACCEPTED, S.RETURNED): St.RETURNED,
    (St.PAID, S.ACCEPTED): St.PAID,
    (St.PAID, S.PENDING): St.PAID,
    (St.PAID, S.SETTLED): St.PAID,
    (St.PAID, S.REJECTED): E.SETTLED_AFTER_REJECTION,
    (St.PAID, S.RETURNED): St.RETURNED,
    (St.REJECTED, S.ACCEPTED): St.REJECTED,
    (St.REJECTED, S.PENDING): St.REJECTED,
    (St.REJECTED, S.SETTLED): E.SETTLED_AFTER_REJECTION,
    (St.REJECTED, S.REJECTED): St.REJECTED,
    (St.REJECTED, S.RETURNED): E.RETURNED_AFTER_REJECTION,
    (St.RETURNED, S.ACCEPTED): St.RETURNED,
    (St.RETURNED, S.PENDING): St.RETURNED,
    (St.RETURNED, S.SETTLED): St.RETURNED,
    (St.RETURNED, S.REJECTED): E.RETURNED_AFTER_REJECTION,
    (St.RETURNED, S.RETURNED): St.RETURNED,
    (St.CANCELLED, S.ACCEPTED): E.RECORD_FOR_CANCELLED_INSTRUCTION,
    (St.CANCELLED, S.PENDING): E.RECORD_FOR_CANCELLED_INSTRUCTION,
    (St.CANCELLED, S.SETTLED): E.RECORD_FOR_CANCELLED_INSTRUCTION,
    (St.CANCELLED, S.REJECTED): St.CANCELLED,
    (St.CANCELLED, S.RETURNED): E.RECORD_FOR_CANCELLED_INSTRUCTION,
}


def test_the_table_has_every_cell_and_nothing_else() -> None:
    assert set(TRANSITIONS) == {(state, status) for state in St for status in S}
    assert set(TRANSITIONS) == set(EXPECTED)


def _view(state: InstructionState) -> InstructionView:
    return InstructionView(1, "E2E1", "MSG1", 1_000_000, "0011", "970436", state, None,
                           date(2026, 11, 24))


def _record(status: ReturnStatus) -> ReturnRecord:
    return ReturnRecord(SourceFormat.PAIN002, "f" * 64, "MSG1", "E2E1", None, "0011",
                        1_000_000, status, "AC04" if status is S.REJECTED else None, None,
                        None, 0)


@pytest.mark.parametrize(("cell", "expected"), sorted(EXPECTED.items()),
                         ids=[f"{a.value}+{b.value}" for a, b in sorted(EXPECTED)])
def test_each_cell(cell: tuple[InstructionState, ReturnStatus],
                   expected: InstructionState | ExceptionKind) -> None:
    state, status = cell
    assert TRANSITIONS[cell] == expected
    # and the matcher does what the cell says for one record in that state
    decisions = match_returns([_record(status)], [_view(state)])
    if isinstance(expected, ExceptionKind):
        assert [(type(d).__name__, getattr(d, "kind", None)) for d in decisions] == [
            ("MatchException", expected)]
    else:
        [decision] = decisions
        assert (decision.from_state, decision.new_state) == (state, expected)  # type: ignore[union-attr]


def test_paid_leaves_only_through_a_return_of_the_money() -> None:
    leaving = {status: target for (state, status), target in TRANSITIONS.items()
               if state is St.PAID and isinstance(target, InstructionState)
               and target is not St.PAID}
    assert leaving == {S.RETURNED: St.RETURNED}


def test_failed_states_are_never_reopened() -> None:
    for state in (St.REJECTED, St.RETURNED):
        targets = {t for (s, _), t in TRANSITIONS.items()
                   if s is state and isinstance(t, InstructionState)}
        assert targets == {state}


def test_a_settlement_is_replayed_before_a_rejection() -> None:
    assert STATUS_PRECEDENCE[S.SETTLED] < STATUS_PRECEDENCE[S.REJECTED]
    assert STATUS_PRECEDENCE[S.REJECTED] < STATUS_PRECEDENCE[S.RETURNED]


def test_the_conflicts_between_answers_hold_the_instruction() -> None:
    conflicts = {t for t in TRANSITIONS.values() if isinstance(t, ExceptionKind)}
    assert conflicts - CONTESTING == {E.RECORD_FOR_CANCELLED_INSTRUCTION}


def test_batches_and_matching_share_one_instruction_state_enum():
    from disburse.core.instruction_states import InstructionState as kernel_state
    from disburse.payments.models import InstructionState as stored_state

    assert InstructionState is kernel_state is stored_state
