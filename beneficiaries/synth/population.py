"""Synthetic Vietnamese population: people with consistent CCCDs, 2025 localities and deaths.

Every draw comes from one ``random.Random(seed)``, so a seed always gives the same people in
the same order. Codes follow the General Statistics Office: province 2 digits ("01"), commune
5 digits ("00070"), both of the two-tier (post 2025-07-01) version from ``vietnam-provinces``.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Final

from beneficiaries.localities import load_communes
from beneficiaries.reference import load_cccd_provinces
from beneficiaries.rules import cccd_birth_digits
from beneficiaries.synth.names import WeightedTable, random_name, seeded_rng

#: The fixed "today" of generated data, so output never depends on the clock.
DEFAULT_TODAY: Final = date(2026, 11, 1)

#: Column order of the population CSV (the reference registry loads exactly these).
POPULATION_COLUMNS: Final = (
    "citizen_id", "full_name", "date_of_birth", "gender", "province_code", "commune_code",
    "status", "date_of_death",
)

#: Rows per ``writerows`` call when streaming to disk.
_CHUNK: Final = 10_000


class Gender(StrEnum):
    """Gender as the registry records it."""

    MALE = "male"
    FEMALE = "female"


class Status(StrEnum):
    """Whether the registry knows the person as alive or deceased."""

    ALIVE = "alive"
    DECEASED = "deceased"


@dataclass(frozen=True, slots=True)
class Person:
    """One person of the synthetic population registry."""

    citizen_id: str
    full_name: str
    date_of_birth: date
    gender: Gender
    province_code: str
    commune_code: str
    status: Status
    date_of_death: date | None

    @property
    def alive(self) -> bool:
        """True unless the registry records a death."""
        return self.status is Status.ALIVE

    def csv_row(self) -> list[str]:
        """Return the person as a population CSV row (``POPULATION_COLUMNS`` order)."""
        death = self.date_of_death.isoformat() if self.date_of_death else ""
        return [
            self.citizen_id, self.full_name, self.date_of_birth.isoformat(), self.gender,
            self.province_code, self.commune_code, self.status, death,
        ]

    @classmethod
    def from_csv_row(cls, row: list[str]) -> Person:
        """Build a person from a population CSV row written by ``csv_row``."""
        return cls(
            citizen_id=row[0], full_name=row[1], date_of_birth=date.fromisoformat(row[2]),
            gender=Gender(row[3]), province_code=row[4], commune_code=row[5],
            status=Status(row[6]), date_of_death=date.fromisoformat(row[7]) if row[7] else None,
        )


@dataclass(frozen=True, slots=True)
class PopulationSummary:
    """What ``write_population_csv`` wrote."""

    path: Path
    rows: int
    deceased: int


# --- localities ---------------------------------------------------------------------------

#: Old (CCCD) province code -> the 2025 province it was merged into (Resolution 202/2025/QH15).
OLD_TO_NEW_PROVINCE: Final[dict[str, str]] = {
    "001": "01", "002": "08", "004": "04", "006": "19", "008": "08", "010": "15", "011": "11",
    "012": "12", "014": "14", "015": "15", "017": "25", "019": "19", "020": "20", "022": "22",
    "024": "24", "025": "25", "026": "25", "027": "24", "030": "31", "031": "31", "033": "33",
    "034": "33", "035": "37", "036": "37", "037": "37", "038": "38", "040": "40", "042": "42",
    "044": "44", "045": "44", "046": "46", "048": "48", "049": "48", "051": "51", "052": "52",
    "054": "66", "056": "56", "058": "56", "060": "68", "062": "51", "064": "52", "066": "66",
    "067": "68", "068": "68", "070": "75", "072": "80", "074": "79", "075": "75", "077": "79",
    "079": "79", "080": "80", "082": "82", "083": "86", "084": "86", "086": "86", "087": "82",
    "089": "91", "091": "91", "092": "92", "093": "92", "094": "92", "095": "96", "096": "96",
}

#: Birth-registration province weights: 2019 census population, thousands (old provinces).
BIRTH_PROVINCE_WEIGHTS: Final[dict[str, float]] = {
    "001": 8053, "002": 854, "004": 530, "006": 314, "008": 785, "010": 731, "011": 599,
    "012": 460, "014": 1248, "015": 821, "017": 854, "019": 1287, "020": 782, "022": 1320,
    "024": 1804, "025": 1464, "026": 1152, "027": 1369, "030": 1893, "031": 2029, "033": 1253,
    "034": 1861, "035": 852, "036": 1781, "037": 983, "038": 3641, "040": 3327, "042": 1289,
    "044": 896, "045": 633, "046": 1129, "048": 1135, "049": 1496, "051": 1231, "052": 1487,
    "054": 873, "056": 1232, "058": 591, "060": 1231, "062": 541, "064": 1514, "066": 1870,
    "067": 622, "068": 1297, "070": 995, "072": 1170, "074": 2426, "075": 3097, "077": 1149,
    "079": 8993, "080": 1689, "082": 1765, "083": 1289, "084": 1010, "086": 1023, "087": 1600,
    "089": 1908, "091": 1724, "092": 1236, "093": 733, "094": 1200, "095": 907, "096": 1194,
}

#: Share of people who live outside the province they were born in.
MIGRANT_SHARE: Final = 0.12
#: Where migrants live (2025 province codes): the big cities and industrial provinces.
MIGRATION_TARGETS: Final = WeightedTable([
    ("79", 40.0), ("01", 25.0), ("75", 8.0), ("24", 6.0), ("48", 4.0), ("31", 4.0),
    ("92", 3.0), ("80", 3.0), ("56", 2.0), ("68", 2.0), ("22", 2.0), ("33", 1.0),
])


# --- ages ---------------------------------------------------------------------------------

#: (youngest, oldest) age in years -> weight, and how much likelier than average to have died.
#: Skewed old on purpose: three of the four programmes pay people over 60.
_AGE_BANDS: Final = (
    ((6, 17), 4.0, 0.2), ((18, 29), 11.0, 0.2), ((30, 44), 16.0, 0.3), ((45, 59), 19.0, 0.6),
    ((60, 69), 22.0, 1.0), ((70, 79), 17.0, 1.6), ((80, 99), 11.0, 3.0),
)
_AGE_TABLE: Final = WeightedTable([(band, weight) for band, weight, _ in _AGE_BANDS])
_DEATH_FACTOR: Final = {band: factor for band, _, factor in _AGE_BANDS}
_MEAN_DEATH_FACTOR: Final = sum(w * f for _, w, f in _AGE_BANDS) / sum(w for _, w, _ in _AGE_BANDS)
#: Deaths fall within this many days before "today" (recent deaths are the ones lists miss).
_DEATH_WINDOW_DAYS: Final = 3 * 365
_DAYS_PER_YEAR: Final = 365.2425


# --- the generator ------------------------------------------------------------------------


class _PersonFactory:
    """Draws people one at a time from a single RNG; remembers issued CCCDs for uniqueness."""

    def __init__(self, rng: random.Random, deceased_share: float, today: date) -> None:
        if not 0.0 <= deceased_share <= 1.0:
            raise ValueError("deceased_share must be between 0 and 1")
        provinces = load_cccd_provinces()
        self._rng = rng
        self._today = today.toordinal()
        self._death_base = deceased_share / _MEAN_DEATH_FACTOR
        self._births = WeightedTable(
            [(code, BIRTH_PROVINCE_WEIGHTS[code]) for code in sorted(provinces)]
        )
        self._communes = load_communes()
        self.issued: set[int] = set()

    def person(self) -> Person:
        """Draw the next person."""
        rng = self._rng
        gender = Gender.MALE if rng.random() < 0.48 else Gender.FEMALE
        band = _AGE_TABLE.pick(rng)
        age_days = rng.randrange(
            int(band[0] * _DAYS_PER_YEAR), int((band[1] + 1) * _DAYS_PER_YEAR) - 1
        )
        born = date.fromordinal(self._today - age_days)
        birth_province = self._births.pick(rng)
        province = OLD_TO_NEW_PROVINCE[birth_province]
        if rng.random() < MIGRANT_SHARE:
            province = MIGRATION_TARGETS.pick(rng)
        death = self._death(born, band)
        return Person(
            citizen_id=self.new_cccd(birth_province, born, gender),
            full_name=random_name(rng, gender),
            date_of_birth=born,
            gender=gender,
            province_code=province,
            commune_code=_uniform(rng, self._communes[province]),
            status=Status.ALIVE if death is None else Status.DECEASED,
            date_of_death=death,
        )

    def new_cccd(self, birth_province: str, born: date, gender: str) -> str:
        """Return a CCCD for this birth, unique among all issued by this factory."""
        prefix = birth_province + cccd_birth_digits(born, gender)
        while True:
            cccd = f"{prefix}{int(self._rng.random() * 1_000_000):06d}"
            number = int(cccd)
            if number not in self.issued:
                self.issued.add(number)
                return cccd

    def _death(self, born: date, band: tuple[int, int]) -> date | None:
        """Draw whether (and when) the person died; older people die more often."""
        if self._rng.random() >= self._death_base * _DEATH_FACTOR[band]:
            return None
        earliest = max(born.toordinal() + 1, self._today - _DEATH_WINDOW_DAYS)
        return date.fromordinal(self._rng.randrange(earliest, self._today))


def _uniform(rng: random.Random, values: tuple[str, ...]) -> str:
    """``rng.choice`` without its per-call overhead (a million calls add up)."""
    return values[int(rng.random() * len(values))]


def generate_population(
    count: int,
    seed: int = 0,
    deceased_share: float = 0.02,
    today: date = DEFAULT_TODAY,
) -> Iterator[Person]:
    """Yield ``count`` synthetic people, the same ones for the same arguments.

    Args:
        count: How many people.
        seed: Seed of the private RNG.
        deceased_share: Expected share of deceased people (0-1); the old die more often, but
            the overall share is this one.
        today: Reference date: ages are counted to it and deaths fall before it.

    Yields:
        People with unique, consistent CCCDs, NFC names and 2025 province/commune codes.
    """
    factory = _PersonFactory(seeded_rng(seed), deceased_share, today)
    for _ in range(count):
        yield factory.person()


def write_population_csv(
    path: Path,
    count: int,
    *,
    seed: int = 0,
    deceased_share: float = 0.02,
    today: date = DEFAULT_TODAY,
) -> PopulationSummary:
    """Stream a synthetic population to a UTF-8 CSV file (no BOM) with ``POPULATION_COLUMNS``.

    Args:
        path: The CSV file to create or replace.
        count: How many people.
        seed: Seed of the private RNG.
        deceased_share: Expected share of deceased people (0-1).
        today: Reference date for ages and deaths.

    Returns:
        The number of rows and of deceased people written.
    """
    deceased = 0
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(POPULATION_COLUMNS)
        chunk: list[list[str]] = []
        for person in generate_population(count, seed, deceased_share, today):
            deceased += person.status is Status.DECEASED
            chunk.append(person.csv_row())
            if len(chunk) >= _CHUNK:
                writer.writerows(chunk)
                rows += len(chunk)
                chunk.clear()
        writer.writerows(chunk)
        rows += len(chunk)
    return PopulationSummary(path=path, rows=rows, deceased=deceased)


def read_population_csv(path: Path) -> Iterator[Person]:
    """Stream the people of a population CSV written by ``write_population_csv``."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(header) != POPULATION_COLUMNS:
            raise ValueError(f"{path} is not a population file (unexpected header)")
        yield from _people(reader)


def _people(rows: Iterable[list[str]]) -> Iterator[Person]:
    for row in rows:
        if row:
            yield Person.from_csv_row(row)
