"""One row of a synthetic beneficiary list: who is paid, how much and where.

Amounts follow each programme's rules: pensions come from the list (3-15 million dong),
social protection is the 500,000 dong base times a coefficient, revolutionary contributors get
levels of the 2,789,000 dong base, unemployment benefit is 60 % of the prior salary, capped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Final

from beneficiaries.rules import age_on, bank_form
from beneficiaries.synth.accounts import Channel, payment_profile
from beneficiaries.synth.names import WeightedTable
from beneficiaries.synth.population import Gender, Person


class Programme(StrEnum):
    """The four benefit programmes (stable codes)."""

    PENSION = "pension"
    SOCIAL_PROTECTION = "social_protection"
    REVOLUTIONARY = "revolutionary"
    UNEMPLOYMENT = "unemployment"


#: Social-protection base (Decree 20/2021, from 2021-07-01) and revolutionary base (2024-07-01).
SOCIAL_PROTECTION_BASE: Final = 500_000
REVOLUTIONARY_BASE: Final = 2_789_000
#: Region I minimum wage from 2024-07-01; unemployment benefit is capped at five times it.
MINIMUM_WAGE: Final = 4_960_000
UNEMPLOYMENT_CAP: Final = 5 * MINIMUM_WAGE

_SOCIAL_COEFFICIENTS: Final = WeightedTable([
    (Decimal("1.0"), 30.0), (Decimal("1.5"), 35.0), (Decimal("2.0"), 15.0),
    (Decimal("2.5"), 12.0), (Decimal("3.0"), 8.0),
])
_REVOLUTIONARY_LEVELS: Final = WeightedTable([
    (Decimal("0.5"), 15.0), (Decimal("1.0"), 40.0), (Decimal("1.5"), 20.0),
    (Decimal("2.0"), 15.0), (Decimal("3.0"), 10.0),
])
#: Share of social-protection rows whose amount cell is left blank (base × coefficient).
_SOCIAL_BLANK_AMOUNT: Final = 0.3
#: Share of account holder names written in bank form (the rest keep their diacritics).
_HOLDER_BANK_FORM: Final = 0.85


@dataclass(frozen=True, slots=True)
class ListRow:
    """One data row of a list, with typed values; the writers format them per language.

    Attributes:
        citizen_id: The CCCD as written in the file (may be damaged by an injected defect).
        amount: Whole dong, or None for a blank cell.
        coefficient: Social-protection coefficient, None elsewhere.
        holder_bank_form: Whether the holder name is written in bank form (upper ASCII).
        grouped_amount: In English lists, whether the amount is written ``1,500,000``.
        id_as_number: In XLSX, write the CCCD as a number (as Excel stores it).
    """

    citizen_id: str
    full_name: str
    date_of_birth: date
    gender: Gender
    province_code: str
    commune_code: str
    amount: int | None
    coefficient: Decimal | None
    channel: Channel
    bank_bin: str
    account_number: str
    account_holder: str
    phone: str
    holder_bank_form: bool = True
    grouped_amount: bool = False
    id_as_number: bool = False

    def with_name(self, full_name: str) -> ListRow:
        """Return the row with another full name, the holder name following it."""
        holder = self.account_holder
        if holder:
            holder = bank_form(full_name) if self.holder_bank_form else full_name
        return replace(self, full_name=full_name, account_holder=holder)


def retired(person: Person, on: date) -> bool:
    """Whether ``person`` has reached the 2026 retirement age (men 61y6m, women 57y)."""
    months = (on.year - person.date_of_birth.year) * 12 + on.month - person.date_of_birth.month
    months -= on.day < person.date_of_birth.day
    return months >= (738 if person.gender is Gender.MALE else 684)


def fits(programme: Programme, person: Person, on: date) -> bool:
    """Whether a person's age makes them a plausible beneficiary of ``programme``."""
    age = age_on(person.date_of_birth, on)
    if programme is Programme.PENSION:
        return age >= 50
    if programme is Programme.REVOLUTIONARY:
        return age >= 40
    if programme is Programme.UNEMPLOYMENT:
        return age >= 18 and not retired(person, on)
    return True


class RowFactory:
    """Builds the list row of one person for one programme, drawing amounts from ``rng``."""

    def __init__(self, programme: Programme, seed: int, rng: random.Random, on: date) -> None:
        """Keep the list's context.

        Args:
            programme: The list's programme (decides the amount rule).
            seed: The list seed, from which each person's payment profile is drawn.
            rng: The list's RNG, for amounts and name styles.
            on: First day of the period.
        """
        self.programme = programme
        self._seed = seed
        self._rng = rng
        self._on = on

    def row(self, person: Person) -> ListRow:
        """Return the row for ``person`` with an amount and the person's payment profile."""
        rng = self._rng
        amount, coefficient = self._amount()
        profile = payment_profile(
            person, self._seed, self._on,
            cash_allowed=self.programme is not Programme.UNEMPLOYMENT,
        )
        bank_form_holder = rng.random() < _HOLDER_BANK_FORM
        holder = ""
        if profile.channel is not Channel.CASH:
            holder = bank_form(person.full_name) if bank_form_holder else person.full_name
        return ListRow(
            citizen_id=person.citizen_id, full_name=person.full_name,
            date_of_birth=person.date_of_birth, gender=person.gender,
            province_code=person.province_code, commune_code=person.commune_code,
            amount=amount, coefficient=coefficient, channel=profile.channel,
            bank_bin=profile.bank_bin, account_number=profile.account_number,
            account_holder=holder, phone=profile.phone, holder_bank_form=bank_form_holder,
            grouped_amount=rng.random() < 0.5,
        )

    def _amount(self) -> tuple[int | None, Decimal | None]:
        """Draw (amount, coefficient) for the programme."""
        rng = self._rng
        if self.programme is Programme.PENSION:
            return int(rng.triangular(3_000_000, 15_000_000, 5_000_000)) // 100 * 100, None
        if self.programme is Programme.SOCIAL_PROTECTION:
            coefficient = _SOCIAL_COEFFICIENTS.pick(rng)
            blank = rng.random() < _SOCIAL_BLANK_AMOUNT
            return (None if blank else int(SOCIAL_PROTECTION_BASE * coefficient)), coefficient
        if self.programme is Programme.REVOLUTIONARY:
            return int(REVOLUTIONARY_BASE * _REVOLUTIONARY_LEVELS.pick(rng)), None
        salary = int(rng.triangular(MINIMUM_WAGE, 40_000_000, 8_000_000)) // 1000 * 1000
        return min(salary * 60 // 100, UNEMPLOYMENT_CAP), None
