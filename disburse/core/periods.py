"""Payment periods: one calendar month written ``YYYY-MM`` (the one pattern, used everywhere).

A period is part of the key that keeps anyone from being paid twice (beneficiary, programme,
period), so only one spelling of a month may pass: ASCII digits (``\\d`` would also take other
scripts' digits, giving a second string for the same month) and nothing after the month (``$``
would also take a trailing newline).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

from disburse.core.errors import ValidationFailed

#: The pattern for schemas and documents (OpenAPI); ``PERIOD_RE`` is what checks it.
PERIOD_PATTERN: Final = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
#: ``PERIOD_PATTERN`` compiled so that ``match`` (marshmallow's ``Regexp``) takes no newline.
PERIOD_RE: Final = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])\Z")


def is_period(text: str) -> bool:
    """Return whether ``text`` is a month written ``YYYY-MM`` (e.g. ``2026-11``)."""
    return PERIOD_RE.match(text) is not None


def parse_period(period: str) -> date:
    """Return the first day of ``period`` (``YYYY-MM``).

    Raises:
        ValidationFailed: not a ``YYYY-MM`` month.
    """
    match = PERIOD_RE.match(period)
    if match is None:
        raise ValidationFailed(f"period must be YYYY-MM (e.g. 2026-11), got {period!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def months_between(earlier: str, later: str) -> int:
    """Return how many months ``earlier`` (YYYY-MM) lies before ``later``."""
    a, b = parse_period(earlier), parse_period(later)
    return (b.year - a.year) * 12 + b.month - a.month


__all__ = ["PERIOD_PATTERN", "PERIOD_RE", "is_period", "months_between", "parse_period"]
