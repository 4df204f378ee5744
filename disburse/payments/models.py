"""Batches, payment instructions, approvals, exclusions and payment files.

Invariant 1 lives here as constraints: one instruction per (beneficiary, programme, period),
a unique EndToEndId, a unique MsgId for all time, and arrears carried forward at most once.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from disburse.core.clock import utcnow
from disburse.core.db import Base, Money, UTCDateTime, positive_money
from disburse.core.instruction_states import InstructionState as InstructionState
from disburse.core.keyring import register_encrypted_column


class Batch(Base):
    """A monthly payment batch for one programme (optionally one province)."""

    __tablename__ = "batches"
    __table_args__ = (
        CheckConstraint("count >= 0", name="count_not_negative"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        Index("ix_batches_programme_period", "programme", "period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme: Mapped[str] = mapped_column(String(30))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    province_code: Mapped[str | None] = mapped_column(String(4))
    state: Mapped[str] = mapped_column(String(20), index=True)
    preparer: Mapped[str] = mapped_column(String(64))
    requested_execution_date: Mapped[date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    content_hash: Mapped[str] = mapped_column(String(64))
    exclusions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Instruction(Base):
    """One payment to one beneficiary for one programme and period."""

    __tablename__ = "payment_instructions"
    __table_args__ = (
        UniqueConstraint("beneficiary_id", "programme", "period"),
        UniqueConstraint("end_to_end_id"),
        UniqueConstraint("batch_id", "seq"),  # the order hashed and written; also the index
        positive_money("amount"),
        CheckConstraint("arrears_amount >= 0", name="arrears_not_negative"),
        CheckConstraint("amount = base_amount + arrears_amount", name="amount_adds_up"),
        CheckConstraint("length(end_to_end_id) <= 35", name="e2e_max_35"),
        Index("ix_payment_instructions_batch_route", "batch_id", "route"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"))
    programme: Mapped[str] = mapped_column(String(30))
    period: Mapped[str] = mapped_column(String(7))
    seq: Mapped[int] = mapped_column(Integer)  # order within the batch (hash and files)
    amount: Mapped[int] = mapped_column(Money)
    base_amount: Mapped[int] = mapped_column(Money)
    arrears_amount: Mapped[int] = mapped_column(Money, default=0)
    channel: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(40))
    rerouted_from: Mapped[str | None] = mapped_column(String(8))
    bank_bin: Mapped[str | None] = mapped_column(String(6))
    account_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    account_idx: Mapped[str | None] = mapped_column(String(64))  # blind index, for the hash
    creditor_name: Mapped[str] = mapped_column(String(140))
    province_code: Mapped[str] = mapped_column(String(4))
    commune_code: Mapped[str] = mapped_column(String(8))
    end_to_end_id: Mapped[str] = mapped_column(String(35))
    state: Mapped[str] = mapped_column(String(12), default=InstructionState.INSTRUCTED)
    reason_code: Mapped[str | None] = mapped_column(String(8))
    # Held by an open conflict between the bank's answers (settled and rejected, returned
    # after a rejection): no arrears and no re-routing until an auditor resolves it.
    contested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    payment_file_id: Mapped[int | None] = mapped_column(ForeignKey("payment_files.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ArrearsCarry(Base):
    """An earlier rejected/returned instruction whose amount was added to a later one."""

    __tablename__ = "arrears_carries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_instruction_id: Mapped[int] = mapped_column(
        ForeignKey("payment_instructions.id"), unique=True)
    to_instruction_id: Mapped[int] = mapped_column(ForeignKey("payment_instructions.id"),
                                                   index=True)
    amount: Mapped[int] = mapped_column(Money)


class Approval(Base):
    """A checker's approval, pinned to the batch content hash, count and total."""

    __tablename__ = "batch_approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    approver: Mapped[str] = mapped_column(String(64))
    batch_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    void_reason: Mapped[str | None] = mapped_column(String(300))


class PaymentFile(Base):
    """A written, signed payment file for one route (or one part of a split route)."""

    __tablename__ = "payment_files"
    __table_args__ = (UniqueConstraint("msg_id"), UniqueConstraint("batch_id", "route", "part_no"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    route: Mapped[str] = mapped_column(String(40))
    part_no: Mapped[int] = mapped_column(Integer)
    layout: Mapped[str] = mapped_column(String(12))
    msg_id: Mapped[str] = mapped_column(String(35))
    file_name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    nb_of_txs: Mapped[int] = mapped_column(BigInteger)
    ctrl_sum: Mapped[int] = mapped_column(BigInteger)
    batch_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


register_encrypted_column(Instruction.__table__, "id", "account_enc", "account_number")  # type: ignore[arg-type]
