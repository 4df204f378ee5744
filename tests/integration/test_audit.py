"""The hash-chained audit trail: writing, verifying, and catching tampering."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from disburse import audit
from disburse.db import make_engine
from tests.conftest import backend, migrate


def _write(session: Session, n: int) -> None:
    for i in range(n):
        audit.record(session, actor="anh", action="test.step", object_type="thing",
                     object_id=i, detail={"i": i, "name": "Nguyễn Thị Đào"})


def test_chain_links_each_entry_to_the_previous(session: Session) -> None:
    _write(session, 5)
    report = audit.verify_chain(session)
    assert report.broken is None
    assert report.checked == 5
    entries = session.query(audit.AuditEntry).order_by(audit.AuditEntry.seq).all()
    assert entries[0].prev_hash == audit.GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.entry_hash


def test_database_refuses_update_and_delete(session: Session) -> None:
    _write(session, 1)
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text("UPDATE audit_entries SET actor = 'x'"))
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text("DELETE FROM audit_entries"))


def _drop_triggers(session: Session) -> None:
    """What an attacker with database-admin rights would do first."""
    if backend() == "postgresql":
        session.execute(text("DROP TRIGGER audit_entries_append_only ON audit_entries"))
    else:
        session.execute(text("DROP TRIGGER audit_entries_no_update"))
        session.execute(text("DROP TRIGGER audit_entries_no_delete"))


@pytest.fixture
def own_engine(fresh_database_url: str) -> Engine:
    engine = make_engine(fresh_database_url)
    migrate(engine)
    return engine


@pytest.mark.parametrize(
    ("tamper", "broken_seq", "reason"),
    [
        ("UPDATE audit_entries SET detail = '{\"i\": 99}' WHERE seq = 3", 3, "content was changed"),
        ("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 1", 1, "content was changed"),
        ("DELETE FROM audit_entries WHERE seq = 2", 2, "entry 2 is missing"),
        ("DELETE FROM audit_entries WHERE seq = 5", 5, "missing"),
    ],
)
def test_verify_names_first_broken_entry(
    own_engine: Engine, tamper: str, broken_seq: int, reason: str
) -> None:
    with Session(own_engine) as s, s.begin():
        _write(s, 5)
    with Session(own_engine) as s, s.begin():
        assert audit.verify_chain(s).broken is None
        _drop_triggers(s)
        s.execute(text(tamper))
    with Session(own_engine) as s:
        report = audit.verify_chain(s)
    own_engine.dispose()
    assert report.broken is not None
    assert report.broken.seq == broken_seq
    assert reason in report.broken.reason
