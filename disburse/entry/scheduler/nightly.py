"""The nightly steps over one service instance, and one locked run of them (``run_nightly``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from disburse.core.errors import InvalidTransition
from disburse.core.uow import unit_of_work
from disburse.entry.context import Services
from disburse.entry.scheduler.lock import scheduler_lock
from disburse.entry.scheduler.steps import RunReport, Step, StepOutcome, run_steps
from disburse.payments.lifecycle import BatchState
from disburse.payments.models import Batch

log = logging.getLogger(__name__)

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
