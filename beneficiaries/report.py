"""The import report: counts, row findings (file, row, column, code, messages) and exports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from beneficiaries.columns import LIST_COLUMNS
from beneficiaries.importers import Cell, RawRow
from beneficiaries.rules import RuleError
from disburse.core.cells import neutralize_cell
from disburse.core.sealed_files import SealedWriter

#: Rejected rows kept for the XLSX export; beyond this the JSON report still lists them all.
MAX_REJECTED_ROWS_IN_XLSX = 100_000


@dataclass(frozen=True, slots=True)
class RowFinding:
    """A finding about one cell of one row, as staff will read it."""

    file: str
    row: int
    column: str
    code: str
    severity: str
    message_en: str
    message_vi: str

    @classmethod
    def of(cls, file: str, row: int, headers: dict[str, str], error: RuleError) -> RowFinding:
        """Build a finding from a rule error, naming the column as written in the file."""
        column = headers.get(error.field) or LIST_COLUMNS.get(error.field, (error.field,))[0]
        return cls(file, row, column, error.code, error.severity.value, error.message_en,
                   error.message_vi)


@dataclass
class ImportCounts:
    """How many rows went where."""

    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    flagged: int = 0
    absent: int = 0
    ended: int = 0


@dataclass
class ImportReport:
    """What an import did, for the CLI, the API and the stored report."""

    import_id: int | None
    programme: str
    file_name: str
    file_sha256: str
    outcome: str
    mode: str
    message: str = ""
    counts: ImportCounts = field(default_factory=ImportCounts)
    errors: list[RowFinding] = field(default_factory=list)
    flags: list[RowFinding] = field(default_factory=list)
    absent: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    previous_import_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-ready data."""
        return asdict(self)


def _cell_text(cell: Cell) -> str:
    if cell is None:
        return ""
    return cell.isoformat() if not isinstance(cell, str) else cell


def write_rejected_xlsx(out: Path | BinaryIO | SealedWriter, headers: dict[str, str],
                        rows: list[RawRow], findings: dict[int, list[RowFinding]]) -> None:
    """Write the rejected rows with an error column; hostile cells are neutralised.

    ``out`` is a path or a binary stream (a ``SealedWriter`` keeps the workbook encrypted
    on disk: the import service stores it that way).
    """
    from openpyxl import Workbook  # loaded when a report is written, not at start-up

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Rejected rows - Dòng bị từ chối")
    fields = list(headers)
    sheet.append(["Row / Dòng", *[headers[f] for f in fields], "Errors / Lỗi"])
    for raw in rows[:MAX_REJECTED_ROWS_IN_XLSX]:
        problems = "; ".join(f"{f.column}: {f.message_vi} ({f.code})"
                             for f in findings.get(raw.row, []))
        cells = [neutralize_cell(_cell_text(raw.cells.get(f))) for f in fields]
        sheet.append([raw.row, *cells, neutralize_cell(problems)])
    workbook.save(out)  # a path or any writable binary stream
