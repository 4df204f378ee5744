"""Preparing and building a batch: renew stale checks first, then build under the writer lock.

A build judges every beneficiary of its scope on the recorded registry answers (invariant 5),
so stale, missing or outdated checks must be renewed first. Doing that inside the build's
writing transaction would hold the database's writer lock (on SQLite, every other writer)
while the population registry answers over HTTP, and a refused build (nobody payable, a
concurrent build first) would roll the fresh evidence back with it. So the checks are renewed
before, in transactions of their own that commit their evidence and hold no writer lock during
the registry calls (``verify_in_steps``); then the build runs in one writing transaction that
judges again and never calls the network. Every entry point that builds batches (CLI, API)
calls ``prepare_and_build``, so none repeats the sequence.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from beneficiaries.programmes import get_programme
from beneficiaries.registry import PopulationRegistry
from beneficiaries.verification.service import (
    VerifyScope,
    VerifySummary,
    payability,
    verify_in_steps,
)
from disburse.core.keyring import Keyring
from disburse.core.uow import unit_of_work
from disburse.core.users import Role, require_role
from disburse.payments.build import requested_execution_date
from disburse.payments.plan import CHUNK, REVERIFY_REASONS, scope
from disburse.payments.routing import RoutingConfig
from disburse.payments.service import BatchSummary, create_batch

__all__ = ["prepare_and_build", "reverify_scope"]


def reverify_scope(factory: sessionmaker[Session], keyring: Keyring,
                   registry: PopulationRegistry, *, programme: str, province: str | None,
                   actor: str, max_age_days: int) -> VerifySummary:
    """Renew the stale, missing or outdated checks of the active people a build would judge.

    The people needing a check are found in a read transaction; each chunk of them is then
    checked with ``verify_in_steps`` (registry asked outside any transaction, evidence
    committed in a short writing transaction of its own).

    Args:
        factory: Sessions for the transactions of the renewal.
        keyring: Decrypts citizen ids for the registry.
        registry: The population registry.
        programme: The programme code. province: Its 2-digit code, or None for all.
        actor: The preparer; recorded on each verification.
        max_age_days: How old a check may be and still count.

    Returns:
        The counts of all the checks made.

    Raises:
        Forbidden: the actor is not a preparer or admin (nothing is checked).
    """
    total = VerifySummary()
    for ids in _needing_check(factory, programme, province, actor, max_age_days):
        done = verify_in_steps(factory, keyring, registry, actor=actor,
                               scope=VerifyScope(beneficiary_ids=ids,
                                                 max_age_days=max_age_days))
        total.checked += done.checked
        total.outcomes.update(done.outcomes)
        total.suspended_deceased.extend(done.suspended_deceased)
    return total


def _needing_check(factory: sessionmaker[Session], programme: str, province: str | None,
                   actor: str, max_age_days: int) -> Iterator[Sequence[int]]:
    """Yield, CHUNK ids of the scope at a time, the active ids whose check is to be renewed."""
    with unit_of_work(factory) as session:
        require_role(session, actor, Role.PREPARER, Role.ADMIN)
        active, _ = scope(session, programme, province)
    for start in range(0, len(active), CHUNK):
        chunk = active[start:start + CHUNK]
        with unit_of_work(factory) as session:
            judged = payability(session, chunk, max_age_days=max_age_days)
        again = [bid for bid in chunk if judged[bid].reason in REVERIFY_REASONS]
        if again:
            yield again


def prepare_and_build(factory: sessionmaker[Session], keyring: Keyring,
                      registry: PopulationRegistry, *, programme: str, period: str,
                      province: str | None = None, actor: str, routing: RoutingConfig,
                      max_age_days: int, today: date) -> BatchSummary:
    """Renew the scope's stale checks (committed), then build the batch in one transaction.

    The renewed evidence stays even when the build is refused. The build's writing
    transaction (``create_batch``) judges payability again and calls no registry.

    Args:
        factory: Sessions for the renewal's transactions and the build's.
        keyring: Decrypts citizen ids for the registry.
        registry: The population registry.
        programme, period, province, actor, routing, max_age_days, today: as ``build_batch``.

    Returns:
        The summary of the committed draft batch.

    Raises:
        Forbidden: the actor is not a preparer or admin.
        ValidationFailed: bad period. NotFound: unknown programme.
        ConfigurationError: an instruction has no route.
        Conflict: nothing to pay, or another build instructed the same people first.
    """
    get_programme(programme)  # an unknown programme or a bad period asks no registry
    requested_execution_date(period, today)
    reverify_scope(factory, keyring, registry, programme=programme, province=province,
                   actor=actor, max_age_days=max_age_days)
    with unit_of_work(factory, write=True) as session:
        return create_batch(session, programme=programme, period=period, province=province,
                            actor=actor, routing=routing, max_age_days=max_age_days,
                            today=today)
