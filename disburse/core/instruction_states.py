"""The states a payment instruction moves through: one enum for the batches and the matching.

The payments domain stores them (``disburse.payments.models``); reconciliation's pure matching
decides transitions between them (``reconciliation.match_model``) and may import neither the
payments domain nor the database, so the enum lives here in the kernel, with no imports.
"""

from __future__ import annotations

from enum import StrEnum


class InstructionState(StrEnum):
    """Where one payment instruction is; the last four are final."""

    INSTRUCTED = "instructed"
    ACCEPTED = "accepted"
    PAID = "paid"
    REJECTED = "rejected"
    RETURNED = "returned"
    CANCELLED = "cancelled"


__all__ = ["InstructionState"]
