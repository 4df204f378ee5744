"""Login throttling: failed sign-ins counted per user name and per client address, with lockout.

Policy (the table ``LIMITS``): 5 failed attempts for one user name within 15 minutes lock that
name for 15 minutes; 50 failed attempts from one client address within 15 minutes lock that
address for 15 minutes. A success clears the name's count (not the address's: one valid account
must not buy an attacker fresh guesses for others). While locked, every attempt is refused as a
wrong password would be, without checking the password and without writing anything, so an
attack on a locked name costs neither CPU nor audit rows.

Unknown user names are counted and locked exactly like known ones, so neither the answers nor
the lockouts tell which names exist.

The state lives in ``login_throttles`` (one row per name or address). It is changed in a short
transaction of its own, committed even though the sign-in itself fails, together with the audit
entries ``login.failed``, ``login.locked`` and ``login.succeeded_after_failures``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy import Integer, String, UniqueConstraint, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from disburse.core import audit
from disburse.core.clock import utcnow
from disburse.core.db import Base, UTCDateTime

#: How much of a user name or address is kept (longer input cannot be a user name anyway).
KEY_LENGTH: Final = 120
#: The audit trail's actor for sign-in events: the attempt has no authenticated actor yet.
LOGIN_ACTOR: Final = "system:login"


class ThrottleScope(StrEnum):
    """What a throttle row counts failures of."""

    USER = "user"
    ADDRESS = "address"


@dataclass(frozen=True)
class Limit:
    """``failures`` within ``window`` lock the key for ``lockout``."""

    failures: int
    window: timedelta
    lockout: timedelta


LIMITS: Final[dict[ThrottleScope, Limit]] = {
    ThrottleScope.USER: Limit(5, timedelta(minutes=15), timedelta(minutes=15)),
    ThrottleScope.ADDRESS: Limit(50, timedelta(minutes=15), timedelta(minutes=15)),
}


class LoginThrottle(Base):
    """Failed sign-ins of one user name or one client address, and its lock."""

    __tablename__ = "login_throttles"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt: who it named and where it came from."""

    name: str
    address: str | None

    def targets(self) -> list[tuple[ThrottleScope, str]]:
        """Return the throttle rows this attempt counts against."""
        found = [(ThrottleScope.USER, self.name[:KEY_LENGTH])]
        if self.address:
            found.append((ThrottleScope.ADDRESS, self.address[:KEY_LENGTH]))
        return found


@dataclass(frozen=True)
class ThrottleState:
    """What the throttle rows said before the password was checked."""

    locked: bool
    user_failures: int


def _rows(session: Session, attempt: Attempt, *, lock: bool = False
          ) -> dict[ThrottleScope, LoginThrottle]:
    wanted = attempt.targets()
    query = select(LoginThrottle).where(
        LoginThrottle.scope.in_([scope.value for scope, _ in wanted]),
        LoginThrottle.key.in_([key for _, key in wanted]))
    if lock:
        query = query.with_for_update()
    rows = session.execute(query).scalars()
    by_key = {(row.scope, row.key): row for row in rows}
    return {scope: by_key[(scope.value, key)] for scope, key in wanted
            if (scope.value, key) in by_key}


def _is_locked(row: LoginThrottle | None, now: datetime) -> bool:
    return row is not None and row.locked_until is not None and row.locked_until > now


def read_state(session: Session, attempt: Attempt) -> ThrottleState:
    """Return whether ``attempt`` is locked out and how many failures its user name has."""
    now = utcnow()
    rows = _rows(session, attempt)
    user = rows.get(ThrottleScope.USER)
    return ThrottleState(locked=any(_is_locked(row, now) for row in rows.values()),
                         user_failures=user.failures if user is not None else 0)


def record_failure(session: Session, attempt: Attempt, *, reason: str) -> bool:
    """Count a failed attempt against its name and address; audit it and any lockout.

    Returns:
        True when the attempt was refused because a lock was already in place (it was then
        neither counted nor audited again).
    """
    _take_write_lock(session, attempt)
    now = utcnow()
    rows = _ensure_rows(session, attempt)
    if any(_is_locked(row, now) for row in rows.values()):
        return True  # a concurrent attempt locked it meanwhile: the lock was audited then
    audit.record(session, actor=LOGIN_ACTOR, action="login.failed", object_type="user",
                 object_id=attempt.name[:KEY_LENGTH],
                 detail={"reason": reason, "address": attempt.address})
    for scope, row in rows.items():
        _count(session, scope, row, attempt, now)
    return False


def _count(session: Session, scope: ThrottleScope, row: LoginThrottle, attempt: Attempt,
           now: datetime) -> None:
    limit = LIMITS[scope]
    if row.window_started_at is None or now - row.window_started_at > limit.window:
        row.window_started_at, row.failures = now, 0
    row.failures += 1
    if row.failures < limit.failures:
        return
    row.locked_until, row.failures, row.window_started_at = now + limit.lockout, 0, None
    audit.record(session, actor=LOGIN_ACTOR, action="login.locked", object_type=scope.value,
                 object_id=row.key, detail={
                     "failures": limit.failures, "until": row.locked_until.isoformat(),
                     "user": attempt.name[:KEY_LENGTH], "address": attempt.address})


def record_success(session: Session, attempt: Attempt) -> bool:
    """Clear the user name's failure count after a success; audit how many there were.

    Returns:
        False when a lock was put in place meanwhile (the sign-in must then be refused).
    """
    _take_write_lock(session, attempt)
    now = utcnow()
    rows = _ensure_rows(session, attempt)
    if any(_is_locked(row, now) for row in rows.values()):
        return False
    user = rows[ThrottleScope.USER]
    if user.failures:
        audit.record(session, actor=LOGIN_ACTOR, action="login.succeeded_after_failures",
                     object_type="user", object_id=user.key,
                     detail={"failures": user.failures, "address": attempt.address})
        user.failures, user.window_started_at = 0, None
    return True


def unlock(session: Session, name: str, *, actor: str) -> bool:
    """Lift the lock and failure count of user name ``name``; audited. True if it was locked."""
    row = session.execute(
        select(LoginThrottle).where(LoginThrottle.scope == ThrottleScope.USER.value,
                                    LoginThrottle.key == name[:KEY_LENGTH]).with_for_update()
    ).scalar_one_or_none()
    if row is None or (row.locked_until is None and not row.failures):
        return False
    was_locked = _is_locked(row, utcnow())
    row.failures, row.window_started_at, row.locked_until = 0, None, None
    audit.record(session, actor=actor, action="login.unlocked", object_type="user",
                 object_id=name, detail={"was_locked": was_locked})
    return True


def _take_write_lock(session: Session, attempt: Attempt) -> None:
    # The first statement writes, so on SQLite the transaction holds the write lock before it
    # reads the counts it is about to change (a deferred transaction that read first could not
    # wait for a concurrent writer). On PostgreSQL it also locks the rows that exist.
    for scope, key in attempt.targets():
        session.execute(update(LoginThrottle)
                        .where(LoginThrottle.scope == scope.value, LoginThrottle.key == key)
                        .values(failures=LoginThrottle.failures)
                        .execution_options(synchronize_session=False))


def _ensure_rows(session: Session, attempt: Attempt) -> dict[ThrottleScope, LoginThrottle]:
    rows = _rows(session, attempt, lock=True)
    missing = [(scope, key) for scope, key in attempt.targets() if scope not in rows]
    for scope, key in missing:
        try:
            with session.begin_nested():
                session.add(LoginThrottle(scope=scope.value, key=key, failures=0))
        except IntegrityError:
            pass  # a concurrent first failure of the same key inserted it: use that row
    return _rows(session, attempt, lock=True) if missing else rows
