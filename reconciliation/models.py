"""Tables of reconciliation: stored return records, instruction events, the exceptions queue.

``return_records`` holds one row per distinct bank statement about a payment: its
``record_key`` is UNIQUE, so the same record arriving in a second file is never stored (nor
applied) twice; the second occurrence becomes a ``duplicate_record`` exception instead.
The beneficiary's account is kept encrypted (for re-matching) with a blind index (for
look-ups), never in plain text.

``instruction_events`` is append-only: every state change of a payment instruction is a new
row (a return after settlement is ``paid -> returned``, the settlement row stays);
``payment_instructions.state`` is the projection of the latest event.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from disburse.core.clock import utcnow
from disburse.core.db import Base, UTCDateTime
from disburse.core.keyring import register_encrypted_column
from reconciliation.matching import ExceptionKind


class RecordDecision(StrEnum):
    """What became of a stored return record in the latest matching."""

    APPLIED = "applied"  # it moved (or confirmed) an instruction's state
    EXCEPTION = "exception"  # it sits in the exceptions queue
    # it may not touch any payment (another bank's, or one never sent): queued, and never
    # read again when the instruction's records are matched
    REFUSED = "refused"
    # a statement entry confirming a notification of the same booking (or the other way
    # round): kept as evidence, never matched again
    CONFIRMED = "confirmed"


class ExceptionState(StrEnum):
    """Where an exception is in the queue."""

    OPEN = "open"
    RESOLVED = "resolved"


class QueueKind(StrEnum):
    """Every kind of queued exception: the matcher's kinds plus unreadable content."""

    UNKNOWN_END_TO_END_ID = ExceptionKind.UNKNOWN_END_TO_END_ID.value
    AMBIGUOUS_END_TO_END_ID = ExceptionKind.AMBIGUOUS_END_TO_END_ID.value
    AMOUNT_MISMATCH = ExceptionKind.AMOUNT_MISMATCH.value
    ACCOUNT_MISMATCH = ExceptionKind.ACCOUNT_MISMATCH.value
    SETTLED_AFTER_REJECTION = ExceptionKind.SETTLED_AFTER_REJECTION.value
    RETURNED_AFTER_REJECTION = ExceptionKind.RETURNED_AFTER_REJECTION.value
    RECORD_FOR_CANCELLED_INSTRUCTION = ExceptionKind.RECORD_FOR_CANCELLED_INSTRUCTION.value
    DUPLICATE_RECORD = ExceptionKind.DUPLICATE_RECORD.value
    FALLBACK_MATCH_NEEDS_REVIEW = ExceptionKind.FALLBACK_MATCH_NEEDS_REVIEW.value
    NO_MATCH = ExceptionKind.NO_MATCH.value
    WHOLE_FILE_REJECTED = ExceptionKind.WHOLE_FILE_REJECTED.value
    WHOLE_FILE_NEEDS_REVIEW = ExceptionKind.WHOLE_FILE_NEEDS_REVIEW.value
    UNKNOWN_MSG_ID = ExceptionKind.UNKNOWN_MSG_ID.value
    RECORD_FROM_OTHER_BANK = ExceptionKind.RECORD_FROM_OTHER_BANK.value
    RECORD_FOR_UNSENT_INSTRUCTION = ExceptionKind.RECORD_FOR_UNSENT_INSTRUCTION.value
    MSG_ID_MISMATCH = ExceptionKind.MSG_ID_MISMATCH.value
    PARSE_ERROR = "parse_error"  # part of a file that could not be read as a record
    # a statement entry and a notification with the same bank reference disagree (amount,
    # date, direction or payment): the later one is not applied
    STATEMENT_MISMATCH = "statement_mismatch"
    # a bank statement whose sequence number skips one or more after the last one received
    STATEMENT_SEQUENCE_GAP = "statement_sequence_gap"


class ReturnRecordRow(Base):
    """One distinct bank statement about a payment, as parsed from a received file."""

    __tablename__ = "return_records"
    __table_args__ = (
        Index("ix_return_records_e2e", "end_to_end_id"),
        Index("ix_return_records_msg_id", "msg_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    return_file_id: Mapped[int] = mapped_column(ForeignKey("return_files.id"), index=True)
    record_key: Mapped[str] = mapped_column(String(64), unique=True)
    record_index: Mapped[int] = mapped_column(Integer)
    source_format: Mapped[str] = mapped_column(String(12))
    file_sha256: Mapped[str] = mapped_column(String(64))
    msg_id: Mapped[str | None] = mapped_column(String(140))
    end_to_end_id: Mapped[str | None] = mapped_column(String(140))
    bank_reference: Mapped[str | None] = mapped_column(String(140), index=True)
    account_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    account_idx: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))
    group_status: Mapped[str | None] = mapped_column(String(10))
    reason_code: Mapped[str | None] = mapped_column(String(35))
    reason_text: Mapped[str | None] = mapped_column(String(1000))
    booking_date: Mapped[date | None] = mapped_column(Date)
    matched_instruction_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment_instructions.id"), index=True)
    decision: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InstructionEvent(Base):
    """One state change of a payment instruction; never updated or deleted."""

    __tablename__ = "instruction_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instruction_id: Mapped[int] = mapped_column(ForeignKey("payment_instructions.id"),
                                                index=True)
    from_state: Mapped[str] = mapped_column(String(12))
    to_state: Mapped[str] = mapped_column(String(12))
    reason_code: Mapped[str | None] = mapped_column(String(35))
    return_record_id: Mapped[int | None] = mapped_column(ForeignKey("return_records.id"))
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReconciliationException(Base):
    """A return record (or an unreadable part of a file) that a person must look at."""

    __tablename__ = "reconciliation_exceptions"
    __table_args__ = (Index("ix_reconciliation_exceptions_state_kind", "state", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    return_file_id: Mapped[int | None] = mapped_column(ForeignKey("return_files.id"), index=True)
    return_record_id: Mapped[int | None] = mapped_column(ForeignKey("return_records.id"),
                                                         index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    candidate_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(10), default=ExceptionState.OPEN.value)
    resolution_note: Mapped[str | None] = mapped_column(String(1000))
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BankStatement(Base):
    """One camt.053 statement received: whose account, which number in the bank's sequence."""

    __tablename__ = "bank_statements"
    __table_args__ = (Index("ix_bank_statements_sequence", "bank_bin", "account", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    return_file_id: Mapped[int] = mapped_column(ForeignKey("return_files.id"), index=True)
    bank_bin: Mapped[str] = mapped_column(String(6))
    account: Mapped[str] = mapped_column(String(70))
    statement_id: Mapped[str] = mapped_column(String(35))
    sequence: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


register_encrypted_column(ReturnRecordRow.__table__, "id", "account_enc", "account_number")  # type: ignore[arg-type]

__all__ = [
    "BankStatement",
    "ExceptionState",
    "InstructionEvent",
    "QueueKind",
    "ReconciliationException",
    "RecordDecision",
    "ReturnRecordRow",
]
