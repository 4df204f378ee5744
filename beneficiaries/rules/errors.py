"""Errors as data: what every rule returns instead of raising."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How an importer treats a finding.

    ``ERROR`` rejects the row. ``REVIEW`` keeps the row but flags it for a human; a review is
    never an automatic accept of a doubtful value.
    """

    ERROR = "error"
    REVIEW = "review"


@dataclass(frozen=True, slots=True)
class RuleError:
    """One finding of a rule about one field of one row.

    Attributes:
        code: Stable snake_case identifier (``cccd_length``, ``amount_decimal`` ...) that
            reports, translations and tests key on; never reworded once released.
        field: Canonical list column the finding is about (a key of ``LIST_COLUMNS``).
        message_en: Explanation in English, naming the bad value where that is safe.
        message_vi: The same explanation in Vietnamese.
        severity: Whether the row is rejected or only flagged for review.
    """

    code: str
    field: str
    message_en: str
    message_vi: str
    severity: Severity = Severity.ERROR

    @property
    def blocking(self) -> bool:
        """Whether this finding rejects the row."""
        return self.severity is Severity.ERROR


def has_blocking(errors: Iterable[RuleError]) -> bool:
    """Return True when any finding rejects the row (review flags do not)."""
    return any(error.severity is Severity.ERROR for error in errors)
