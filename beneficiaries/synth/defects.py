"""Defects injected into synthetic lists, and what the importer or the registry must say.

At most one defect per row. Each kind has an exact count (``rate`` × rows, at least one when the
rate is positive and a row can carry it), so small test lists still exercise every kind.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any, Final

from beneficiaries.reference import load_banks
from beneficiaries.rules import age_on
from beneficiaries.synth.accounts import Channel
from beneficiaries.synth.names import other_given_name, random_name
from beneficiaries.synth.population import Person, Status
from beneficiaries.synth.rows import ListRow, Programme, fits


class DefectKind(StrEnum):
    """Kinds of injected defects."""

    WRONG_NAME = "wrong_name"
    WRONG_DOB = "wrong_dob"
    DECEASED = "deceased"
    UNKNOWN_ID = "unknown_id"
    INVALID_ACCOUNT = "invalid_account"
    DUPLICATE_ROW = "duplicate_row"
    NFD_NAME = "nfd_name"
    LOST_LEADING_ZERO = "lost_leading_zero"


class Stage(StrEnum):
    """Where a defect must be caught."""

    IMPORT = "import"
    VERIFICATION = "verification"


#: Expected (stage, outcome) per kind; invalid_account's outcome depends on the variant.
EXPECTED: Final[dict[DefectKind, tuple[Stage, str]]] = {
    DefectKind.WRONG_NAME: (Stage.VERIFICATION, "name_mismatch"),
    DefectKind.WRONG_DOB: (Stage.VERIFICATION, "dob_mismatch"),
    DefectKind.DECEASED: (Stage.VERIFICATION, "deceased"),
    DefectKind.UNKNOWN_ID: (Stage.VERIFICATION, "not_found"),
    DefectKind.INVALID_ACCOUNT: (Stage.IMPORT, "account_shape"),
    DefectKind.DUPLICATE_ROW: (Stage.IMPORT, "duplicate_in_file"),
    DefectKind.NFD_NAME: (Stage.IMPORT, "accepted_normalised"),
    DefectKind.LOST_LEADING_ZERO: (Stage.IMPORT, "cccd_leading_zero_lost"),
}


@dataclass(frozen=True, slots=True)
class DefectRates:
    """Share of rows (0-1) that carry each defect kind."""

    wrong_name: float = 0.01
    wrong_dob: float = 0.01
    deceased: float = 0.01
    unknown_id: float = 0.01
    invalid_account: float = 0.01
    duplicate_row: float = 0.01
    nfd_name: float = 0.01
    lost_leading_zero: float = 0.01

    def rate(self, kind: DefectKind) -> float:
        """Return the rate of one kind."""
        value: float = getattr(self, kind.value)
        return value


@dataclass(slots=True)
class Slot:
    """A row on its way into the file: its sort key decides the final row number."""

    row: ListRow
    key: float
    citizen_id: str
    kind: DefectKind | None = None
    expect: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    duplicate_of: Slot | None = None
    is_duplicate_source: bool = False


def _count(rate: float, rows: int, available: int) -> int:
    if rate <= 0 or available == 0:
        return 0
    return min(available, max(1, round(rate * rows)))


class DefectInjector:
    """Injects the defects of one list.

    Args:
        rng: The list's RNG.
        on: First day of the period (ages are kept on this day).
        programme: The list's programme (deceased people are chosen to fit it).
        make_row: Builds the clean row of a person.
    """

    def __init__(
        self, rng: random.Random, on: date, programme: Programme,
        make_row: Callable[[Person], ListRow],
    ) -> None:
        """Keep the list's context."""
        self._rng = rng
        self._on = on
        self._programme = programme
        self._make_row = make_row

    def inject(
        self, rows: Sequence[ListRow], rates: DefectRates,
        deceased_pool: list[Person], new_cccd: Callable[[str, date, str], str],
    ) -> list[Slot]:
        """Return the list's slots in file order, defects injected.

        Args:
            rows: Clean rows, in population order.
            rates: Defect rates.
            deceased_pool: Deceased people not yet used by any list (consumed here).
            new_cccd: Issues a well-formed CCCD for (birth province, birth date, gender) that
                is in neither the population nor any earlier list.
        """
        slots = [Slot(row, float(i), row.citizen_id) for i, row in enumerate(rows)]
        free = list(range(len(slots)))
        for kind, mutate in self._in_place():
            eligible = [i for i in free if mutate(slots[i], test_only=True)]
            count = _count(rates.rate(kind), len(rows), len(eligible))
            chosen = set(self._rng.sample(eligible, count))
            for index in sorted(chosen):
                mutate(slots[index], test_only=False)
            free = [i for i in free if i not in chosen]
        slots.extend(self._duplicates(slots, rates, len(rows)))
        slots.extend(self._deceased(rates, len(rows), deceased_pool))
        slots.extend(self._unknown(rows, rates, new_cccd))
        for slot in slots:
            if slot.kind is not None and not slot.expect:
                slot.expect = EXPECTED[slot.kind][1]
        return sorted(slots, key=lambda s: s.key)

    def _in_place(self) -> list[tuple[DefectKind, Callable[..., bool]]]:
        """The kinds that change an existing row (or mark it as a duplicate's source)."""
        return [
            (DefectKind.LOST_LEADING_ZERO, self._lost_zero),
            (DefectKind.NFD_NAME, self._nfd),
            (DefectKind.INVALID_ACCOUNT, self._bad_account),
            (DefectKind.WRONG_NAME, self._wrong_name),
            (DefectKind.WRONG_DOB, self._wrong_dob),
            (DefectKind.DUPLICATE_ROW, self._mark_source),
        ]

    # --- in-place mutations: with test_only, only say whether the slot can carry the kind ---

    def _lost_zero(self, slot: Slot, *, test_only: bool) -> bool:
        """Excel drops the leading 0; a second 0 would go too, so only 0[1-9]x provinces."""
        if test_only:
            return slot.row.citizen_id[0] == "0" and slot.row.citizen_id[1] != "0"
        slot.row = replace(slot.row, citizen_id=slot.row.citizen_id[1:], id_as_number=True)
        slot.kind = DefectKind.LOST_LEADING_ZERO
        return True

    def _nfd(self, slot: Slot, *, test_only: bool) -> bool:
        """A name typed on a Mac or pasted from a web page: decomposed, to be normalised."""
        nfd = unicodedata.normalize("NFD", slot.row.full_name)
        if test_only:
            return nfd != slot.row.full_name
        slot.row = replace(slot.row, full_name=nfd)
        slot.kind = DefectKind.NFD_NAME
        return True

    def _bad_account(self, slot: Slot, *, test_only: bool) -> bool:
        if test_only:
            return slot.row.channel is Channel.BANK
        slot.kind = DefectKind.INVALID_ACCOUNT
        if self._rng.random() < 0.5:
            # A truncated number: fewer than the 6 digits any bank uses.
            slot.row = replace(slot.row, account_number=slot.row.account_number[:4])
            slot.expect = "account_shape"
        else:
            slot.row = replace(slot.row, bank_bin=self._rng.choice(_unknown_bins()))
            slot.expect = "bin_unknown"
        slot.detail["variant"] = slot.expect
        return True

    def _wrong_name(self, slot: Slot, *, test_only: bool) -> bool:
        """The clerk typed another given name (the holder column copies it)."""
        if not test_only:
            wrong = other_given_name(self._rng, slot.row.full_name, slot.row.gender)
            slot.detail["registry_name"] = slot.row.full_name
            slot.row = slot.row.with_name(wrong)
            slot.kind = DefectKind.WRONG_NAME
        return True

    def _wrong_dob(self, slot: Slot, *, test_only: bool) -> bool:
        """Another day of the same year and the same age: the CCCD stays consistent."""
        year, born = slot.row.date_of_birth.year, slot.row.date_of_birth
        first, last = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
        for _ in range(50):
            candidate = date.fromordinal(self._rng.randrange(first, last + 1))
            same_age = age_on(candidate, self._on) == age_on(born, self._on)
            if candidate != born and same_age and candidate <= self._on:
                if not test_only:
                    slot.detail["registry_dob"] = born.isoformat()
                    slot.row = replace(slot.row, date_of_birth=candidate)
                    slot.kind = DefectKind.WRONG_DOB
                return True
        return False

    def _mark_source(self, slot: Slot, *, test_only: bool) -> bool:
        if not test_only:
            slot.is_duplicate_source = True
        return True

    # --- inserted rows ---------------------------------------------------------------------

    def _duplicates(self, slots: list[Slot], rates: DefectRates, rows: int) -> list[Slot]:
        """A second, identical row somewhere after each marked source."""
        copies = []
        for source in [s for s in slots if s.is_duplicate_source]:
            key = source.key + 0.5 + self._rng.random() * max(rows - source.key - 0.5, 0.0)
            copies.append(Slot(source.row, key, source.citizen_id, DefectKind.DUPLICATE_ROW,
                               duplicate_of=source))
        return copies

    def _deceased(self, rates: DefectRates, rows: int, pool: list[Person]) -> list[Slot]:
        """Rows for people the registry knows as deceased, fitting the programme by age."""
        fitting = [i for i, p in enumerate(pool) if fits(self._programme, p, self._on)]
        chosen = sorted(self._rng.sample(fitting, _count(rates.deceased, rows, len(fitting))))
        people = [pool[i] for i in chosen]
        for index in reversed(chosen):
            del pool[index]
        return [
            Slot(self._make_row(p), self._rng.random() * rows, p.citizen_id, DefectKind.DECEASED,
                 detail={"date_of_death": p.date_of_death.isoformat() if p.date_of_death else ""})
            for p in people
        ]

    def _unknown(
        self, rows: Sequence[ListRow], rates: DefectRates,
        new_cccd: Callable[[str, date, str], str],
    ) -> list[Slot]:
        """Rows for people the registry does not know: well-formed, consistent CCCDs."""
        slots = []
        for _ in range(_count(rates.unknown_id, len(rows), len(rows))):
            template = rows[self._rng.randrange(len(rows))]
            cccd = new_cccd(template.citizen_id[:3], template.date_of_birth, template.gender)
            person = Person(
                citizen_id=cccd, full_name=random_name(self._rng, template.gender),
                date_of_birth=template.date_of_birth, gender=template.gender,
                province_code=template.province_code, commune_code=template.commune_code,
                status=Status.ALIVE, date_of_death=None,
            )
            slots.append(Slot(self._make_row(person), self._rng.random() * len(rows), cccd,
                              DefectKind.UNKNOWN_ID))
        return slots


def _unknown_bins() -> list[str]:
    """Six-digit BINs of the 9704xx range that no bank in the table uses."""
    banks = load_banks()
    return [b for b in (f"9704{n:02d}" for n in range(100)) if b not in banks]

