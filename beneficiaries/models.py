"""Beneficiary registry tables: rates, list imports, beneficiaries and their history.

Citizen IDs and account numbers are stored only as AES-GCM ciphertexts plus keyed blind
indexes (see ``disburse.core.keyring``); phone numbers (which are the wallet numbers of e-wallet
recipients) only as ciphertexts: nothing looks a person up by phone, so they need no index.
Nothing here holds them in plain text.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from disburse.core.clock import utcnow
from disburse.core.db import Base, Money, UTCDateTime, positive_money
from disburse.core.keyring import register_encrypted_column

#: The administrative-unit code version addresses use (two tiers since 2025-07-01).
LOCALITY_VERSION_2025 = "2025-07-01"


class BeneficiaryStatus(StrEnum):
    """Whether a beneficiary may be paid."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class ImportOutcome(StrEnum):
    """What an import did."""

    APPLIED = "applied"  # rows written (all, or the valid ones with --accept-valid)
    REJECTED = "rejected"  # the file was refused as a whole; nothing written
    DUPLICATE_FILE = "duplicate_file"  # the same file was already applied; nothing changed


class ProgrammeRate(Base):
    """A dated base rate with its legal reference (e.g. social assistance base)."""

    __tablename__ = "programme_rates"
    __table_args__ = (UniqueConstraint("rate_name", "effective_from"), positive_money("amount"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rate_name: Mapped[str] = mapped_column(String(60))
    amount: Mapped[int] = mapped_column(Money)
    effective_from: Mapped[date] = mapped_column(Date)
    legal_reference: Mapped[str] = mapped_column(String(200))


class ListImport(Base):
    """One attempt to import a beneficiary list, with its counts and stored report."""

    __tablename__ = "list_imports"
    __table_args__ = (Index("ix_list_imports_programme_sha", "programme", "file_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme: Mapped[str] = mapped_column(String(30))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_size: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    accept_valid: Mapped[bool] = mapped_column(default=False)
    end_missing: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str] = mapped_column(String(20))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    stored_dir: Mapped[str | None] = mapped_column(String(500))


class Beneficiary(Base):
    """A person enrolled in one programme; one row per (programme, citizen)."""

    __tablename__ = "beneficiaries"
    __table_args__ = (
        UniqueConstraint("programme", "citizen_id_idx"),
        Index("ix_beneficiaries_scope", "programme", "province_code", "commune_code"),
        Index("ix_beneficiaries_account_idx", "account_idx"),
        positive_money("monthly_amount"),
        CheckConstraint("status IN ('active', 'suspended', 'ended')", name="status_known"),
        CheckConstraint("channel IN ('bank', 'ewallet', 'cash')", name="channel_known"),
        CheckConstraint("channel = 'cash' OR (bank_bin IS NOT NULL AND account_enc IS NOT NULL)",
                        name="account_for_non_cash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme: Mapped[str] = mapped_column(String(30))
    citizen_id_enc: Mapped[bytes] = mapped_column(LargeBinary)
    citizen_id_idx: Mapped[str] = mapped_column(String(64))
    full_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(6))
    province_code: Mapped[str] = mapped_column(String(4))
    commune_code: Mapped[str] = mapped_column(String(8))
    locality_version: Mapped[str] = mapped_column(String(10), default=LOCALITY_VERSION_2025)
    monthly_amount: Mapped[int] = mapped_column(Money)
    coefficient_x100: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(8))
    bank_bin: Mapped[str | None] = mapped_column(String(6))
    account_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    account_idx: Mapped[str | None] = mapped_column(String(64))
    account_holder: Mapped[str | None] = mapped_column(String(200))
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), default=BeneficiaryStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(String(200))
    review_flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_import_id: Mapped[int] = mapped_column(ForeignKey("list_imports.id"))
    source_row: Mapped[int] = mapped_column(Integer)
    last_seen_import_id: Mapped[int] = mapped_column(ForeignKey("list_imports.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)


class BeneficiaryHistory(Base):
    """An append-only record of each change to a beneficiary (no plaintext IDs inside)."""

    __tablename__ = "beneficiary_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(20))
    changed: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(64))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("list_imports.id"))
    reason: Mapped[str | None] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


register_encrypted_column(Beneficiary.__table__, "id", "citizen_id_enc", "citizen_id")  # type: ignore[arg-type]
register_encrypted_column(Beneficiary.__table__, "id", "account_enc", "account_number")  # type: ignore[arg-type]
register_encrypted_column(Beneficiary.__table__, "id", "phone_enc", "phone")  # type: ignore[arg-type]
