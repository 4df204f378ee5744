"""Stale checks are renewed before a build, committed on their own, outside the build.

``prepare_and_build`` (what the CLI and the API call) asks the population registry in
transactions of its own that commit the evidence, then builds in one writing transaction that
calls no registry. These tests run on a database of their own (real transactions, SQLite's
writer lock taken by writing sessions), watching the order of transactions and registry calls
through session events, and counting verification rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary
from beneficiaries.registry import (
    LookupResult,
    PopulationRegistry,
    RegistryStatus,
    StaticPopulationRegistry,
)
from beneficiaries.verification.models import Verification
from disburse.core.clock import utcnow
from disburse.core.errors import Conflict, Forbidden
from disburse.core.uow import unit_of_work
from disburse.payments.models import Batch
from disburse.payments.preparation import prepare_and_build
from disburse.payments.routing import load_routing
from tests.integration.test_batch_concurrency import PEOPLE, TODAY, Db
from tests.integration.test_batch_concurrency import db as db  # the fixture

Event = tuple[Any, ...]


class RecordingRegistry:
    """The test's registry, noting each lookup in the shared event log."""

    def __init__(self, inner: PopulationRegistry, log: list[Event]) -> None:
        self.inner, self.log = inner, log

    def lookup_many(self, citizen_ids: Sequence[str], **kwargs: Any) -> dict[str, LookupResult]:
        self.log.append(("lookup", len(citizen_ids)))
        return self.inner.lookup_many(citizen_ids, **kwargs)

    def health(self) -> bool:
        return self.inner.health()


def _count(session: Session, model: Any) -> int:
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


@pytest.fixture
def log(db: Db) -> list[Event]:
    """Every transaction's begin and commit (with the rows it then sees), in order.

    Sessions are told apart by their ``hash_key`` (unique per session); a savepoint logs a
    begin and a commit of its own under its session's key.
    """
    events: list[Event] = []

    def begun(session: Session, *_: Any) -> None:
        events.append(("begin", session.hash_key))

    def committing(session: Session) -> None:
        events.append(("commit", session.hash_key, _count(session, Batch),
                       _count(session, Verification)))

    event.listen(db.factory, "after_begin", begun)
    event.listen(db.factory, "before_commit", committing)
    return events


def build(db: Db, log: list[Event], actor: str = "lan") -> Any:
    return prepare_and_build(db.factory, db.keyring, RecordingRegistry(db.registry, log),
                             programme="pension", period="2026-11", actor=actor,
                             routing=load_routing(), max_age_days=30, today=TODAY)


def scalar(db: Db, query: Any) -> Any:
    with db.factory() as session:
        return session.execute(query).scalar_one()


def test_the_registry_is_asked_and_its_evidence_committed_before_the_build_begins(
        db: Db, log: list[Event]) -> None:
    summary = build(db, log)

    assert summary.count == PEOPLE
    lookups = [i for i, e in enumerate(log) if e[0] == "lookup"]
    assert sum(log[i][1] for i in lookups) == PEOPLE  # everyone was unverified
    build_commit = next(i for i, e in enumerate(log) if e[0] == "commit" and e[2] == 1)
    build_session = log[build_commit][1]
    build_begin = log.index(("begin", build_session))
    # no registry call while the build's transaction was open
    assert all(i < build_begin for i in lookups)
    # the evidence was committed, in a transaction of its own, before the build began
    assert any(e[0] == "commit" and e[1] != build_session and e[3] == PEOPLE
               for e in log[lookups[-1]:build_begin])
    assert scalar(db, select(func.count()).select_from(Verification)) == PEOPLE


def test_a_refused_build_keeps_the_evidence_of_its_renewal(db: Db, log: list[Event]
                                                           ) -> None:
    build(db, log)
    with unit_of_work(db.factory) as session:  # a month later every check is stale
        session.execute(update(Verification).values(checked_at=utcnow() - timedelta(days=31)))

    with pytest.raises(Conflict) as refused:
        build(db, log, actor="lan2")

    assert refused.value.extra["exclusions"] == {"already_instructed": PEOPLE}
    assert scalar(db, select(func.count()).select_from(Batch)) == 1
    # the renewal's evidence survives the refusal, fresh
    assert scalar(db, select(func.count()).select_from(Verification)) == 2 * PEOPLE
    assert scalar(db, select(func.min(Verification.checked_at)).where(
        Verification.actor == "lan2")) > utcnow() - timedelta(minutes=5)


def test_nobody_payable_keeps_the_deaths_the_registry_reported(db: Db, log: list[Event]
                                                               ) -> None:
    db.registry = StaticPopulationRegistry(
        replace(record, status=RegistryStatus.DECEASED, date_of_death=date(2026, 9, 2))
        for record in db.registry.records.values())
    with pytest.raises(Conflict) as refused:
        build(db, log)

    assert refused.value.extra["exclusions"] == {"deceased": PEOPLE}
    assert scalar(db, select(func.count()).select_from(Batch)) == 0
    assert scalar(db, select(func.count()).select_from(Verification).where(
        Verification.outcome == "deceased")) == PEOPLE
    assert scalar(db, select(func.count()).select_from(Beneficiary).where(
        Beneficiary.status == "suspended")) == PEOPLE


def test_who_may_not_build_makes_nobody_ask_the_registry(db: Db, log: list[Event]
                                                         ) -> None:
    with pytest.raises(Forbidden):
        build(db, log, actor="minh")  # an approver

    assert [e for e in log if e[0] == "lookup"] == []
    assert scalar(db, select(func.count()).select_from(Verification)) == 0
