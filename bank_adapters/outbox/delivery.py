"""Delivering the outbox: claim, submit or ask the bank's status, record; at most once per MsgId.

Each submission goes through short transactions of its own; claims are compare-and-set
updates (plus ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), a per-route circuit breaker stops
hammering a failing bank, and rounds wait with jittered exponential back-off.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from bank_adapters.models import (
    MAYBE_SENT,
    Submission,
    SubmissionEvent,
    SubmissionState,
    next_submission_state,
)
from bank_adapters.outbox.changes import audit_change
from bank_adapters.outbox.enqueue import outgoing_file
from bank_adapters.protocol import (
    BankAdapter,
    BankUnavailable,
    OutgoingFile,
    SubmissionRefused,
    SubmissionStatus,
    SubmissionTimeout,
)
from disburse.core.breaker import CircuitBreaker, backoff_delay
from disburse.core.clock import utcnow
from disburse.core.uow import unit_of_work
from disburse.payments.models import PaymentFile

log = logging.getLogger(__name__)

#: Test hook: the deliverer blocks at this named point (see ``_pause_point``).
PAUSE_AT_ENV: Final = "DISBURSE_OUTBOX_PAUSE_AT"
PAUSE_DIR_ENV: Final = "DISBURSE_OUTBOX_PAUSE_DIR"


S, E = SubmissionState, SubmissionEvent


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard one delivery run tries.

    Attributes:
        rounds: passes over the open submissions in one run (retries with back-off between).
        backoff_base, backoff_cap: seconds, for ``backoff_delay`` between rounds.
        lease_seconds: how long a ``sending`` claim is honoured before it counts as crashed.
        failure_threshold, reset_timeout: the per-route circuit breaker.
    """

    rounds: int = 3
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    lease_seconds: float = 300.0
    failure_threshold: int = 5
    reset_timeout: float = 60.0


@dataclass
class RouteBreakers:
    """One circuit breaker per route, kept for the life of a worker process."""

    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    clock: Callable[[], float] = time.monotonic
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)

    def for_route(self, route: str) -> CircuitBreaker:
        """Return the breaker of ``route``, creating a closed one on first use."""
        if route not in self.breakers:
            self.breakers[route] = CircuitBreaker(self.policy.failure_threshold,
                                                  self.policy.reset_timeout, self.clock)
        return self.breakers[route]


@dataclass
class DeliveryReport:
    """What one delivery run did: the state each touched MsgId ended in, and what waited."""

    states: dict[str, str] = field(default_factory=dict)
    breaker_open: set[str] = field(default_factory=set)
    submits: int = 0
    status_queries: int = 0

    def count(self, state: SubmissionState) -> int:
        """Return how many submissions this run left in ``state``."""
        return sum(1 for s in self.states.values() if s == state.value)

    def count_open(self) -> int:
        """Return how many touched submissions are not final yet (or waited on a breaker)."""
        return sum(1 for s in self.states.values()
                   if s not in (S.ACCEPTED.value, S.REJECTED.value)) + len(self.breaker_open)


@dataclass(frozen=True)
class _Claim:
    id: int
    msg_id: str
    route: str
    before: SubmissionState
    outgoing: OutgoingFile


@dataclass(frozen=True)
class _Outcome:
    event: SubmissionEvent
    receipt: dict[str, Any] | None = None
    error: str | None = None
    bank_answered: bool = True


def worker_id() -> str:
    """Return this worker's id: ``host:pid:random`` (the random part tells threads apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_is_stale(worker: str | None, lease_until: datetime | None, now: datetime) -> bool:
    """Return True when a ``sending`` claim belongs to a crashed worker.

    It is stale when its lease is over, or when it was taken on this host by a process that
    no longer exists (so a restart after a crash resolves it at once).
    """
    if lease_until is None or lease_until <= now:
        return True
    host, _, rest = (worker or "").partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        return not _process_alive(int(pid_text))
    return False


AdapterSource = Callable[[str], BankAdapter] | Mapping[str, BankAdapter]


class Deliverer:
    """Works the open submissions through their adapters; one per worker process."""

    def __init__(
        self, session_factory: sessionmaker[Session], adapters: AdapterSource, *,
        files_root: Path, policy: DeliveryPolicy | None = None,
        breakers: RouteBreakers | None = None, now: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep, actor: str = "outbox",
    ) -> None:
        """Create a deliverer.

        Args:
            session_factory: opens the short transactions.
            adapters: route name -> adapter (a mapping or a function).
            files_root: where payment files are (see ``outgoing_file``).
            policy: rounds, back-off, lease and breaker settings.
            breakers: per-route breakers to share between runs of this process.
            now: aware UTC clock for leases and timestamps.
            sleep: how to wait between rounds (tests pass a recorder).
            actor: who the audit trail names.
        """
        self.session_factory = session_factory
        self._adapters = adapters
        self.files_root = files_root
        self.policy = policy or DeliveryPolicy()
        self.breakers = breakers or RouteBreakers(self.policy)
        self.now = now
        self.sleep = sleep
        self.actor = actor
        self.worker = worker_id()

    def adapter(self, route: str) -> BankAdapter:
        """Return the adapter of ``route``."""
        if isinstance(self._adapters, Mapping):
            return self._adapters[route]
        return self._adapters(route)

    def run(self) -> DeliveryReport:
        """Deliver or resolve every open submission, in up to ``policy.rounds`` passes."""
        report = DeliveryReport()
        for round_no in range(self.policy.rounds):
            candidates = self._candidates()
            if not candidates:
                break
            if round_no:
                self.sleep(backoff_delay(round_no - 1, base=self.policy.backoff_base,
                                         cap=self.policy.backoff_cap))
            for sid, route, state, holder in candidates:
                self._work_one(sid, route, SubmissionState(state), holder, report)
        return report

    def _candidates(self) -> list[tuple[int, str, str, str | None]]:
        now = self.now()
        with unit_of_work(self.session_factory) as session:
            rows = session.execute(
                select(Submission.id, Submission.route, Submission.state, Submission.worker,
                       Submission.lease_until)
                .where(Submission.state.in_([S.PENDING, S.UNKNOWN, S.SENDING]))
                .order_by(Submission.id)).all()
        return [(r.id, r.route, r.state, r.worker) for r in rows
                if r.state != S.SENDING or claim_is_stale(r.worker, r.lease_until, now)]

    def _work_one(self, sid: int, route: str, state: SubmissionState, holder: str | None,
                  report: DeliveryReport) -> None:
        breaker = self.breakers.for_route(route)
        if not breaker.allow():
            report.breaker_open.add(route)
            return
        claim = self._claim(sid, state, holder)
        if claim is None:
            return  # another worker has it, or it moved on
        _pause_point("after_claim")
        outcome = self._call(claim, report)
        if outcome.bank_answered:
            breaker.record_success()
        else:
            breaker.record_failure()
        report.states[claim.msg_id] = self._record(claim, outcome).value

    def _claim(self, sid: int, before: SubmissionState, holder: str | None) -> _Claim | None:
        now = self.now()
        after = next_submission_state(before, E.CLAIM)
        with unit_of_work(self.session_factory) as session:
            row = _lock_in_state(session, sid, before, holder, now)
            if row is None:
                return None
            row.state, row.attempts = after.value, row.attempts + 1
            row.worker = self.worker
            row.lease_until = now + timedelta(seconds=self.policy.lease_seconds)
            row.updated_at = now
            session.flush()
            audit_change(session, self.actor, row, before, after, {"worker": self.worker})
            payment_file = session.get_one(PaymentFile, row.payment_file_id)
            return _Claim(row.id, row.msg_id, row.route, before,
                          outgoing_file(payment_file, self.files_root))

    def _call(self, claim: _Claim, report: DeliveryReport) -> _Outcome:
        adapter = self.adapter(claim.route)
        submitting = False
        try:
            if claim.before in MAYBE_SENT:
                report.status_queries += 1
                answer = adapter.status(claim.msg_id)
                if answer is not SubmissionStatus.UNKNOWN_MSG_ID:
                    return _from_status(answer)
            submitting = True
            report.submits += 1
            receipt = adapter.submit(claim.outgoing)
        except SubmissionRefused as error:
            return _Outcome(E.REFUSE, {"code": error.code}, f"{error.code}: {error}")
        except BankUnavailable as error:
            # Unreachable while asking for the status: what the bank holds is still unknown.
            event = E.UNAVAILABLE if submitting else E.TIMEOUT
            return _Outcome(event, None, f"{error.code}: {error}", bank_answered=False)
        except SubmissionTimeout as error:
            return _Outcome(E.TIMEOUT, None, f"{error.code}: {error}", bank_answered=False)
        except Exception as error:  # an adapter bug: the outcome is unknown, never resend blind
            log.exception("adapter for %s failed", claim.route)
            return _Outcome(E.TIMEOUT, None, f"unexpected: {error!r}", bank_answered=False)
        _pause_point("after_submit")
        return _Outcome(E.ACCEPT, receipt.to_json())

    def _record(self, claim: _Claim, outcome: _Outcome) -> SubmissionState:
        now = self.now()
        after = next_submission_state(S.SENDING, outcome.event)
        with unit_of_work(self.session_factory) as session:
            changed = cast(CursorResult[Any], session.execute(
                update(Submission)
                .where(Submission.id == claim.id, Submission.state == S.SENDING,
                       Submission.worker == self.worker)
                .values(state=after.value, worker=None, lease_until=None, updated_at=now,
                        last_error=(outcome.error or "")[:500] or None,
                        **({"receipt": outcome.receipt} if outcome.receipt else {}))
            )).rowcount
            if not changed:
                log.warning("submission %s was taken over before its outcome was recorded; "
                            "the new owner resolves it by status", claim.msg_id)
                return S.SENDING
            row = session.get_one(Submission, claim.id, populate_existing=True)
            audit_change(session, self.actor, row, S.SENDING, after,
                         {"event": outcome.event.value, "error": outcome.error,
                          "receipt": outcome.receipt})
        return after


def _from_status(answer: SubmissionStatus) -> _Outcome:
    if answer is SubmissionStatus.ACCEPTED:
        return _Outcome(E.ACCEPT, {"msg_id_status": answer.value, "resolved_by": "status"})
    return _Outcome(E.REFUSE, {"msg_id_status": answer.value, "resolved_by": "status"},
                    "the bank reports the file as rejected")


def _lock_in_state(session: Session, sid: int, state: SubmissionState, holder: str | None,
                   now: datetime) -> Submission | None:
    """Return the submission locked if it is still in ``state`` (held by ``holder``).

    ``holder`` is the worker seen holding a stale ``sending`` claim when the candidates were
    read; the claim only succeeds if nobody changed the row since. PostgreSQL: ``FOR UPDATE
    SKIP LOCKED`` so a row another worker holds is skipped. SQLite has no row locks: the first
    statement is a compare-and-set UPDATE, which takes the database write lock, so two
    workers can never both see the old state.
    """
    condition = [Submission.id == sid, Submission.state == state]
    if state == S.SENDING:
        condition.append(Submission.worker.is_(None) if holder is None
                         else Submission.worker == holder)
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(select(Submission).where(*condition)
                              .with_for_update(skip_locked=True)).scalar_one_or_none()
        if row is None or (state == S.SENDING
                           and not claim_is_stale(row.worker, row.lease_until, now)):
            return None
        return row
    marker = f"claiming:{uuid.uuid4().hex}"
    changed = cast(CursorResult[Any], session.execute(
        update(Submission).where(*condition).values(worker=marker))).rowcount
    if not changed:
        return None
    return session.execute(select(Submission).where(Submission.id == sid)
                           .execution_options(populate_existing=True)).scalar_one()


def _pause_point(name: str) -> None:
    """Block here while a test holds the process (``DISBURSE_OUTBOX_PAUSE_AT=<name>``).

    The crash tests kill the deliverer with SIGKILL at exact points: the process writes
    ``<dir>/<name>.reached`` and waits for ``<dir>/<name>.release`` (or 60 seconds). Without
    the variable this does nothing.
    """
    if os.environ.get(PAUSE_AT_ENV) != name:
        return
    directory = Path(os.environ.get(PAUSE_DIR_ENV, "."))
    (directory / f"{name}.reached").write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + 60
    while not (directory / f"{name}.release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def deliver_pending(
    session_factory: sessionmaker[Session], adapters: AdapterSource, *, files_root: Path,
    now: Callable[[], datetime] = utcnow, sleep: Callable[[float], None] = time.sleep,
    policy: DeliveryPolicy | None = None, breakers: RouteBreakers | None = None,
    actor: str = "outbox",
) -> DeliveryReport:
    """Deliver every ``pending`` submission and resolve every ``unknown`` or crashed one.

    What the scheduler and ``disburse outbox deliver`` call. Each submission is claimed,
    sent (or resolved by ``status``) and recorded in transactions of its own, so a crash at
    any point leaves a state the next run resolves without a second submission.
    """
    return Deliverer(session_factory, adapters, files_root=files_root, policy=policy,
                     breakers=breakers, now=now, sleep=sleep, actor=actor).run()
