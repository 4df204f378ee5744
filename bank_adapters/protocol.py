"""The adapter protocol every way out for money implements, and what adapters exchange.

An adapter carries one signed payment file to a bank (or an e-wallet provider, or the post
office) and brings back what the bank returns. The outbox (``bank_adapters.outbox``) is the
only caller of ``submit``; it decides from the exception class what the bank may have done:

* ``SubmissionRefused``: the bank definitely refused the file (bad signature, malformed,
  duplicate MsgId with other bytes). Final: the submission is ``rejected``.
* ``SubmissionTimeout``: the outcome is unknown (a read timeout, a dropped connection after
  the request left, a 5xx). The submission becomes ``unknown`` and is resolved by
  ``status(msg_id)``, never by sending under a new MsgId.
* ``BankUnavailable``: nothing reached the bank (connection refused, credentials refused
  before the file was read). The submission goes back to ``pending`` and is retried later
  with the same MsgId.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


class SubmissionStatus(StrEnum):
    """What a bank says about a MsgId when asked."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN_MSG_ID = "unknown_msg_id"


@dataclass(frozen=True)
class OutgoingFile:
    """A signed payment file ready to leave, with its detached signature and manifest.

    Attributes:
        path: the payment file (pain.001 XML, bank CSV or cash-list XLSX).
        signature_path: ``<name>.sig``, the raw signature over the file's bytes.
        manifest_path: ``<name>.manifest.json``.
        msg_id: the file's MsgId: the idempotency key of every attempt to send it.
        route: the route name (e.g. ``vcb`` or ``post-79``).
    """

    path: Path
    signature_path: Path
    manifest_path: Path
    msg_id: str
    route: str


@dataclass(frozen=True)
class SubmissionReceipt:
    """The bank's acknowledgement that it holds the file.

    Attributes:
        msg_id: the MsgId acknowledged.
        status: always ``accepted`` (a refusal is raised as ``SubmissionRefused``).
        bank_reference: the bank's own reference, when it gives one.
        received_at: when the bank says it received the file (ISO 8601), if it says.
        replayed: True when the bank answered with the receipt of an earlier attempt.
        detail: anything else the bank answered (kept in the outbox row as JSON).
    """

    msg_id: str
    status: SubmissionStatus = SubmissionStatus.ACCEPTED
    bank_reference: str | None = None
    received_at: str | None = None
    replayed: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the receipt as a JSON-ready dict (stored in ``submissions.receipt``)."""
        return {"msg_id": self.msg_id, "status": self.status.value,
                "bank_reference": self.bank_reference, "received_at": self.received_at,
                "replayed": self.replayed, "detail": self.detail}


@dataclass(frozen=True)
class ReturnFile:
    """A file the bank sent back (status report, credit notification, paid list ...).

    Attributes:
        name: the file name the bank gave it.
        data: its exact bytes (stored unchanged).
        signature: the bank's detached raw signature over ``data``, when it sent one.
        bank_bin: the BIN of the bank it came from.
    """

    name: str
    data: bytes
    signature: bytes | None
    bank_bin: str


class AdapterError(Exception):
    """Base of what an adapter raises; ``code`` is an ISO reason or a transport code."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class SubmissionRefused(AdapterError):
    """The bank definitely refused the file (e.g. FF01 malformed, DUPL replayed MsgId)."""


class SubmissionTimeout(AdapterError):
    """The outcome is unknown: the request may or may not have been processed."""


class BankUnavailable(AdapterError):
    """Nothing reached the bank; trying again later with the same MsgId is safe."""


@runtime_checkable
class BankAdapter(Protocol):
    """One transport to one bank, e-wallet provider or post office."""

    def submit(self, payment_file: OutgoingFile) -> SubmissionReceipt:
        """Hand the file to the bank; idempotent for the same MsgId and bytes.

        Raises:
            SubmissionRefused: the bank refused it (final).
            SubmissionTimeout: the outcome is unknown.
            BankUnavailable: nothing was delivered.
        """
        ...

    def fetch_returns(self) -> list[ReturnFile]:
        """Return the files the bank has for us that were not acknowledged yet."""
        ...

    def ack_return(self, name: str) -> None:
        """Tell the bank the return file ``name`` is stored on our side (not fetched again)."""
        ...

    def status(self, msg_id: str) -> SubmissionStatus:
        """Ask the bank what became of ``msg_id``.

        Raises:
            SubmissionTimeout | BankUnavailable: the bank could not be asked.
        """
        ...

    def health(self) -> bool:
        """Return True when the bank's side answers."""
        ...


__all__ = [
    "AdapterError",
    "BankAdapter",
    "BankUnavailable",
    "OutgoingFile",
    "ReturnFile",
    "SubmissionReceipt",
    "SubmissionRefused",
    "SubmissionStatus",
    "SubmissionTimeout",
]
