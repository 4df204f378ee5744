"""Bank registration, bank API tokens, and storing the return files banks send.

A bank's token is 32 random bytes shown once; only its SHA-256 is stored (a token of 256 bits
needs no slow hash, and a digest can be looked up directly). Issuing a token also creates or
updates the bank's ``bank``-role user, scoped to its BIN, so audit entries name a user.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from bank_adapters.models import Bank
from disburse.core import audit
from disburse.core.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from disburse.core.signing import load_public_key_pem
from disburse.core.users import Role, User
from disburse.payments.routing import RoutingConfig

_BIN_RE = re.compile(r"^\d{6}$")
_hasher = PasswordHasher()


def token_digest(token: str) -> str:
    """Return the hex SHA-256 of a bank token (what is stored)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bank_user_name(bank_bin: str) -> str:
    """Return the user name of a bank's system account: ``bank-<bin>``."""
    return f"bank-{bank_bin}"


def add_bank(session: Session, *, bank_bin: str, name: str, route: str, public_key_pem: str,
             actor: str, profile: dict[str, Any] | None = None, api_base_url: str | None = None,
             routing: RoutingConfig | None = None) -> Bank:
    """Register a bank with the public key that verifies its return files.

    Raises:
        ValidationFailed: a bad BIN, an unreadable key, or a route the routing lacks.
        Conflict: the BIN is registered already.
    """
    if not _BIN_RE.match(bank_bin):
        raise ValidationFailed(f"bank BIN must be 6 digits, got {bank_bin!r}")
    try:
        load_public_key_pem(public_key_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise ValidationFailed(f"the bank's public key is not a usable PEM: {error}") from None
    if routing is not None:
        routing.route(route)  # raises ConfigurationError for an unknown route
    if session.get(Bank, bank_bin) is not None:
        raise Conflict(f"bank {bank_bin} is registered already")
    bank = Bank(bin=bank_bin, name=name, route=route, public_key_pem=public_key_pem,
                profile=profile or {}, api_base_url=api_base_url)
    session.add(bank)
    session.flush()
    audit.record(session, actor=actor, action="bank.add", object_type="bank", object_id=bank_bin,
                 detail={"name": name, "route": route, "api_base_url": api_base_url})
    return bank


def get_bank(session: Session, bank_bin: str) -> Bank:
    """Return the registered bank ``bank_bin``.

    Raises:
        NotFound: not registered.
    """
    bank = session.get(Bank, bank_bin)
    if bank is None:
        raise NotFound(f"no registered bank {bank_bin}")
    return bank


def list_banks(session: Session) -> list[Bank]:
    """Return every registered bank, by BIN."""
    return list(session.execute(select(Bank).order_by(Bank.bin)).scalars())


def sole_bank_bin(session: Session) -> str | None:
    """Return the BIN of the only registered bank; None when there is none or several."""
    bins = list(session.execute(select(Bank.bin).order_by(Bank.bin).limit(2)).scalars())
    return bins[0] if len(bins) == 1 else None


def issue_token(session: Session, bank_bin: str, *, actor: str) -> str:
    """Create a new API token for the bank (the old one stops working); return it once.

    The bank's ``bank``-role user is created, or re-activated, with the token as password.
    """
    bank = session.execute(select(Bank).where(Bank.bin == bank_bin)
                           .with_for_update()).scalar_one_or_none()
    if bank is None:
        raise NotFound(f"no registered bank {bank_bin}")
    token = secrets.token_urlsafe(32)
    bank.token_hash = token_digest(token)
    name = bank_user_name(bank_bin)
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        session.add(User(name=name, role=Role.BANK.value, bank_bin=bank_bin,
                         password_hash=_hasher.hash(token), active=True))
    else:
        user.password_hash, user.active = _hasher.hash(token), True
    session.flush()
    audit.record(session, actor=actor, action="bank.token", object_type="bank",
                 object_id=bank_bin, detail={"user": name})
    return token


def bank_for_token(session: Session, token: str) -> Bank:
    """Return the bank whose token this is, if its user is active.

    Raises:
        Unauthorized: unknown token, or the bank's user is disabled.
    """
    digest = token_digest(token)
    bank = session.execute(select(Bank).where(Bank.token_hash == digest)).scalar_one_or_none()
    if bank is None or bank.token_hash is None or not hmac.compare_digest(bank.token_hash,
                                                                          digest):
        raise Unauthorized("unknown bank token")
    user = session.execute(select(User).where(User.name == bank_user_name(bank.bin))
                           ).scalar_one_or_none()
    if user is None or not user.active:
        raise Unauthorized("this bank's access is disabled")
    return bank


__all__ = [
    "add_bank",
    "bank_for_token",
    "bank_user_name",
    "get_bank",
    "issue_token",
    "list_banks",
    "token_digest",
]
