"""Checking a written payment file back: its signature, its manifest and its totals.

``verify_payment_file`` is what the operator (``disburse batch verify-file``) and the API run on
a file before it is handed to a bank, or after it came back: a detached signature over the
bytes, the manifest's digest and size, and the totals the file announces against its lines.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from disburse.core import signing
from disburse.payments.payment_files import manifest as file_manifest
from disburse.payments.payment_files.cash_list import COLUMN_TITLES, TOTAL_LABEL

Problem = file_manifest.VerificationProblem
Code = file_manifest.VerificationCode


def verify_payment_file(path: Path, public_key: signing.PublicKey) -> list[Problem]:
    """Check a payment file's signature, its manifest and its totals.

    pain.001 totals are checked by ``file_manifest.verify_file``; for the CSV layout the rows are
    counted and summed against the trailer and the manifest, for the cash list each commune
    sheet against its total line and all sheets against the manifest.

    Returns:
        Every problem found; empty when the file is intact and consistent.
    """
    problems = file_manifest.verify_file(path, public_key)
    if not path.is_file():
        return problems
    manifest = _manifest(path)
    if manifest is None or any(p.code is Code.FILE_UNPARSEABLE for p in problems):
        return problems
    checker = _TOTALS_CHECKERS.get(path.suffix.lower())
    if checker is None:
        return problems
    try:
        found = checker(path)
    except Exception as error:  # a damaged file must give a problem, never a traceback
        return [*problems, Problem(Code.FILE_UNPARSEABLE, "file", f"cannot read: {error}")]
    return problems + _compare_totals(found, manifest)


def _manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(signing.manifest_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class _Totals:
    counted: int = 0
    summed: int = 0
    problems: list[Problem] = field(default_factory=list)


def _compare_totals(found: _Totals, manifest: dict[str, Any]) -> list[Problem]:
    problems = list(found.problems)
    for name, value in (("nb_of_txs", found.counted), ("ctrl_sum", found.summed)):
        if manifest.get(name) != value:
            problems.append(Problem(Code.MANIFEST_TOTALS_MISMATCH, name,
                                    f"manifest {name} {manifest.get(name)} but the file's "
                                    f"lines give {value}"))
    return problems


def _csv_totals(path: Path) -> _Totals:
    text = path.read_text(encoding="utf-8")
    rows = text.splitlines()
    trailer = rows[-1] if rows else ""
    if not trailer.startswith("TOTAL") or len(trailer) < 6:
        return _Totals(problems=[Problem(Code.FILE_UNPARSEABLE, "trailer",
                                         "the CSV has no TOTAL trailer line")])
    parsed = list(csv.reader(io.StringIO(text), delimiter=trailer[5]))
    amount = parsed[0].index("amount")
    found = _Totals()
    for row in parsed[1:-1]:
        found.counted += 1
        found.summed += int(row[amount])
    announced = (int(parsed[-1][1]), int(parsed[-1][2]))
    if announced != (found.counted, found.summed):
        found.problems.append(Problem(Code.FILE_TOTALS_MISMATCH, "TOTAL",
                                      f"trailer announces {announced[0]} rows, {announced[1]} "
                                      f"dong; rows give {found.counted}, {found.summed}"))
    return found


def _xlsx_totals(path: Path) -> _Totals:
    from openpyxl import load_workbook

    found = _Totals()
    workbook = load_workbook(path, read_only=True)
    try:
        for sheet in workbook.worksheets:
            _sheet_totals(sheet.title, list(sheet.iter_rows(values_only=True)), found)
    finally:
        workbook.close()
    return found


def _sheet_totals(title: str, rows: list[tuple[Any, ...]], found: _Totals) -> None:
    start = rows.index(COLUMN_TITLES) + 1
    count = total = 0
    for row in rows[start:]:
        if row[1] == TOTAL_LABEL:
            if (row[2], row[3]) != (f"{count} người", total):
                found.problems.append(Problem(
                    Code.FILE_TOTALS_MISMATCH, title,
                    f"sheet {title} announces {row[2]}, {row[3]} dong; its rows give "
                    f"{count} người, {total} dong"))
            break
        count += 1
        total += int(row[3])
    found.counted += count
    found.summed += total


_TOTALS_CHECKERS: Final[dict[str, Callable[[Path], _Totals]]] = {
    ".csv": _csv_totals, ".xlsx": _xlsx_totals,
}

__all__ = ["verify_payment_file"]
