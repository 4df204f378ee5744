"""The nightly run: ``disburse scheduler run``.

Steps, in order, each in transactions of its own so that one failing step never undoes or
blocks another:

1. ``reverify``: re-check stale verifications against the population registry
   (``VerifyScope(stale_only=True)``). A run that checked nobody leaves no trace; a run that
   could not reach the registry for anyone is rolled back (tried again next night) and fails.
2. ``batches``: ``approved`` batches get their signed payment files (one transaction per
   batch), then every ``files_ready`` batch is put into the outbox (batch -> ``submitted``).
3. ``deliver``: the outbox sends pending submissions and resolves unknown ones
   (``deliver_pending``, through the adapter chosen per route).
4. ``fetch_returns``: every registered bank with an adapter is asked for its return files;
   each one takes the one intake path (``reconciliation.intake``) and is acknowledged
   only after its transaction committed.
5. ``audit_checkpoint``: a signed checkpoint of the audit chain's head is written to
   ``<data_dir>/audit/checkpoints/`` (``disburse audit verify --checkpoint FILE`` checks it).

Then a summary is printed (JSON with ``--json``). The exit status is 1 when any step failed.

Running twice in a row changes nothing the second time: each step only picks up work that is
still open (stale verifications, batches in ``approved``/``files_ready``, open submissions,
unacknowledged return files).

Two runs never overlap. The lock is an exclusive, non-blocking ``fcntl.flock`` on
``<data_dir>/scheduler.lock``, held for the whole run: the kernel releases it when the process
dies, so a crashed run never leaves a stale lock, and no table is needed. On PostgreSQL the run
also takes a session-level advisory lock (``pg_try_advisory_lock``) on a connection held open
for the run, so that schedulers on different hosts sharing one database exclude each other
too. A second run that finds the lock taken exits with status 75 (``EX_TEMPFAIL``) at once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, select, text

from disburse.core.clock import utcnow
from disburse.core.errors import Conflict, InvalidTransition
from disburse.core.uow import unit_of_work
from disburse.entry.context import Services
from disburse.payments.lifecycle import BatchState
from disburse.payments.models import Batch

log = logging.getLogger(__name__)

LOCK_FILE_NAME: Final = "scheduler.lock"
#: Key of the PostgreSQL advisory lock ("disb" in ASCII): one nightly run per database.
ADVISORY_LOCK_KEY: Final = 0x64697362
#: Exit status of a run refused because another one holds the lock (sysexits EX_TEMPFAIL).
EXIT_BUSY: Final = 75


class SchedulerBusy(Conflict):
    """Another scheduler run holds the lock."""

    code = "scheduler_busy"
    title = "Scheduler busy"


# --- the lock ---------------------------------------------------------------------------------


@contextmanager
def scheduler_lock(data_dir: Path, engine: Engine | None = None) -> Iterator[Path]:
    """Hold the scheduler lock for the duration of the block.

    Args:
        data_dir: the service's data directory; the lock file lives there.
        engine: on PostgreSQL, an advisory lock is taken too (other hosts, same database).

    Yields:
        The lock file's path (it holds the holder's pid, for operators).

    Raises:
        SchedulerBusy: another run holds the lock; nothing was done.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE_NAME
    handle = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SchedulerBusy(f"another scheduler run holds {path}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        with _advisory_lock(engine):
            yield path
    finally:
        handle.close()  # closing the descriptor releases the flock


@contextmanager
def _advisory_lock(engine: Engine | None) -> Iterator[None]:
    if engine is None or engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                   {"key": ADVISORY_LOCK_KEY}).scalar_one()
        if not taken:
            raise SchedulerBusy("another scheduler run holds the database's advisory lock")
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                               {"key": ADVISORY_LOCK_KEY})


# --- the step runner --------------------------------------------------------------------------


@dataclass
class StepOutcome:
    """What a step did.

    Attributes:
        counts: named counts for the log and the summary.
        changed: how many things the step changed (0 on a run with nothing to do).
        problems: partial failures; the step still did what it could, but it failed.
    """

    counts: dict[str, int] = field(default_factory=dict)
    changed: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class StepResult:
    """One step's result in the run summary."""

    name: str
    ok: bool
    counts: dict[str, int]
    changed: int
    problems: list[str]
    seconds: float


@dataclass
class RunReport:
    """The summary of one scheduler run."""

    started_at: datetime
    finished_at: datetime | None = None
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step succeeded."""
        return all(step.ok for step in self.steps)

    @property
    def changed(self) -> int:
        """How many things the whole run changed."""
        return sum(step.changed for step in self.steps)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {"ok": self.ok, "changed": self.changed,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "steps": [asdict(step) for step in self.steps]}


Step = tuple[str, Callable[[], StepOutcome]]


def run_steps(steps: Sequence[Step]) -> RunReport:
    """Run every step in order; a step that raises is recorded and the next one still runs.

    Args:
        steps: (name, function) pairs; each function owns its transactions.

    Returns:
        The run's report, one result per step.
    """
    report = RunReport(started_at=utcnow())
    for name, function in steps:
        began = time.monotonic()
        try:
            outcome = function()
        except Exception as error:  # isolation: one broken step must not stop the night
            log.exception("scheduler step %s failed", name)
            outcome = StepOutcome(problems=[f"{type(error).__name__}: {error}"])
        result = StepResult(name, not outcome.problems, outcome.counts, outcome.changed,
                            outcome.problems, round(time.monotonic() - began, 3))
        log.info("scheduler step %s %s: %s", name, "ok" if result.ok else "FAILED",
                 json.dumps(result.counts, sort_keys=True))
        report.steps.append(result)
    report.finished_at = utcnow()
    return report


# --- the nightly steps ------------------------------------------------------------------------


RegistryFactory = Callable[[], Any]


class NightlyRun:
    """The nightly steps over one service instance."""

    def __init__(self, svc: Services, *, actor: str = "system:nightly",
                 registry_factory: RegistryFactory | None = None) -> None:
        """Create the run.

        Args:
            svc: settings, session factory and keyring of the service.
            actor: who the audit trail names.
            registry_factory: builds the ``PopulationRegistry`` to ask (closed after use if
                it has ``close``); default: the HTTP client configured by the settings.
        """
        self.svc = svc
        self.actor = actor
        self.registry_factory = registry_factory or self._http_registry

    def _http_registry(self) -> Any:
        from beneficiaries.registry import HttpPopulationRegistry

        settings = self.svc.settings
        return HttpPopulationRegistry(settings.registry_url, settings.registry_token,
                                      batch_size=settings.registry_batch_size)

    def steps(self) -> list[Step]:
        """Return the steps in the order they run."""
        return [("reverify", self.reverify), ("batches", self.advance_batches),
                ("deliver", self.deliver), ("fetch_returns", self.fetch_returns),
                ("audit_checkpoint", self.audit_checkpoint)]

    def run(self) -> RunReport:
        """Run every step once (the caller holds the scheduler lock)."""
        return run_steps(self.steps())

    def reverify(self) -> StepOutcome:
        """Re-check every stale verification; kept only when the registry answered."""
        from beneficiaries.verification.models import Outcome
        from beneficiaries.verification.service import VerifyScope, verify

        scope = VerifyScope(stale_only=True,
                            max_age_days=self.svc.settings.verification_max_age_days)
        session = self.svc.session_factory()
        registry = self.registry_factory()
        try:
            summary = verify(session, self.svc.keyring(), registry, scope=scope,
                             actor=self.actor)
            unavailable = summary.outcomes.get(Outcome.REGISTRY_UNAVAILABLE.value, 0)
            keep = summary.checked > unavailable  # the registry answered for someone
            if keep:
                session.commit()
            else:
                session.rollback()  # nothing checked, or nothing learned: try again next run
        finally:
            session.close()
            close = getattr(registry, "close", None)
            if callable(close):
                close()  # the HTTP client's pooled connections
        counts = {"checked": summary.checked, **dict(summary.outcomes),
                  "suspended_deceased": len(summary.suspended_deceased)}
        problems = [f"the registry could not be reached for {unavailable} of "
                    f"{summary.checked} beneficiaries"] if unavailable else []
        return StepOutcome(counts, summary.checked if keep else 0, problems)

    def _batch_ids(self, state: BatchState) -> list[int]:
        with unit_of_work(self.svc.session_factory) as session:
            return list(session.execute(select(Batch.id).where(Batch.state == state.value)
                                        .order_by(Batch.id)).scalars())

    def advance_batches(self) -> StepOutcome:
        """Write the files of approved batches, then enqueue every files_ready batch."""
        from bank_adapters.outbox import enqueue_batch
        from disburse.payments.files import write_batch_files
        from disburse.payments.routing import load_routing
        from disburse.payments.storage import payment_files_root

        settings = self.svc.settings
        routing = load_routing(settings.routes_file)
        root = payment_files_root(settings.data_dir)
        outcome = StepOutcome(counts={"files_written": 0, "payment_files": 0, "enqueued": 0,
                                      "submissions": 0, "skipped": 0})
        for batch_id in self._batch_ids(BatchState.APPROVED):
            def write(session: Any, batch_id: int = batch_id) -> int:
                return len(write_batch_files(session, self.svc.keyring(), batch_id,
                                             out_dir=root / str(batch_id), actor=self.actor,
                                             routing=routing, key_dir=settings.key_dir))
            self._per_batch(outcome, batch_id, write, "files_written", "payment_files")
        for batch_id in self._batch_ids(BatchState.FILES_READY):
            def send(session: Any, batch_id: int = batch_id) -> int:
                return len(enqueue_batch(session, batch_id, actor=self.actor))
            self._per_batch(outcome, batch_id, send, "enqueued", "submissions")
        outcome.changed = outcome.counts["files_written"] + outcome.counts["enqueued"]
        return outcome

    def _per_batch(self, outcome: StepOutcome, batch_id: int, action: Callable[[Any], int],
                   batches_key: str, items_key: str) -> None:
        """Run ``action`` on one batch in its own transaction; a failure stays with it."""
        try:
            with unit_of_work(self.svc.session_factory) as session:
                items = action(session)
        except InvalidTransition:
            outcome.counts["skipped"] += 1  # someone moved it on since it was listed
            return
        except Exception as error:
            log.exception("scheduler: batch %s failed", batch_id)
            outcome.problems.append(f"batch {batch_id}: {type(error).__name__}: {error}")
            return
        outcome.counts[batches_key] += 1
        outcome.counts[items_key] += items

    def _adapters(self) -> Any:
        from bank_adapters.banks import list_banks
        from bank_adapters.choose import AdapterRegistry, endpoints
        from disburse.core.signing import PrivateKey
        from disburse.payments.routing import load_routing

        with unit_of_work(self.svc.session_factory) as session:
            registered = endpoints(list_banks(session))

        def signing_key() -> PrivateKey:
            from disburse.core.signing_keys import load_signing_key

            return load_signing_key(self.svc.settings.key_dir, self.svc.keyring())[0]

        return AdapterRegistry(load_routing(self.svc.settings.routes_file), self.svc.settings,
                               registered, signing_key=signing_key)

    def deliver(self) -> StepOutcome:
        """Send pending submissions and resolve unknown ones through the outbox."""
        from bank_adapters.models import SubmissionState
        from bank_adapters.outbox import deliver_pending
        from disburse.payments.storage import payment_files_root

        report = deliver_pending(self.svc.session_factory, self._adapters(),
                                 files_root=payment_files_root(self.svc.settings.data_dir),
                                 actor=self.actor)
        counts = {state.value: report.count(state) for state in SubmissionState}
        counts |= {"submits": report.submits, "status_queries": report.status_queries,
                   "breaker_open": len(report.breaker_open)}
        left = report.count_open()
        problems = [f"{left} submission(s) still open (pending, unknown or behind an open "
                    f"circuit breaker); the next run resolves them"] if left else []
        return StepOutcome(counts, len(report.states), problems)

    def fetch_returns(self) -> StepOutcome:
        """Fetch every bank's return files and take each one in."""
        from reconciliation.intake import fetch_and_take_in

        report = fetch_and_take_in(self.svc.session_factory, self.svc.keyring(),
                                   self.svc.settings, self._adapters(), actor=self.actor)
        counts = report.counts()
        problems = [f"bank {b}: {e}" for b, e in sorted(report.failed_banks.items())]
        problems += [f"{f.bank_bin} {f.name}: {f.error}" for f in report.files
                     if f.outcome == "failed"]
        return StepOutcome(counts, counts["applied"] + counts["quarantined"], problems)

    def audit_checkpoint(self) -> StepOutcome:
        """Export a signed checkpoint of the audit chain's head into the data directory."""
        from disburse.core import audit_checkpoint

        settings = self.svc.settings
        with unit_of_work(self.svc.session_factory) as session:
            checkpoint, _ = audit_checkpoint.export(
                session, key_dir=settings.key_dir, keyring=self.svc.keyring(),
                data_dir=settings.data_dir)
        return StepOutcome({"seq": checkpoint.seq})


# --- one run ----------------------------------------------------------------------------------


def run_nightly(svc: Services, *, actor: str = "system:nightly",
                registry_factory: RegistryFactory | None = None) -> RunReport:
    """Take the lock and run the nightly steps once.

    Raises:
        SchedulerBusy: another run holds the lock.
    """
    with scheduler_lock(svc.settings.data_dir, svc.engine):
        return NightlyRun(svc, actor=actor, registry_factory=registry_factory).run()


__all__ = [
    "ADVISORY_LOCK_KEY",
    "EXIT_BUSY",
    "LOCK_FILE_NAME",
    "NightlyRun",
    "RunReport",
    "SchedulerBusy",
    "StepOutcome",
    "StepResult",
    "run_nightly",
    "run_steps",
    "scheduler_lock",
]
