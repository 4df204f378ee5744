"""Races on a database of their own: two builds of one period, two approvers of one batch.

Each contender runs in its own thread with its own session and transaction, lined up with a
``threading.Barrier``. On SQLite the writers queue behind the database lock (busy timeout);
on PostgreSQL behind row locks, and the UNIQUE constraint refuses the slower build's insert.
Either way, nobody is instructed twice and exactly one approval exists.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from beneficiaries.models import Beneficiary
from beneficiaries.registry import CitizenRecord, RegistryStatus, StaticPopulationRegistry
from beneficiaries.service import ImportOptions, import_list
from beneficiaries.verification.service import VerifyScope, verify
from disburse.core import audit
from disburse.core.clock import utcnow
from disburse.core.db import make_engine, make_session_factory
from disburse.core.errors import Conflict, InvalidTransition
from disburse.core.keyring import Keyring
from disburse.core.uow import unit_of_work
from disburse.core.users import Role, User
from disburse.payments import service
from disburse.payments.models import Approval, Batch, Instruction
from disburse.payments.preparation import prepare_and_build
from disburse.payments.routing import load_routing
from tests.conftest import migrate
from tests.listfiles import list_row, write_csv

TODAY = date(2026, 11, 23)
PEOPLE = 40
TIMEOUT = 60


@dataclass
class Db:
    """A migrated database of this test's own, with people, users and a registry."""

    engine: Engine
    factory: sessionmaker[Session]
    keyring: Keyring
    registry: StaticPopulationRegistry


@pytest.fixture
def db(fresh_database_url: str, tmp_path: Path) -> Iterator[Db]:
    """Forty pension beneficiaries (not yet verified), two preparers and two approvers."""
    engine = make_engine(fresh_database_url)
    migrate(engine)
    keyring = Keyring.init(tmp_path / "keys")
    rows = [list_row(serial) for serial in range(1, PEOPLE + 1)]
    path = write_csv(tmp_path / "pension.csv", rows)
    factory = make_session_factory(engine)
    password_hash = PasswordHasher().hash("mật khẩu đủ dài 123")
    with unit_of_work(factory) as session:
        report = import_list(session, keyring, path, programme="pension", actor="lan",
                             today=TODAY, options=ImportOptions())
        assert report.counts.added == PEOPLE
        session.execute(insert(User), [
            {"name": n, "role": r.value, "bank_bin": None, "password_hash": password_hash,
             "active": True, "created_at": utcnow()}
            for n, r in (("lan", Role.PREPARER), ("lan2", Role.PREPARER),
                         ("minh", Role.APPROVER), ("hoa", Role.APPROVER))])
    records = [CitizenRecord(r["citizen_id"], r["full_name"],
                             date.fromisoformat(r["date_of_birth"]), r["gender"],
                             RegistryStatus.ALIVE, None, r["province_code"], r["commune_code"])
               for r in rows]
    yield Db(engine, factory, keyring, StaticPopulationRegistry(records))
    engine.dispose()


def race(factory: sessionmaker[Session], *contenders: Callable[[Session], Any]) -> list[Any]:
    """Run each contender in its own thread and transaction, all released at once.

    Returns each contender's result, or the exception it raised (its transaction rolled back).
    """
    barrier = threading.Barrier(len(contenders))
    results: list[Any] = [None] * len(contenders)

    def run(index: int, work: Callable[[Session], Any]) -> None:
        try:
            barrier.wait(timeout=TIMEOUT)
            with unit_of_work(factory) as session:
                results[index] = work(session)
        except Exception as error:  # the loser's failure is the result under test
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, work)) for i, work in enumerate(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
        assert not thread.is_alive(), "a contender hung"
    return results


def builder(db: Db, actor: str, period: str = "2026-11") -> Callable[[Session], Any]:
    """A contender that builds the pension batch of ``period`` as ``actor``.

    Like the entry points, it renews stale checks and builds in transactions of its own from
    the factory (``prepare_and_build``); the session it is handed stays unused.
    """
    def work(_session: Session) -> service.BatchSummary:
        return prepare_and_build(db.factory, db.keyring, db.registry, programme="pension",
                                 period=period, actor=actor, routing=load_routing(),
                                 max_age_days=30, today=TODAY)
    return work


def scalar(db: Db, query: Any) -> Any:
    """Run a scalar query in a fresh session."""
    with db.factory() as session:
        return session.execute(query).scalar_one()


@pytest.mark.parametrize("verified_first", [True, False],
                         ids=["fresh-checks", "both-builds-reverify"])
def test_two_simultaneous_builds_instruct_each_person_once(db: Db,
                                                           verified_first: bool) -> None:
    if verified_first:
        with unit_of_work(db.factory) as session:
            verify(session, db.keyring, db.registry, scope=VerifyScope(), actor="nightly")

    results = race(db.factory, builder(db, "lan"), builder(db, "lan2"))

    won = [r for r in results if isinstance(r, service.BatchSummary)]
    lost = [r for r in results if not isinstance(r, service.BatchSummary)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], Conflict), repr(lost[0])
    assert "pension 2026-11" in lost[0].detail
    assert won[0].count == PEOPLE
    i = Instruction
    assert scalar(db, select(func.count()).select_from(i)) == PEOPLE
    assert scalar(db, select(func.count()).select_from(
        select(i.beneficiary_id, i.programme, i.period).distinct().subquery())) == PEOPLE
    assert scalar(db, select(func.count()).select_from(Batch)) == 1  # the loser left nothing
    assert scalar(db, select(func.count(func.distinct(i.batch_id)))) == 1
    with db.factory() as session:
        assert audit.verify_chain(session).broken is None


def test_a_later_build_after_the_race_finds_everyone_instructed(db: Db) -> None:
    race(db.factory, builder(db, "lan"), builder(db, "lan2"))
    with pytest.raises(Conflict) as raised, unit_of_work(db.factory) as session:
        builder(db, "lan")(session)
    assert raised.value.extra["exclusions"] == {"already_instructed": PEOPLE}
    assert scalar(db, select(func.count()).select_from(Beneficiary)) == PEOPLE


@pytest.mark.parametrize("period", ["2026-09", "2026-10", "2026-11"])
def test_two_approvers_racing_exactly_one_wins(db: Db, period: str) -> None:
    with unit_of_work(db.factory) as session:
        batch_id = builder(db, "lan", period)(session).batch_id
        service.submit_batch(session, batch_id, actor="lan")

    results = race(
        db.factory,
        lambda s: service.approve_batch(s, batch_id, actor="minh").approver,
        lambda s: service.approve_batch(s, batch_id, actor="hoa").approver)

    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], InvalidTransition), repr(losers[0])
    assert scalar(db, select(func.count()).select_from(Approval).where(
        Approval.batch_id == batch_id)) == 1
    assert scalar(db, select(Approval.approver).where(Approval.batch_id == batch_id)) == \
        winners[0]
    assert scalar(db, select(Batch.state).where(Batch.id == batch_id)) == "approved"
