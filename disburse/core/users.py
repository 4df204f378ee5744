"""Users and roles: who may prepare, approve, audit, exchange files as a bank, or administer."""

from __future__ import annotations

import os
import re
from datetime import datetime
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, CheckConstraint, Connection, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from disburse.core import audit, logins
from disburse.core.clock import utcnow
from disburse.core.db import Base, UTCDateTime
from disburse.core.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from disburse.core.uow import unit_of_work

MIN_PASSWORD_LENGTH = 12
#: Actors of automated runs are ``system:<what>``: a colon no user name can contain.
SYSTEM_ACTOR_PREFIX = "system:"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_hasher = PasswordHasher()


class Role(StrEnum):
    """What a user may do. A bank user is scoped to one bank BIN."""

    PREPARER = "preparer"
    APPROVER = "approver"
    AUDITOR = "auditor"
    BANK = "bank"
    ADMIN = "admin"


class User(Base):
    """A person (or a bank's system account) who acts on the service."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("(role = 'bank') = (bank_bin IS NOT NULL)", name="bank_scope"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    bank_bin: Mapped[str | None] = mapped_column(String(6))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def add_user(
    session: Session, name: str, role: Role, password: str, *, actor: str,
    bank_bin: str | None = None,
) -> User:
    """Create a user with an argon2id password hash and audit it.

    Raises:
        ValidationFailed: bad name, short password, or a bank user without a BIN.
        Conflict: the name is taken.
    """
    _check_new_user(name, role, password, bank_bin)
    if session.execute(select(User.id).where(User.name == name)).first():
        raise Conflict(f"user {name!r} already exists")
    user = User(name=name, role=role.value, bank_bin=bank_bin,
                password_hash=_hasher.hash(password), active=True)
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.add", object_type="user", object_id=name,
                 detail={"role": role.value, "bank_bin": bank_bin})
    return user


def _check_new_user(name: str, role: Role, password: str, bank_bin: str | None) -> None:
    if not _NAME_RE.match(name):
        raise ValidationFailed(
            f"user name {name!r} must be 2-64 lower-case letters, digits, dot, dash or underscore"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if (role is Role.BANK) != (bank_bin is not None):
        raise ValidationFailed("a bank user needs --bank BIN, and only a bank user may have one")
    if bank_bin is not None and not re.fullmatch(r"\d{6}", bank_bin):
        raise ValidationFailed(f"bank BIN must be 6 digits, got {bank_bin!r}")


def system_actor(what: str) -> str:
    """Return the reserved audit-trail actor of an automated run (``system:nightly``)."""
    return SYSTEM_ACTOR_PREFIX + what


def is_system_actor(name: str) -> bool:
    """Return True when ``name`` is a reserved system actor, not a user."""
    return name.startswith(SYSTEM_ACTOR_PREFIX)


def get_user(session: Session, name: str) -> User:
    """Return the user called ``name``.

    Raises:
        NotFound: no such user.
    """
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


def list_users(session: Session) -> list[User]:
    """Return every user, by name."""
    return list(session.execute(select(User).order_by(User.name)).scalars())


def set_password(session: Session, name: str, password: str, *, actor: str) -> User:
    """Give user ``name`` a new password (argon2id hash); audited, the password never is.

    Raises:
        NotFound: no such user.
        ValidationFailed: the password is shorter than ``MIN_PASSWORD_LENGTH``.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    user = session.execute(
        select(User).where(User.name == name).with_for_update()
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user named {name!r}")
    user.password_hash = _hasher.hash(password)
    session.flush()
    audit.record(session, actor=actor, action="user.set_password", object_type="user",
                 object_id=name)
    return user


def disable_user(session: Session, name: str, *, actor: str) -> User:
    """Disable a user so they can no longer sign in or act; audited."""
    user = session.execute(
        select(User).where(User.name == name).with_for_update()
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user named {name!r}")
    if user.active:
        user.active = False
        audit.record(session, actor=actor, action="user.disable", object_type="user",
                     object_id=name)
    return user


def authenticate(
    source: Session | sessionmaker[Session], name: str, password: str, *,
    address: str | None = None,
) -> User:
    """Return the active user whose password matches, with throttling and lockout.

    Every entry point that signs people in (HTTP Basic today, the web login page later) calls
    this. The throttle state and the audit entries of failures are written in short
    transactions of their own from ``source``'s factory (or bind), committed even though the
    sign-in fails; the caller's transaction is only used to hand back the user. An unknown name
    costs the same work as a known one: its password is checked against a dummy hash and its
    failures are counted and locked alike (see ``disburse.core.logins``).

    Args:
        source: the caller's session (the user is returned attached to it) or a session factory
            (the user is returned detached, its columns loaded).
        name: the user name given.
        password: the password given.
        address: the client's address, throttled on its own; None when there is none (CLI).

    Raises:
        Unauthorized: unknown name, wrong password, disabled user or a lockout (one message).
    """
    factory = _throttle_factory(source)
    attempt = logins.Attempt(name, address)
    with unit_of_work(factory) as tx:
        found = tx.execute(select(User.id, User.password_hash, User.active)
                           .where(User.name == name)).first()
        state = logins.read_state(tx, attempt)
    if state.locked:  # refused unchecked: the lock was audited when it was put in place
        raise Unauthorized(_WRONG_CREDENTIALS)
    matches = _password_matches(found.password_hash if found else None, password)
    refusal = ("unknown_user" if found is None else "wrong_password" if not matches
               else "disabled" if not found.active else None)
    if refusal is not None:
        with unit_of_work(factory) as tx:
            logins.record_failure(tx, attempt, reason=refusal)
        raise Unauthorized(_WRONG_CREDENTIALS)
    assert found is not None  # a refusal was raised above otherwise
    if state.user_failures:
        with unit_of_work(factory) as tx:
            accepted = logins.record_success(tx, attempt)
        if not accepted:
            raise Unauthorized(_WRONG_CREDENTIALS)
    return _load_user(source, found.id)


_WRONG_CREDENTIALS = "wrong user name or password"


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # made once per hasher with its parameters, so checking it costs what a real check costs
    return hasher.hash(os.urandom(24).hex())


def _password_matches(password_hash: str | None, password: str) -> bool:
    """Check ``password``; with no user, against the dummy hash (always False)."""
    try:
        _hasher.verify(password_hash or _dummy_hash(_hasher), password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


def _throttle_factory(source: Session | sessionmaker[Session]) -> sessionmaker[Session]:
    if isinstance(source, sessionmaker):
        return source
    bind = source.get_bind()
    # Bound to a connection (tests): join its transaction through savepoints of our own.
    if isinstance(bind, Connection):
        return sessionmaker(bind=bind, expire_on_commit=False, info=dict(source.info),
                            join_transaction_mode="create_savepoint")
    return sessionmaker(bind=bind, expire_on_commit=False, info=dict(source.info))


def _load_user(source: Session | sessionmaker[Session], user_id: int) -> User:
    if isinstance(source, Session):
        return source.get_one(User, user_id)
    with source() as session:
        return session.get_one(User, user_id)


def require_active_user(session: Session, name: str) -> User:
    """Return the existing, active user ``name`` (who may then act, e.g. as ``--actor``).

    Raises:
        NotFound: no such user.
        Forbidden: the user is disabled.
    """
    user = get_user(session, name)
    if not user.active:
        raise Forbidden(f"user {name!r} is disabled")
    return user


def require_role(session: Session, name: str, *roles: Role) -> User:
    """Return the active user ``name`` if they hold one of ``roles``.

    Raises:
        NotFound: no such user.
        Forbidden: disabled, or none of the roles.
    """
    user = require_active_user(session, name)
    if user.role not in {r.value for r in roles}:
        wanted = " or ".join(r.value for r in roles)
        raise Forbidden(f"user {name!r} has role {user.role}, this needs {wanted}")
    return user
