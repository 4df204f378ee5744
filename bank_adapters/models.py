"""Tables of the bank side: the submission outbox, registered banks, received return files.

``submissions`` is the outbox: a row exists (``pending``) before any byte of a payment file
leaves, and the UNIQUE MsgId means one file is one submission for all time. ``return_files``
is UNIQUE on (bank, SHA-256), so the same return file stored twice is a duplicate by
construction, not by a check in Python.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column

from disburse.core.clock import utcnow
from disburse.core.db import Base, UTCDateTime
from disburse.core.errors import InvalidTransition


class SubmissionState(StrEnum):
    """Where one payment file's submission is; ``accepted`` and ``rejected`` are final."""

    PENDING = "pending"
    SENDING = "sending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class SubmissionEvent(StrEnum):
    """What can happen to a submission."""

    CLAIM = "claim"  # a worker takes it to send or to resolve
    ACCEPT = "accept"  # the bank holds the file (receipt, or status says accepted)
    REFUSE = "refuse"  # the bank refused it, or status says rejected
    TIMEOUT = "timeout"  # the outcome is unknown
    UNAVAILABLE = "unavailable"  # nothing reached the bank; retry later, same MsgId


_S, _E = SubmissionState, SubmissionEvent
#: (event, from state) -> to state. Anything not listed is refused; accepted/rejected are final.
TRANSITIONS: Final[dict[tuple[SubmissionEvent, SubmissionState], SubmissionState]] = {
    (_E.CLAIM, _S.PENDING): _S.SENDING,
    (_E.CLAIM, _S.UNKNOWN): _S.SENDING,
    # Only a crashed worker's claim: its process is gone or its lease is over.
    (_E.CLAIM, _S.SENDING): _S.SENDING,
    (_E.ACCEPT, _S.SENDING): _S.ACCEPTED,
    (_E.REFUSE, _S.SENDING): _S.REJECTED,
    (_E.TIMEOUT, _S.SENDING): _S.UNKNOWN,
    (_E.UNAVAILABLE, _S.SENDING): _S.PENDING,
}
FINAL: Final = frozenset({_S.ACCEPTED, _S.REJECTED})
#: States that may already have reached the bank: ask ``status`` before sending again.
MAYBE_SENT: Final = frozenset({_S.UNKNOWN, _S.SENDING})
#: States in which the file may have reached the bank, so that the bank can answer for its
#: payments (a return file's records apply only to these).
MAY_HAVE_REACHED: Final = frozenset({_S.SENDING.value, _S.ACCEPTED.value, _S.UNKNOWN.value})


def on_route(route: str, bank_route: str) -> bool:
    """Whether a submission's route belongs to a bank's route (``post-01`` to ``post``: a
    cash route carries the province as a suffix)."""
    return route == bank_route or route.startswith(f"{bank_route}-")


def on_route_clause(bank_route: str) -> ColumnElement[bool]:
    """:func:`on_route` as a SQL condition on ``submissions.route``."""
    return or_(Submission.route == bank_route,
               Submission.route.startswith(f"{bank_route}-", autoescape=True))


def next_submission_state(state: SubmissionState | str,
                          event: SubmissionEvent | str) -> SubmissionState:
    """Return the state ``event`` leads to from ``state``.

    Raises:
        InvalidTransition: the table has no such move (e.g. anything from a final state).
    """
    key = (SubmissionEvent(event), SubmissionState(state))
    target = TRANSITIONS.get(key)
    if target is None:
        raise InvalidTransition(f"a submission that is {key[1].value} cannot {key[0].value}")
    return target


class ReturnFileState(StrEnum):
    """What became of a received return file."""

    RECEIVED = "received"  # signature valid; reconciliation may apply it
    # never applied: the signature is missing or invalid, or a signed file was refused whole
    # (no record in it, or more than the payments sent to the bank); ``reason`` says which
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"  # only reported to the sender; never stored as a second row


class ReturnSource(StrEnum):
    """How a return file reached us."""

    API = "api"
    FETCH = "fetch"
    CLI = "cli"


class Submission(Base):
    """The outbox row of one payment file: recorded before sending, at most once per MsgId."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("payment_file_id"), UniqueConstraint("msg_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_file_id: Mapped[int] = mapped_column(ForeignKey("payment_files.id"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    route: Mapped[str] = mapped_column(String(40))
    msg_id: Mapped[str] = mapped_column(String(35))
    state: Mapped[str] = mapped_column(String(12), index=True,
                                       default=SubmissionState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Who holds a submission in ``sending`` and until when: a crashed worker's claim is
    # recognised (dead process on this host, or lease over) and resolved by a status query.
    worker: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Bank(Base):
    """A registered bank (or e-wallet provider, or the post office) and its credentials."""

    __tablename__ = "banks"

    bin: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(140))
    route: Mapped[str] = mapped_column(String(40))
    public_key_pem: Mapped[str] = mapped_column(Text)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    api_base_url: Mapped[str | None] = mapped_column(String(300))
    # SHA-256 of a random 32-byte token: the token is shown once and never stored.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReceivedReturnFile(Base):
    """A return file a bank sent us, stored unchanged under its SHA-256."""

    __tablename__ = "return_files"
    __table_args__ = (UniqueConstraint("bank_bin", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_bin: Mapped[str] = mapped_column(ForeignKey("banks.bin"), index=True)
    source: Mapped[str] = mapped_column(String(8))
    file_name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    stored_path: Mapped[str] = mapped_column(String(500))
    signature_valid: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(12), index=True)
    # Why it was quarantined or refused, in words an operator can act on.
    reason: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


__all__ = [
    "FINAL",
    "MAYBE_SENT",
    "MAY_HAVE_REACHED",
    "TRANSITIONS",
    "Bank",
    "ReceivedReturnFile",
    "ReturnFileState",
    "ReturnSource",
    "Submission",
    "SubmissionEvent",
    "SubmissionState",
    "next_submission_state",
    "on_route",
    "on_route_clause",
]
