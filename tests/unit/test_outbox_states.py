"""The submission state table: every allowed move, and every other move refused."""

from __future__ import annotations

import itertools
import os
import socket
from datetime import UTC, datetime, timedelta

import pytest

from bank_adapters.models import (
    FINAL,
    TRANSITIONS,
    SubmissionEvent,
    SubmissionState,
    next_submission_state,
)
from bank_adapters.outbox import claim_is_stale
from disburse.core.errors import InvalidTransition

S, E = SubmissionState, SubmissionEvent

ALLOWED = [
    (S.PENDING, E.CLAIM, S.SENDING),
    (S.UNKNOWN, E.CLAIM, S.SENDING),
    (S.SENDING, E.CLAIM, S.SENDING),
    (S.SENDING, E.ACCEPT, S.ACCEPTED),
    (S.SENDING, E.REFUSE, S.REJECTED),
    (S.SENDING, E.TIMEOUT, S.UNKNOWN),
    (S.SENDING, E.UNAVAILABLE, S.PENDING),
]


@pytest.mark.parametrize(("state", "event", "expected"), ALLOWED)
def test_allowed_moves(state: S, event: E, expected: S) -> None:
    assert next_submission_state(state, event) is expected
    assert next_submission_state(state.value, event.value) is expected


REFUSED = [(s, e) for s, e in itertools.product(S, E)
           if (s, e) not in {(a, b) for a, b, _ in ALLOWED}]


@pytest.mark.parametrize(("state", "event"), REFUSED)
def test_every_other_move_is_refused(state: S, event: E) -> None:
    with pytest.raises(InvalidTransition, match=state.value):
        next_submission_state(state, event)


def test_table_is_exactly_the_allowed_list() -> None:
    assert {(s, e): t for s, e, t in ALLOWED} == {(s, e): t for (e, s), t in TRANSITIONS.items()}


@pytest.mark.parametrize("final", sorted(FINAL))
def test_final_states_have_no_way_out(final: S) -> None:
    assert not [key for key in TRANSITIONS if key[1] is final]


def test_nothing_is_sent_without_passing_through_sending() -> None:
    # Every final state is reached only from ``sending``: the claim is always recorded first.
    assert {s for (_, s), t in TRANSITIONS.items() if t in FINAL} == {S.SENDING}
    # A pending row never jumps to unknown: only an attempt can make the outcome unknown.
    assert all(t is not S.UNKNOWN or s is S.SENDING for (_, s), t in TRANSITIONS.items())


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HERE = socket.gethostname()


@pytest.mark.parametrize(("worker", "lease", "stale"), [
    (f"{HERE}:{os.getpid()}:abc", NOW + timedelta(minutes=5), False),  # me, alive
    (f"{HERE}:{os.getpid()}:abc", NOW - timedelta(seconds=1), True),  # lease over
    (f"{HERE}:999999999:abc", NOW + timedelta(minutes=5), True),  # no such process here
    ("elsewhere.example:1:abc", NOW + timedelta(minutes=5), False),  # cannot tell: lease
    ("elsewhere.example:1:abc", NOW, True),
    (None, None, True),
])
def test_claim_staleness(worker: str | None, lease: datetime | None, stale: bool) -> None:
    assert claim_is_stale(worker, lease, NOW) is stale
