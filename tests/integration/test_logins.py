"""Sign-in throttling and lockout, audited failures, the same work for unknown and known names,
and ``--actor`` limited to existing, active users."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from disburse.core import audit, logins, users
from disburse.core.clock import utcnow
from disburse.core.db import make_engine, make_session_factory
from disburse.core.errors import Unauthorized
from disburse.core.logins import LIMITS, LoginThrottle, ThrottleScope
from disburse.core.users import Role
from tests.conftest import CliRun, migrate

PASSWORD = "mật khẩu đủ dài 123"
WRONG = "not the password at all"


@pytest.fixture
def factory(fresh_database_url: str) -> Iterator[sessionmaker[Session]]:
    """A database of its own: sign-in failures are committed in transactions of their own."""
    engine: Engine = make_engine(fresh_database_url)
    migrate(engine)
    made = make_session_factory(engine)
    with made.begin() as session:
        users.add_user(session, "lan", Role.PREPARER, PASSWORD, actor="system:cli")
        users.add_user(session, "minh", Role.APPROVER, PASSWORD, actor="system:cli")
    yield made
    engine.dispose()


def _fail(factory: sessionmaker[Session], name: str, times: int, *,
          address: str | None = "10.0.0.1", password: str = WRONG) -> None:
    for _ in range(times):
        with pytest.raises(Unauthorized, match="wrong user name or password"):
            users.authenticate(factory, name, password, address=address)


def _actions(factory: sessionmaker[Session]) -> list[tuple[str, str]]:
    with factory() as session:
        rows = session.execute(select(audit.AuditEntry.action, audit.AuditEntry.object_id)
                               .where(audit.AuditEntry.action.like("login.%"))
                               .order_by(audit.AuditEntry.seq)).all()
    return [(action, object_id) for action, object_id in rows]


def test_right_password_signs_in_without_writing_anything(
        factory: sessionmaker[Session]) -> None:
    user = users.authenticate(factory, "lan", PASSWORD, address="10.0.0.1")
    assert (user.name, user.role) == ("lan", "preparer")
    with factory() as session:
        assert session.execute(select(LoginThrottle)).first() is None
    assert _actions(factory) == []


def test_five_failures_lock_the_account_even_for_the_right_password(
        factory: sessionmaker[Session]) -> None:
    _fail(factory, "lan", 4)
    assert users.authenticate(factory, "lan", PASSWORD).name == "lan"  # 4 do not lock...
    _fail(factory, "lan", 5)  # ...5 in a row do
    _fail(factory, "lan", 1, password=PASSWORD)  # locked: answers like a wrong password
    _fail(factory, "lan", 3)  # attempts under the lock are neither counted nor audited
    assert users.authenticate(factory, "minh", PASSWORD).name == "minh"  # others unaffected
    actions = _actions(factory)
    assert actions.count(("login.failed", "lan")) == 9
    assert ("login.succeeded_after_failures", "lan") in actions
    assert actions[-1] == ("login.locked", "lan")


def test_lock_expires_after_the_lockout(factory: sessionmaker[Session]) -> None:
    _fail(factory, "lan", LIMITS[ThrottleScope.USER].failures)
    _fail(factory, "lan", 1, password=PASSWORD)
    with factory.begin() as session:  # fifteen minutes pass
        session.execute(update(LoginThrottle).values(locked_until=utcnow() - timedelta(seconds=1)))
    assert users.authenticate(factory, "lan", PASSWORD).name == "lan"


def test_failures_are_audited_with_reason_and_address(factory: sessionmaker[Session]) -> None:
    _fail(factory, "lan", 1, address="192.0.2.7")
    _fail(factory, "nobody", 1, address="192.0.2.7", password=PASSWORD)
    with factory.begin() as session:
        users.disable_user(session, "minh", actor="system:cli")
    _fail(factory, "minh", 1, address="192.0.2.7", password=PASSWORD)  # disabled
    with factory() as session:
        entries = session.execute(select(audit.AuditEntry)
                                  .where(audit.AuditEntry.action == "login.failed")
                                  .order_by(audit.AuditEntry.seq)).scalars().all()
        assert [(e.object_id, e.detail["reason"], e.detail["address"]) for e in entries] == [
            ("lan", "wrong_password", "192.0.2.7"), ("nobody", "unknown_user", "192.0.2.7"),
            ("minh", "disabled", "192.0.2.7")]
        assert audit.verify_chain(session).broken is None


def test_one_address_is_throttled_across_names(factory: sessionmaker[Session]) -> None:
    limit = LIMITS[ThrottleScope.ADDRESS].failures
    for i in range(limit):  # a different name each time: no name reaches its own limit
        _fail(factory, f"guess{i}", 1, address="198.51.100.9")
    _fail(factory, "lan", 1, address="198.51.100.9", password=PASSWORD)  # address locked
    assert users.authenticate(factory, "lan", PASSWORD, address="198.51.100.10").name == "lan"
    assert ("login.locked", "198.51.100.9") in _actions(factory)


def test_unknown_names_are_locked_like_known_ones(factory: sessionmaker[Session]) -> None:
    _fail(factory, "ghost", LIMITS[ThrottleScope.USER].failures)
    assert ("login.locked", "ghost") in _actions(factory)


class CountingHasher(PasswordHasher):
    """The real argon2 hasher, counting what it is asked to verify."""

    def __init__(self) -> None:
        super().__init__()
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(str(hash))
        return super().verify(hash, password)


def test_unknown_and_known_names_do_the_same_work(
        factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = CountingHasher()
    monkeypatch.setattr(users, "_hasher", hasher)
    _fail(factory, "lan", 1)
    _fail(factory, "no.such.user", 1)
    assert len(hasher.verified) == 2  # one full argon2 verification each
    known, unknown = hasher.verified
    assert known.startswith("$argon2id$") and unknown.startswith("$argon2id$")
    assert known != unknown  # the unknown name was checked against the dummy hash
    # the same parameters, so the same cost
    assert known.split("$")[3] == unknown.split("$")[3]
    # and the same writes: one audited failure and a counted row each
    assert _actions(factory) == [("login.failed", "lan"), ("login.failed", "no.such.user")]


def test_failure_is_committed_when_the_callers_transaction_rolls_back(
        factory: sessionmaker[Session]) -> None:
    session = factory()
    with pytest.raises(Unauthorized):
        users.authenticate(session, "lan", WRONG, address="10.0.0.2")
    session.rollback()  # what the request's unit of work does on the 401
    session.close()
    assert _actions(factory) == [("login.failed", "lan")]
    with factory() as check:
        row = check.execute(select(LoginThrottle).where(
            LoginThrottle.scope == "user", LoginThrottle.key == "lan")).scalar_one()
        assert row.failures == 1


def test_unlock_lifts_a_lockout(factory: sessionmaker[Session]) -> None:
    _fail(factory, "lan", LIMITS[ThrottleScope.USER].failures)
    with factory.begin() as session:
        assert logins.unlock(session, "lan", actor="minh")
    assert users.authenticate(factory, "lan", PASSWORD).name == "lan"
    assert _actions(factory)[-1] == ("login.unlocked", "lan")


# --- over HTTP Basic ------------------------------------------------------------------------


def _basic(name: str, password: str) -> dict[str, str]:
    import base64

    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_http_basic_is_throttled_and_locked_answers_401(app: Flask, run_cli: CliRun) -> None:
    assert run_cli("keys", "init").exit_code == 0
    added = run_cli("users", "add", "lan", "--role", "preparer", "--password-stdin",
                    input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    client = app.test_client()
    url = "/api/v1/batches/"
    assert client.get(url, headers=_basic("lan", PASSWORD)).status_code == 200
    statuses = [client.get(url, headers=_basic("lan", WRONG)).status_code for _ in range(40)]
    assert set(statuses) == {401}
    after = client.get(url, headers=_basic("lan", PASSWORD))  # 40 wrong, then the right one
    assert after.status_code == 401
    assert after.json is not None and after.json["detail"] == "wrong user name or password"
    svc: Any = app.extensions["disburse"]
    with svc.session_factory() as session:
        failed = session.execute(select(audit.AuditEntry.detail).where(
            audit.AuditEntry.action == "login.failed")).scalars().all()
        assert len(failed) == 5  # then the lock: refused unchecked, nothing more written
        assert {d["address"] for d in failed} == {"127.0.0.1"}
        assert audit.verify_chain(session).broken is None


def test_set_password_replaces_the_old_one_and_is_audited(app: Flask, run_cli: CliRun) -> None:
    assert run_cli("keys", "init").exit_code == 0
    assert run_cli("users", "add", "lan", "--role", "preparer", "--password-stdin",
                   input=PASSWORD + "\n").exit_code == 0
    new = "một mật khẩu mới đủ dài 456"
    short = run_cli("users", "set-password", "lan", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "at least" in short.output
    nobody = run_cli("users", "set-password", "nobody", "--password-stdin", input=new + "\n")
    assert nobody.exit_code == 1 and "no user named 'nobody'" in nobody.output
    done = run_cli("users", "set-password", "lan", "--password-stdin", input=new + "\n")
    assert done.exit_code == 0, done.output
    svc: Any = app.extensions["disburse"]
    with pytest.raises(Unauthorized):
        users.authenticate(svc.session_factory, "lan", PASSWORD)
    assert users.authenticate(svc.session_factory, "lan", new).name == "lan"
    with svc.session_factory() as session:
        entries = session.execute(select(audit.AuditEntry.action, audit.AuditEntry.detail)
                                  .where(audit.AuditEntry.object_id == "lan")).tuples().all()
    assert ("user.set_password", {}) in entries
    assert all(new not in str(detail) for _, detail in entries)
