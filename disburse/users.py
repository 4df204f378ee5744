"""Users and roles: who may prepare, approve, audit, exchange files as a bank, or administer."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, CheckConstraint, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from disburse import audit
from disburse.clock import utcnow
from disburse.db import Base, UTCDateTime
from disburse.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed

MIN_PASSWORD_LENGTH = 12
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


def authenticate(session: Session, name: str, password: str) -> User:
    """Return the active user whose password matches.

    Raises:
        Unauthorized: unknown name, wrong password or disabled user (one message for all).
    """
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None or not user.active:
        raise Unauthorized("wrong user name or password")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized("wrong user name or password") from None
    return user


def require_role(session: Session, name: str, *roles: Role) -> User:
    """Return the active user ``name`` if they hold one of ``roles``.

    Raises:
        NotFound: no such user.
        Forbidden: disabled, or none of the roles.
    """
    user = get_user(session, name)
    if not user.active:
        raise Forbidden(f"user {name!r} is disabled")
    if user.role not in {r.value for r in roles}:
        wanted = " or ".join(r.value for r in roles)
        raise Forbidden(f"user {name!r} has role {user.role}, this needs {wanted}")
    return user
