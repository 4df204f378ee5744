"""Verification results (append-only history) and approver overrides."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from disburse.core.clock import utcnow
from disburse.core.db import Base, UTCDateTime


class Outcome(StrEnum):
    """What the population registry said about a beneficiary."""

    VERIFIED = "verified"
    NAME_MISMATCH = "name_mismatch"
    DOB_MISMATCH = "dob_mismatch"
    GENDER_MISMATCH = "gender_mismatch"
    NOT_FOUND = "not_found"
    DECEASED = "deceased"
    REGISTRY_UNAVAILABLE = "registry_unavailable"


MISMATCHES = frozenset({Outcome.NAME_MISMATCH, Outcome.DOB_MISMATCH, Outcome.GENDER_MISMATCH})


class Verification(Base):
    """One check of one beneficiary; a later check never erases an earlier one."""

    __tablename__ = "verifications"
    __table_args__ = (Index("ix_verifications_beneficiary_latest", "beneficiary_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"))
    #: the beneficiary's record version that was checked: a later correction needs a new check
    beneficiary_version: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(24), index=True)
    differences: Mapped[dict[str, Any]] = mapped_column(JSON)
    date_of_death: Mapped[date | None] = mapped_column(Date)
    evidence_digest: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    registry_served_at: Mapped[datetime] = mapped_column(UTCDateTime())
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))


class VerificationOverride(Base):
    """An approver's decision to pay despite a mismatch, with the reason."""

    __tablename__ = "verification_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    verification_id: Mapped[int] = mapped_column(ForeignKey("verifications.id"), unique=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
