"""The batch lifecycle table, walked exhaustively: every (action, state) pair is tried."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from disburse.core.errors import InvalidTransition, ValidationFailed
from disburse.payments.build import end_to_end_id, requested_execution_date
from disburse.payments.lifecycle import (
    SENT,
    TRANSITIONS,
    BatchAction,
    BatchState,
    allowed_actions,
    next_state,
)

S, A = BatchState, BatchAction

#: The issue's lifecycle written out by hand, independently of ``TRANSITIONS``.
EXPECTED: dict[tuple[BatchAction, BatchState], BatchState] = {
    (A.SUBMIT, S.DRAFT): S.PENDING_APPROVAL,
    (A.APPROVE, S.PENDING_APPROVAL): S.APPROVED,
    (A.REJECT, S.PENDING_APPROVAL): S.DRAFT,
    (A.VOID_APPROVAL, S.APPROVED): S.DRAFT,
    (A.VOID_APPROVAL, S.FILES_READY): S.DRAFT,
    (A.WRITE_FILES, S.APPROVED): S.FILES_READY,
    (A.WRITE_FILES, S.FILES_READY): S.FILES_READY,
    (A.SEND, S.FILES_READY): S.SUBMITTED,
    (A.SETTLE_PART, S.SUBMITTED): S.PARTIALLY_SETTLED,
    (A.SETTLE_PART, S.PARTIALLY_SETTLED): S.PARTIALLY_SETTLED,
    (A.SETTLE_ALL, S.SUBMITTED): S.SETTLED,
    (A.SETTLE_ALL, S.PARTIALLY_SETTLED): S.SETTLED,
    (A.CLOSE, S.SETTLED): S.CLOSED,
    (A.CANCEL, S.DRAFT): S.CANCELLED,
    (A.CANCEL, S.PENDING_APPROVAL): S.CANCELLED,
    (A.CANCEL, S.APPROVED): S.CANCELLED,
    (A.CANCEL, S.FILES_READY): S.CANCELLED,
}

ALL_PAIRS = list(itertools.product(BatchAction, BatchState))


def test_the_table_is_the_documented_lifecycle() -> None:
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize(("action", "state"), ALL_PAIRS,
                         ids=[f"{a.value}-from-{s.value}" for a, s in ALL_PAIRS])
def test_every_action_from_every_state(action: BatchAction, state: BatchState) -> None:
    target = EXPECTED.get((action, state))
    if target is None:
        with pytest.raises(InvalidTransition) as raised:
            next_state(state, action)
        assert f"cannot {action.value} a batch that is {state.value}" in str(raised.value)
        assert action not in allowed_actions(state)
    else:
        assert next_state(state.value, action.value) is target
        assert action in allowed_actions(state)


@pytest.mark.parametrize("state", sorted(SENT | {S.CANCELLED}))
def test_nothing_is_cancelled_once_sent_or_cancelled(state: BatchState) -> None:
    with pytest.raises(InvalidTransition):
        next_state(state, A.CANCEL)


def test_closed_and_cancelled_are_final() -> None:
    assert allowed_actions(S.CLOSED) == []
    assert allowed_actions(S.CANCELLED) == []


def test_the_happy_path_reaches_closed() -> None:
    state = S.DRAFT
    for action in (A.SUBMIT, A.REJECT, A.SUBMIT, A.APPROVE, A.VOID_APPROVAL, A.SUBMIT,
                   A.APPROVE, A.WRITE_FILES, A.SEND, A.SETTLE_PART, A.SETTLE_ALL, A.CLOSE):
        state = next_state(state, action)
    assert state is S.CLOSED


@pytest.mark.parametrize(("bad_state", "bad_action"), [("draft", "fly"), ("limbo", "submit")])
def test_unknown_names_are_refused(bad_state: str, bad_action: str) -> None:
    with pytest.raises(ValueError):
        next_state(bad_state, bad_action)


@pytest.mark.parametrize(("programme", "period", "bid", "expected"), [
    ("pension", "2026-11", 1, "PEN202611000000000001"),
    ("pension", "2026-11", 36, "PEN202611000000000010"),
    ("social_protection", "2027-01", 1295, "SOC2027010000000000ZZ"),
    ("unemployment", "2026-02", 36**11, "UNE202602100000000000"),
])
def test_end_to_end_id_format(programme: str, period: str, bid: int, expected: str) -> None:
    value = end_to_end_id(programme, period, bid)
    assert value == expected
    assert len(value) <= 35 and value.isalnum() and value.upper() == value


def test_end_to_end_id_is_injective_over_people_programmes_and_periods() -> None:
    seen = {end_to_end_id(p, period, bid)
            for p in ("pension", "social_protection", "revolutionary", "unemployment")
            for period in ("2026-11", "2026-12", "2027-01")
            for bid in range(1, 400)}
    assert len(seen) == 4 * 3 * 399


@pytest.mark.parametrize(("period", "today", "expected"), [
    ("2026-11", date(2026, 11, 3), date(2026, 11, 10)),
    ("2026-11", date(2026, 10, 20), date(2026, 11, 10)),
    ("2026-11", date(2026, 11, 25), date(2026, 11, 25)),
    ("2026-11", date(2027, 1, 2), date(2027, 1, 2)),
])
def test_requested_execution_date(period: str, today: date, expected: date) -> None:
    assert requested_execution_date(period, today) == expected


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "26-11", "2026/11", "", "2026-00"])
def test_bad_periods_are_refused(period: str) -> None:
    with pytest.raises(ValidationFailed):
        requested_execution_date(period, date(2026, 11, 1))
