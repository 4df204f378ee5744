"""The four programmes: names, allowed channels, amount rules and dated rate tables.

Programme codes are stable identifiers. Rates live in the ``programme_rates`` table (seeded by
migration) with their effective date and legal reference, so a new decree is a new row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from beneficiaries.models import ProgrammeRate
from disburse.core.errors import NotFound, ValidationFailed


class Channel(StrEnum):
    """How a beneficiary receives money."""

    BANK = "bank"
    EWALLET = "ewallet"
    CASH = "cash"


class AmountRule(StrEnum):
    """Where a monthly amount comes from."""

    LIST = "list"  # the amount written on the list, checked against bounds
    RATE_X_COEFFICIENT = "rate_x_coefficient"  # dated base rate × the row's coefficient


@dataclass(frozen=True)
class Programme:
    """A benefit programme and the rules its lists are checked against."""

    code: str
    name_vi: str
    name_en: str
    channels: frozenset[Channel]
    amount_rule: AmountRule
    rate_name: str | None
    min_amount: int
    max_amount: int
    min_age: int | None
    max_age: int | None
    purpose_code: str  # ISO 20022 purpose for the payment file

    def allows(self, channel: str) -> bool:
        """Return whether ``channel`` may be used to pay this programme."""
        return channel in self.channels


_ALL = frozenset(Channel)
PROGRAMMES: Final[dict[str, Programme]] = {
    p.code: p
    for p in (
        Programme("pension", "Lương hưu", "Pension", _ALL, AmountRule.LIST, None,
                  500_000, 150_000_000, 40, 120, "PENS"),
        Programme("social_protection", "Trợ cấp xã hội hằng tháng", "Monthly social allowance",
                  _ALL, AmountRule.RATE_X_COEFFICIENT, "social_assistance_base",
                  100_000, 10_000_000, 0, 120, "BENE"),
        Programme("revolutionary", "Trợ cấp ưu đãi người có công với cách mạng",
                  "Preferential allowance for people with revolutionary contributions",
                  _ALL, AmountRule.LIST, "revolutionary_base", 200_000, 60_000_000, 0, 120,
                  "BENE"),
        Programme("unemployment", "Trợ cấp thất nghiệp", "Unemployment benefit",
                  frozenset({Channel.BANK, Channel.EWALLET}), AmountRule.LIST, None,
                  500_000, 30_000_000, 15, 70, "BENE"),
    )
}

#: Allowed coefficients for rate × coefficient programmes, in hundredths (1.5 -> 150).
COEFFICIENT_MIN_X100: Final = 50
COEFFICIENT_MAX_X100: Final = 500


def get_programme(code: str) -> Programme:
    """Return the programme ``code``.

    Raises:
        NotFound: for an unknown code (the message lists the known ones).
    """
    programme = PROGRAMMES.get(code)
    if programme is None:
        raise NotFound(f"unknown programme {code!r}; known: {', '.join(PROGRAMMES)}")
    return programme


def rate_on(session: Session, rate_name: str, on: date) -> ProgrammeRate:
    """Return the rate ``rate_name`` in force on ``on`` (the latest effective before it).

    Raises:
        ValidationFailed: when no rate is in force on that date.
    """
    rate = session.execute(
        select(ProgrammeRate)
        .where(ProgrammeRate.rate_name == rate_name, ProgrammeRate.effective_from <= on)
        .order_by(ProgrammeRate.effective_from.desc())
        .limit(1)
    ).scalar_one_or_none()
    if rate is None:
        raise ValidationFailed(f"no {rate_name} rate is in force on {on.isoformat()}")
    return rate


def amount_from_rate(base: int, coefficient_x100: int) -> int:
    """Return base × coefficient in whole dong (coefficient in hundredths), rounded half up."""
    return (base * coefficient_x100 + 50) // 100


#: Seed rates: (rate name, amount, effective from, legal reference).
SEED_RATES: Final[list[tuple[str, int, date, str]]] = [
    ("social_assistance_base", 360_000, date(2021, 7, 1), "Nghị định 20/2021/NĐ-CP"),
    ("social_assistance_base", 500_000, date(2024, 7, 1), "Nghị định 76/2024/NĐ-CP"),
    ("revolutionary_base", 2_055_000, date(2023, 7, 1), "Nghị định 55/2023/NĐ-CP"),
    ("revolutionary_base", 2_789_000, date(2024, 7, 1), "Nghị định 77/2024/NĐ-CP"),
]
