"""Pure parts of the registry client (breaker, back-off, results, parsing) and row checks."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beneficiaries.registry import (
    BreakerState,
    CircuitBreaker,
    CitizenRecord,
    HttpPopulationRegistry,
    LookupOutcome,
    LookupResult,
    RegistryStatus,
    StaticPopulationRegistry,
    backoff_delay,
    evidence_digest,
)
from beneficiaries.registry.client import MalformedAnswerError, parse_answer
from disburse.entry.popdb.store import FastRowCheck, validate_row

NOW = datetime(2025, 7, 1, 3, 0, tzinfo=UTC)


class FakeClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run_script(script: str, *, threshold: int = 3, timeout: float = 10.0) -> CircuitBreaker:
    """Drive a breaker with a script of space-separated steps and check each expectation.

    Steps: ``F`` failure, ``S`` success, ``+`` allow() must be True, ``-`` allow() must be
    False, ``tN`` advance the clock N seconds, ``=state`` the state must be ``state``.
    """
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=threshold, reset_timeout=timeout, clock=clock)
    for index, step in enumerate(script.split()):
        where = f"step {index} ({step}) of {script!r}"
        if step == "F":
            breaker.record_failure()
        elif step == "S":
            breaker.record_success()
        elif step in "+-":
            assert breaker.allow() is (step == "+"), where
        elif step.startswith("t"):
            clock.now += float(step[1:])
        elif step.startswith("="):
            assert breaker.state == step[1:], where
        else:
            raise AssertionError(f"bad step {step!r}")
    return breaker


@pytest.mark.parametrize("script", [
    pytest.param("=closed + + +", id="starts closed and allows"),
    pytest.param("F F =closed +", id="below the threshold stays closed"),
    pytest.param("F F F =open -", id="threshold consecutive failures open it"),
    pytest.param("F F S F F =closed +", id="a success resets the count"),
    pytest.param("F F F t9.999 =open -", id="stays open during the cool-down"),
    pytest.param("F F F t10 =half_open", id="half-open once the cool-down is over"),
    pytest.param("F F F t10 + - - =half_open", id="half-open allows exactly one trial"),
    pytest.param("F F F t10 + S =closed + +", id="trial success closes"),
    pytest.param("F F F t10 + F =open -", id="trial failure re-opens"),
    pytest.param("F F F t10 + F t9 =open - t1 =half_open + -", id="re-open restarts cool-down"),
    pytest.param("F F F t10 + S F F =closed F =open", id="count starts again after closing"),
    pytest.param("F F F t50 + - t50 - =half_open", id="one trial however long it waits"),
])
def test_breaker_state_table(script: str) -> None:
    run_script(script)


def test_threshold_one_opens_on_first_failure() -> None:
    run_script("F =open -", threshold=1)


def test_breaker_rejects_a_zero_threshold() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)


EVENTS = st.lists(st.sampled_from(["F", "S", "+", "t"]), max_size=60)


@settings(max_examples=300)
@given(EVENTS)
def test_breaker_invariants_hold_for_any_history(events: list[str]) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=10, clock=clock)
    trials_since_record = 0
    failures = 0  # consecutive failures since the last success
    for event in events:
        if event == "F":
            breaker.record_failure()
            trials_since_record = 0
        elif event == "S":
            breaker.record_success()
            trials_since_record = 0
            assert breaker.state is BreakerState.CLOSED
        elif event == "t":
            clock.now += 10  # a whole cool-down
        else:
            state = breaker.state
            allowed = breaker.allow()
            if state is BreakerState.OPEN:
                assert not allowed
            if state is BreakerState.CLOSED:
                assert allowed
            if state is BreakerState.HALF_OPEN and allowed:
                trials_since_record += 1
        # Half-open never lets a second call through before the first one is recorded.
        assert trials_since_record <= 1
        failures = 0 if event == "S" else failures + (event == "F")
        if failures >= 2:
            assert breaker.state is not BreakerState.CLOSED


@pytest.mark.parametrize(("attempt", "ceiling"), [
    (0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (50, 10.0), (10_000, 10.0),
])
def test_backoff_ceiling_doubles_up_to_the_cap(attempt: int, ceiling: float) -> None:
    assert backoff_delay(attempt, base=0.5, cap=10.0, rand=lambda: 1.0) == ceiling
    assert backoff_delay(attempt, base=0.5, cap=10.0, rand=lambda: 0.0) == 0.0


@given(
    attempt=st.integers(min_value=0, max_value=200),
    base=st.floats(min_value=0.001, max_value=5),
    cap=st.floats(min_value=0.001, max_value=60),
)
def test_backoff_has_full_jitter_within_bounds(attempt: int, base: float, cap: float) -> None:
    delay = backoff_delay(attempt, base=base, cap=cap)
    assert 0.0 <= delay <= min(cap, base * 2.0 ** min(attempt, 62))


def test_backoff_jitter_spreads_delays() -> None:
    delays = {backoff_delay(3, base=1.0, cap=30.0) for _ in range(50)}
    assert len(delays) > 40


RECORD = CitizenRecord("001190012345", "Nguyễn Thị Hồng Nhung", date(1990, 4, 12), "female",
                       RegistryStatus.ALIVE, None, "01", "00004")


@pytest.mark.parametrize(("kwargs", "outcome"), [
    ({"record": RECORD, "found": True}, LookupOutcome.FOUND),
    ({"record": None, "found": False}, LookupOutcome.NOT_FOUND),
    ({"record": None, "found": False, "unavailable": True}, LookupOutcome.UNAVAILABLE),
])
def test_lookup_result_outcomes(kwargs: dict[str, Any], outcome: LookupOutcome) -> None:
    result = LookupResult(citizen_id="001190012345", evidence_digest="", served_at=NOW, **kwargs)
    assert result.outcome is outcome


@pytest.mark.parametrize("kwargs", [
    {"record": None, "found": True},
    {"record": RECORD, "found": False},
    {"record": RECORD, "found": True, "unavailable": True},
    {"record": None, "found": False, "served_at": datetime(2025, 7, 1)},  # naive
])
def test_contradictory_lookup_results_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LookupResult(**{"citizen_id": "001190012345", "evidence_digest": "",
                        "served_at": NOW, **kwargs})


def answer(request_id: str = "r1", results: list[dict[str, Any]] | None = None,
           served_at: Any = "2025-07-01T03:00:00.000Z") -> bytes:
    found = {"citizen_id": "001190012345", "found": True, "full_name": "Nguyễn Thị Hồng Nhung",
             "date_of_birth": "1990-04-12", "gender": "female", "status": "alive",
             "date_of_death": None, "province_code": "01", "commune_code": "00004"}
    dead = {**found, "citizen_id": "038155001234", "status": "deceased",
            "date_of_death": "2023-05-17"}
    items = results if results is not None else [
        found, dead, {"citizen_id": "999999999999", "found": False}]
    return json.dumps({"request_id": request_id, "results": items, "served_at": served_at},
                      ensure_ascii=False).encode("utf-8")


def test_parse_answer_maps_each_outcome() -> None:
    body = answer()
    ids = ["001190012345", "038155001234", "999999999999", "048301009876"]
    results = parse_answer(body, "r1", ids)
    assert results["001190012345"].record == RECORD
    dead = results["038155001234"].record
    assert dead is not None and dead.deceased and dead.date_of_death == date(2023, 5, 17)
    assert results["999999999999"].outcome is LookupOutcome.NOT_FOUND
    # An ID the answer leaves out is not guessed at.
    assert results["048301009876"].outcome is LookupOutcome.UNAVAILABLE
    digest = hashlib.sha256(b"r1\n" + body).hexdigest()
    assert {results[cid].evidence_digest for cid in ids[:3]} == {digest}
    assert results["001190012345"].served_at == NOW


@pytest.mark.parametrize("body", [
    b"not json",
    answer(request_id="someone-else"),
    answer(served_at=None),
    answer(served_at="2025-07-01T03:00:00"),  # no time zone
    answer(results=[{"citizen_id": "001190012345", "found": True}]),
    answer(results=[{"citizen_id": "001190012345", "found": True, "full_name": "A",
                     "date_of_birth": "1990-02-30", "gender": "female", "status": "alive",
                     "date_of_death": None, "province_code": "01", "commune_code": "1"}]),
    answer(results=[{"citizen_id": "001190012345", "found": True, "full_name": "A",
                     "date_of_birth": "1990-02-03", "gender": "female", "status": "zombie",
                     "date_of_death": None, "province_code": "01", "commune_code": "1"}]),
    b'["a list"]',
])
def test_parse_answer_refuses_garbled_bodies(body: bytes) -> None:
    with pytest.raises(MalformedAnswerError):
        parse_answer(body, "r1", ["001190012345"])


def test_evidence_digest_binds_the_request_id() -> None:
    assert evidence_digest(b"{}", "a") != evidence_digest(b"{}", "b")
    assert evidence_digest(b"{}", "a") == hashlib.sha256(b"a\n{}").hexdigest()


def test_invalid_ids_are_answered_without_a_request() -> None:
    # Port 9 on loopback is closed: any request would come back unavailable, not not_found.
    progress: list[tuple[int, int]] = []
    with HttpPopulationRegistry("http://127.0.0.1:9", "t", max_retries=0) as client:
        results = client.lookup_many(["12345", "", "00119001234X"],
                                     on_batch=lambda d, t: progress.append((d, t)))
        assert client.breaker.consecutive_failures == 0
    assert {r.outcome for r in results.values()} == {LookupOutcome.NOT_FOUND}
    assert all(r.error and "12-digit" in r.error for r in results.values())
    assert progress == [(3, 3)]


@pytest.mark.parametrize("options", [
    {"batch_size": 0}, {"concurrency": 0}, {"max_retries": -1},
])
def test_client_refuses_nonsense_settings(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        HttpPopulationRegistry("http://127.0.0.1:9", "t", **options)


def test_static_registry_answers_like_a_registry() -> None:
    registry = StaticPopulationRegistry([RECORD], unavailable={"038155001234"},
                                        now=lambda: NOW)
    results = registry.lookup_many(["001190012345", "038155001234", "999999999999"])
    assert [r.outcome for r in results.values()] == [
        LookupOutcome.FOUND, LookupOutcome.UNAVAILABLE, LookupOutcome.NOT_FOUND]
    assert results["001190012345"].record == RECORD
    assert results["001190012345"].evidence_digest != results["999999999999"].evidence_digest
    registry.up = False
    assert not registry.health()
    assert registry.lookup_many(["001190012345"])["001190012345"].unavailable


CELLS = {
    "citizen_id": st.sampled_from(["001190012345", "00119001234", "00119001234X", ""]),
    "full_name": st.sampled_from(["Trần Văn Đức", ""]),
    "date_of_birth": st.sampled_from(["1990-04-12", "1990-02-30", "2020-W01-1", "19900412"]),
    "gender": st.sampled_from(["male", "female", "nam", ""]),
    "province_code": st.sampled_from(["01", ""]),
    "commune_code": st.sampled_from(["00004", ""]),
    "status": st.sampled_from(["alive", "deceased", "dead"]),
    "date_of_death": st.sampled_from(["", "2023-05-17", "1980-01-01", "2023-13-01"]),
}


@settings(max_examples=300)
@given(st.tuples(*CELLS.values()))
def test_fast_row_check_agrees_with_the_detailed_one(values: tuple[str, ...]) -> None:
    # The loader takes the fast path for speed and the detailed one for messages: a row
    # must be good or bad by both.
    assert FastRowCheck().row_ok(values) == (validate_row(values) == [])
