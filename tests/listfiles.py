"""Small beneficiary lists for tests: rows as dicts of canonical fields, written as CSV or XLSX.

A row is a ``dict`` keyed by the canonical field names of ``beneficiaries.columns``; values are
what the cell should hold (text for CSV; text, ``date`` or numbers for XLSX). ``list_row``
gives a valid pension row for a woman born in 1958 in Hà Nội, paid to a Vietcombank account;
tests override only what they are about.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from beneficiaries.columns import LIST_COLUMNS

#: Hà Nội (2025 codes): two communes of province 01.
PROVINCE = "01"
COMMUNE = "00004"
OTHER_COMMUNE = "00008"
#: Vietcombank's BIN.
BANK_BIN = "970436"

Row = dict[str, Any]


def cccd(serial: int, *, born: int = 1958, female: bool = True, province: str = "001") -> str:
    """Return a well-formed CCCD: province, century/gender digit, birth year, 6-digit serial.

    Args:
        serial: The last six digits (0-999999); distinct serials give distinct people.
        born: Birth year (1900-2099).
        female: Gender encoded in the 4th digit.
        province: Three-digit CCCD province code of the place of birth registration.
    """
    century_digit = 2 * ((born // 100) - 19) + (1 if female else 0)
    return f"{province}{century_digit}{born % 100:02d}{serial:06d}"


def account(serial: int) -> str:
    """Return a 13-digit bank account number, distinct for distinct serials."""
    return f"0011{serial:09d}"


def list_row(serial: int = 1, **overrides: Any) -> Row:
    """Return a valid pension list row for person ``serial`` with ``overrides`` applied.

    The default person is a woman born 1958-03-15, registered in province 01 commune 00004,
    paid 3,500,000 dong a month to her own Vietcombank account.
    """
    row: Row = {
        "citizen_id": cccd(serial),
        "full_name": "Nguyễn Thị Đào",
        "date_of_birth": "1958-03-15",
        "gender": "female",
        "province_code": PROVINCE,
        "commune_code": COMMUNE,
        "amount": "3500000",
        "coefficient": "",
        "channel": "bank",
        "bank_bin": BANK_BIN,
        "account_number": account(serial),
        "account_holder": "NGUYEN THI DAO",
        "phone": "",
    }
    row.update(overrides)
    return row


def header_row(lang: str = "en", fields: Sequence[str] | None = None) -> list[str]:
    """Return the template headers of ``fields`` (default: every column) in ``lang``."""
    index = {"en": 0, "vi": 1}[lang]
    return [LIST_COLUMNS[name][index] for name in (fields or list(LIST_COLUMNS))]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def csv_bytes(rows: Iterable[Row], *, lang: str = "en", fields: Sequence[str] | None = None,
              header: Sequence[str] | None = None, bom: bool = False,
              encoding: str = "utf-8") -> bytes:
    """Return a list as CSV bytes.

    Args:
        rows: The data rows.
        lang: Language of the template headers.
        fields: Which columns, in order (default: every column).
        header: Header cells to write instead of the template's (same order as ``fields``).
        bom: Start with a UTF-8 byte-order mark, as Excel's "CSV UTF-8" does.
        encoding: Text encoding of the file (e.g. ``cp1258`` for a legacy export).
    """
    names = list(fields or LIST_COLUMNS)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(list(header) if header is not None else header_row(lang, names))
    for row in rows:
        writer.writerow([_cell_text(row.get(name)) for name in names])
    return ("\ufeff" if bom else "").encode(encoding) + buffer.getvalue().encode(encoding)


def write_csv(path: Path, rows: Iterable[Row], *, lang: str = "en",
              fields: Sequence[str] | None = None, header: Sequence[str] | None = None,
              bom: bool = False, encoding: str = "utf-8") -> Path:
    """Write a CSV list to ``path`` and return the path (see ``csv_bytes``)."""
    path.write_bytes(csv_bytes(rows, lang=lang, fields=fields, header=header, bom=bom,
                               encoding=encoding))
    return path


def write_xlsx(path: Path, rows: Iterable[Row], *, lang: str = "en",
               fields: Sequence[str] | None = None) -> Path:
    """Write an XLSX list with typed cells and return the path.

    A ``date`` becomes an Excel date, an ``int`` a number, ``None`` or ``""`` an empty cell, and
    every ``str`` a text cell, even one starting with ``=`` (openpyxl would otherwise store it
    as a formula, which a reader with ``data_only`` sees as empty).
    """
    names = list(fields or LIST_COLUMNS)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(header_row(lang, names))
    for row in rows:
        sheet.append([None if row.get(name) in (None, "") else row.get(name) for name in names])
    for line in sheet.iter_rows(min_row=2):
        for cell in line:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    workbook.save(path)
    return path
