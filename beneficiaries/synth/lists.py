"""Synthetic beneficiary lists, one per programme, with injected defects and an answer key.

Row numbers in the answer key are spreadsheet row numbers: the header is row 1, the first data
row is row 2. ``clean_rows`` counts rows with no defect at all and not the first occurrence of
a duplicated CCCD (an importer may rightly flag both occurrences).
"""

from __future__ import annotations

import csv
import json
import random
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook

from beneficiaries.columns import LIST_COLUMNS, headers
from beneficiaries.reference import load_cccd_provinces
from beneficiaries.rules import age_on, cccd_birth_digits
from beneficiaries.synth.accounts import ANSWER_KEY_NAME, Channel
from beneficiaries.synth.defects import EXPECTED, DefectInjector, DefectRates, Slot
from beneficiaries.synth.names import seeded_rng
from beneficiaries.synth.population import Gender, Person, read_population_csv
from beneficiaries.synth.rows import ListRow, Programme, RowFactory, retired

_GENDER_WORDS: Final = {
    "vi": {Gender.MALE: "Nam", Gender.FEMALE: "Nữ"},
    "en": {Gender.MALE: "male", Gender.FEMALE: "female"},
}
_CHANNEL_WORDS: Final = {
    "vi": {Channel.BANK: "Chuyển khoản", Channel.EWALLET: "Ví điện tử", Channel.CASH: "Tiền mặt"},
    "en": {Channel.BANK: "bank", Channel.EWALLET: "ewallet", Channel.CASH: "cash"},
}
#: Timestamp stamped into XLSX files so that the same seed gives the same bytes.
_FIXED_ZIP_TIME: Final = (2026, 1, 1, 0, 0, 0)
_CORE_TIMES: Final = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


@dataclass(frozen=True, slots=True)
class ListsSummary:
    """What ``write_lists`` wrote.

    Attributes:
        files: List file name -> number of data rows.
        defects: List file name -> number of defective rows.
        answer_key: Path of the answer key.
    """

    directory: Path
    files: dict[str, int]
    defects: dict[str, int]
    answer_key: Path

    @property
    def rows(self) -> int:
        """Data rows over all lists."""
        return sum(self.files.values())


# --- who is on which list ---------------------------------------------------------------


def draw_programmes(rng: random.Random, person: Person, on: date) -> list[Programme]:
    """Draw the programmes an alive person is paid by (usually none, sometimes two).

    Pensions go to about 38 % of the retired, social protection to most people over 80 without
    a pension and to a few orphans and disabled people, revolutionary-contributor benefits to
    some of the old, unemployment benefit to a few people of working age.
    """
    age = age_on(person.date_of_birth, on)
    is_retired = retired(person, on)
    chances = (
        (Programme.PENSION, 0.38 if is_retired else 0.03 if age >= 50 else 0.0),
        (Programme.REVOLUTIONARY, 0.09 if age >= 65 else 0.015 if age >= 40 else 0.0),
    )
    chosen = [programme for programme, p in chances if rng.random() < p]
    if Programme.PENSION not in chosen:
        social = 0.8 if age >= 80 else 0.04 if age < 16 else 0.02
        if rng.random() < social:
            chosen.append(Programme.SOCIAL_PROTECTION)
        elif age >= 18 and not is_retired and rng.random() < 0.025:
            chosen.append(Programme.UNEMPLOYMENT)
    return chosen


@dataclass(slots=True)
class _Drawn:
    """The population read once: beneficiaries by programme, the deceased, all CCCDs."""

    by_programme: dict[Programme, list[Person]] = field(
        default_factory=lambda: {p: [] for p in Programme}
    )
    deceased: list[Person] = field(default_factory=list)
    ids: set[int] = field(default_factory=set)


def _draw(population: Path, rng: random.Random, on: date) -> _Drawn:
    drawn = _Drawn()
    for person in read_population_csv(population):
        drawn.ids.add(int(person.citizen_id))
        if not person.alive:
            drawn.deceased.append(person)
            continue
        for programme in draw_programmes(rng, person, on):
            drawn.by_programme[programme].append(person)
    return drawn


# --- formatting -------------------------------------------------------------------------


def _amount_text(amount: int | None, lang: str, grouped: bool) -> str:
    if amount is None:
        return ""
    if lang == "vi":
        return f"{amount:,}".replace(",", ".")
    return f"{amount:,}" if grouped else str(amount)


def csv_cells(row: ListRow, lang: str) -> list[str]:
    """Format a row for a CSV list: dd/mm/yyyy and 1.500.000 in Vietnamese, ISO in English."""
    born = row.date_of_birth
    return [
        row.citizen_id, row.full_name,
        f"{born:%d/%m/%Y}" if lang == "vi" else born.isoformat(),
        _GENDER_WORDS[lang][row.gender], row.province_code, row.commune_code,
        _amount_text(row.amount, lang, row.grouped_amount),
        "" if row.coefficient is None else str(row.coefficient),
        _CHANNEL_WORDS[lang][row.channel], row.bank_bin, row.account_number,
        row.account_holder, row.phone,
    ]


def xlsx_cells(row: ListRow, lang: str) -> list[object]:
    """Format a row for an XLSX list: typed dates and numbers, IDs and accounts as text."""
    return [
        int(row.citizen_id) if row.id_as_number else row.citizen_id, row.full_name,
        row.date_of_birth, _GENDER_WORDS[lang][row.gender], row.province_code,
        row.commune_code, row.amount, row.coefficient, _CHANNEL_WORDS[lang][row.channel],
        row.bank_bin or None, row.account_number or None, row.account_holder or None,
        row.phone or None,
    ]


def _write_csv(path: Path, lang: str, rows: Iterator[ListRow]) -> None:
    # Excel writes "CSV UTF-8" with a BOM; Vietnamese staff use Excel, so vi lists carry one.
    encoding = "utf-8-sig" if lang == "vi" else "utf-8"
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(headers(lang))
        writer.writerows(csv_cells(row, lang) for row in rows)


def _write_xlsx(path: Path, lang: str, rows: Iterator[ListRow]) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Danh sách" if lang == "vi" else "List")
    sheet.append(headers(lang))
    for row in rows:
        sheet.append(xlsx_cells(row, lang))
    workbook.save(path)
    _pin_xlsx_times(path)


def _pin_xlsx_times(path: Path) -> None:
    """Rewrite the zip with fixed timestamps: openpyxl stamps the time of saving."""
    with zipfile.ZipFile(path) as source:
        entries = [(info.filename, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = _CORE_TIMES.sub(rb"\g<1>2026-01-01T00:00:00Z\g<2>", data)
            target.writestr(zipfile.ZipInfo(name, _FIXED_ZIP_TIME), data, zipfile.ZIP_DEFLATED)


# --- the answer key ---------------------------------------------------------------------


def _defect_entries(file_name: str, slots: list[Slot]) -> list[dict[str, Any]]:
    """Answer-key entries of a list's defective rows (row numbers as a spreadsheet shows)."""
    numbers = {id(slot): index + 2 for index, slot in enumerate(slots)}
    entries = []
    for slot in slots:
        if slot.kind is None:
            continue
        entry: dict[str, Any] = {
            "file": file_name, "row": numbers[id(slot)], "citizen_id": slot.citizen_id,
            "written_citizen_id": slot.row.citizen_id, "kind": slot.kind.value,
            "stage": _stage(slot), "expect": slot.expect, **slot.detail,
        }
        if slot.duplicate_of is not None:
            entry["first_row"] = numbers[id(slot.duplicate_of)]
        entries.append(entry)
    return entries


def _stage(slot: Slot) -> str:
    return EXPECTED[slot.kind][0].value if slot.kind is not None else ""


# --- the whole run ----------------------------------------------------------------------


def period_start(period: str) -> date:
    """Return the first day of a ``YYYY-MM`` period."""
    year, month = period.split("-")
    return date(int(year), int(month), 1)


def _cccd_issuer(rng: random.Random, taken: set[int]) -> Callable[[str, date, str], str]:
    """A function issuing CCCDs that are in neither the population nor any earlier list."""
    provinces = load_cccd_provinces()

    def issue(province: str, born: date, gender: str) -> str:
        prefix = (province if province in provinces else "001") + cccd_birth_digits(born, gender)
        while True:
            cccd = f"{prefix}{rng.randrange(1_000_000):06d}"
            if int(cccd) not in taken:
                taken.add(int(cccd))
                return cccd

    return issue


def write_lists(
    population: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    fmt: str = "csv",
    lang: str = "vi",
    period: str = "2026-11",
    rates: DefectRates | None = None,
) -> ListsSummary:
    """Write one beneficiary list per programme and the answer key ``answer_key.json``.

    Args:
        population: Population CSV from ``write_population_csv``.
        out_dir: Directory for the lists (created if needed).
        seed: Seed of the lists' RNGs (independent of the population seed).
        fmt: ``"csv"`` or ``"xlsx"``.
        lang: ``"vi"`` or ``"en"``: headers, words, date and amount style.
        period: ``YYYY-MM``; ages are taken on its first day; part of the file names.
        rates: Defect rates (defaults: 1 % of each kind).

    Returns:
        Row and defect counts per file and the answer key's path.
    """
    if fmt not in ("csv", "xlsx") or lang not in ("vi", "en"):
        raise ValueError("fmt must be csv or xlsx and lang vi or en")
    rates = rates or DefectRates()
    on = period_start(period)
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn = _draw(population, seeded_rng(seed), on)
    issue = _cccd_issuer(seeded_rng(f"{seed}:unknown"), drawn.ids)
    files: dict[str, Any] = {}
    for programme in Programme:
        rng = seeded_rng(f"{seed}:{programme.value}")
        factory = RowFactory(programme, seed, rng, on)
        clean = [factory.row(person) for person in drawn.by_programme[programme]]
        injector = DefectInjector(rng, on, programme, factory.row)
        slots = injector.inject(clean, rates, drawn.deceased, issue)
        name = f"{programme.value}_{period}.{fmt}"
        writer = _write_csv if fmt == "csv" else _write_xlsx
        writer(out_dir / name, lang, (slot.row for slot in slots))
        files[name] = _file_entry(programme, name, slots)
    key_path = out_dir / ANSWER_KEY_NAME
    key_path.write_text(_answer_key(files, seed, fmt, lang, period, rates), encoding="utf-8")
    return ListsSummary(
        directory=out_dir,
        files={name: entry["rows"] for name, entry in files.items()},
        defects={name: len(entry["defects"]) for name, entry in files.items()},
        answer_key=key_path,
    )


def _file_entry(programme: Programme, name: str, slots: list[Slot]) -> dict[str, Any]:
    defects = _defect_entries(name, slots)
    sources = sum(slot.is_duplicate_source for slot in slots)
    return {
        "programme": programme.value, "rows": len(slots),
        "clean_rows": len(slots) - len(defects) - sources,
        "duplicate_sources": sources, "defects": defects,
    }


def _answer_key(
    files: dict[str, Any], seed: int, fmt: str, lang: str, period: str, rates: DefectRates
) -> str:
    document = {
        "seed": seed, "format": fmt, "lang": lang, "period": period,
        "columns": list(LIST_COLUMNS),
        "rates": {kind: getattr(rates, kind) for kind in rates.__dataclass_fields__},
        "row_numbers": "spreadsheet rows: the header is row 1, the first data row is row 2",
        "clean_rows": "rows with no defect that are not the first occurrence of a duplicate",
        "files": files,
    }
    return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
