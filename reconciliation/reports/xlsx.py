"""Reports as XLSX workbooks (sheets Tổng hợp, Theo tỉnh, Theo xã, Ngoại lệ và từ chối,
Tệp chi trả).

Numbers stay numbers (counts and money with a thousands format, rates as percentages). openpyxl
is imported when a workbook is written, so that importing the reports does not load it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from reconciliation.metrics import CashlessReport
from reconciliation.reports.columns import (
    BATCH_COLUMNS,
    EXCEPTION_COLUMNS,
    FIGURE_COLUMNS,
    FILE_COLUMNS,
    ISSUE_COLUMNS,
    MONEY_FORMAT,
    RATE_FORMAT,
    Column,
    cashless_columns,
    cashless_rows,
    cell,
    display,
    flat_figures,
)

if TYPE_CHECKING:
    from openpyxl import Workbook


_FORMATS: Final = {"count": MONEY_FORMAT, "money": MONEY_FORMAT, "rate": RATE_FORMAT}


def add_sheet(workbook: Workbook, title: str, columns: Sequence[Column],
               rows: Sequence[dict[str, Any]]) -> None:
    """Add a sheet: a bold header row (Vietnamese, English in brackets), then ``rows``."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = workbook.create_sheet(title)
    sheet.append([c.header for c in columns])
    for row in rows:
        sheet.append([cell(display(c, row.get(c.key))) for c in columns])
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = min(max(12, len(column.header) // 2), 40)
        sheet.cell(row=1, column=index).font = Font(bold=True)
        if column.kind in _FORMATS:
            for (found,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                found.number_format = _FORMATS[column.kind]
    sheet.freeze_panes = "A2"


def _summary_rows(report: CashlessReport) -> list[dict[str, Any]]:
    """The total as label/value pairs, then the filters (the Tổng hợp sheet)."""
    total = flat_figures(report.total.to_dict())
    rows = [{"item": c.header, "value": total.get(c.key), "kind": c.kind}
            for c in FIGURE_COLUMNS]
    rows += [{"item": f"Bộ lọc ({name})", "value": str(value), "kind": "text"}
             for name, value in report.filters.to_dict().items()]
    return rows


def _write_summary(workbook: Workbook, report: CashlessReport) -> None:
    from openpyxl.styles import Font

    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Tổng hợp"
    sheet.append(["Chỉ tiêu (Figure)", "Giá trị (Value)"])
    for row in _summary_rows(report):
        sheet.append([cell(row["item"]), cell(row["value"])])
        if row["kind"] in _FORMATS:
            sheet.cell(row=sheet.max_row, column=2).number_format = _FORMATS[row["kind"]]
    sheet["A1"].font = sheet["B1"].font = Font(bold=True)
    sheet.column_dimensions["A"].width = 60
    sheet.column_dimensions["B"].width = 20


def _workbook_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


#: The sheet of open exceptions and the bank's rejections and returns.
ISSUES_SHEET: Final = "Ngoại lệ và từ chối"


def cashless_xlsx(summary: CashlessReport, by_commune: CashlessReport,
                  exceptions: Sequence[dict[str, Any]], files: Sequence[dict[str, Any]], *,
                  by_province: CashlessReport,
                  rejections: Sequence[dict[str, Any]]) -> bytes:
    """Return the auditors' workbook.

    Sheets: Tổng hợp (the totals), Theo tỉnh (by province), Theo xã (by commune, names
    beside codes), Ngoại lệ và từ chối (open exceptions, then the payments banks rejected or
    returned, with reason codes and their Vietnamese explanations) and Tệp chi trả (the
    payment files with their SHA-256).
    """
    from openpyxl import Workbook

    workbook = Workbook()
    _write_summary(workbook, summary)
    add_sheet(workbook, "Theo tỉnh", cashless_columns(by_province), cashless_rows(by_province))
    add_sheet(workbook, "Theo xã", cashless_columns(by_commune), cashless_rows(by_commune))
    add_sheet(workbook, ISSUES_SHEET, ISSUE_COLUMNS, [*exceptions, *rejections])
    add_sheet(workbook, "Tệp chi trả", FILE_COLUMNS, files)
    return _workbook_bytes(workbook)


def batch_xlsx(report: dict[str, Any]) -> bytes:
    """Return a batch's workbook: Tổng hợp (batch and figures), Ngoại lệ và từ chối (its open
    exceptions and its rejected or returned payments, with reasons), Tệp chi trả."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.worksheets[0])
    figures = flat_figures(report["figures"])
    add_sheet(workbook, "Tổng hợp", [*BATCH_COLUMNS, *FIGURE_COLUMNS],
               [{**figures, **report["batch"]}])
    add_sheet(workbook, ISSUES_SHEET, ISSUE_COLUMNS,
              [*report["exceptions"], *report.get("rejections", [])])
    add_sheet(workbook, "Tệp chi trả", FILE_COLUMNS, report["files"])
    return _workbook_bytes(workbook)


def exceptions_xlsx(exceptions: Sequence[dict[str, Any]]) -> bytes:
    """Return the exceptions queue as a one-sheet workbook (Ngoại lệ)."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.worksheets[0])
    add_sheet(workbook, "Ngoại lệ", EXCEPTION_COLUMNS, exceptions)
    return _workbook_bytes(workbook)
