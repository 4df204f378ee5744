"""The conversion worklist as files: XLSX for commune officers (one sheet per commune), CSV.

Headers are Vietnamese (the officers' language; English in brackets in CSV for the
department). openpyxl is imported when a workbook is written.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from itertools import groupby
from typing import Any, Final

from reconciliation.reports.columns import MONEY_FORMAT, Column, cell
from reconciliation.reports.tables import to_csv
from reconciliation.reports.xlsx import add_sheet


def _c(key: str, vi: str, en: str, kind: str = "text") -> Column:
    return Column(key, vi, en, kind)


WORKLIST_COLUMNS: Final = (
    _c("province", "Mã tỉnh", "Province code"), _c("province_name", "Tỉnh/thành phố", "Province"),
    _c("commune", "Mã xã", "Commune code"), _c("commune_name", "Xã/phường", "Commune"),
    _c("full_name", "Họ và tên", "Full name"), _c("date_of_birth", "Ngày sinh", "Born"),
    _c("citizen_id", "Số CCCD (4 số cuối)", "Citizen ID, last 4"),
    _c("phone", "Số điện thoại", "Phone"), _c("programme", "Chương trình", "Programme"),
    _c("channel", "Hình thức chi trả", "Channel"), _c("state", "Trạng thái", "State"),
    _c("amount", "Số tiền, đồng", "Amount, VND", "money"),
    _c("gap_vi", "Còn thiếu", "What is missing"),
    _c("reason_code", "Mã lý do của ngân hàng", "Bank reason code"),
    _c("reason_vi", "Giải thích", "Explanation"), _c("action_vi", "Việc cần làm", "Next step"),
    _c("beneficiary_id", "Mã người hưởng", "Beneficiary id", "count"),
)
#: Columns of a commune's sheet (its commune and province are in the sheet's title rows).
_SHEET_COLUMNS: Final = tuple(c for c in WORKLIST_COLUMNS
                              if c.key not in ("province", "province_name", "commune",
                                               "commune_name"))
_BAD_SHEET_CHARS: Final = re.compile(r"[\[\]:*?/\\]")


def worklist_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """Return the worklist as CSV (UTF-8 with BOM), one person a line."""
    return to_csv(WORKLIST_COLUMNS, rows)


def _sheet_title(commune: str, name: str, used: set[str]) -> str:
    title = _BAD_SHEET_CHARS.sub(" ", f"{commune} {name}")[:31].strip()
    while title in used:  # 31 characters may cut two names alike
        title = f"{title[:27]}~{len(used)}"
    used.add(title)
    return title


def worklist_xlsx(rows: Sequence[dict[str, Any]], period: str) -> bytes:
    """Return the worklist workbook: a summary sheet, then one sheet per commune.

    Each commune's sheet names the commune and province above a header row in Vietnamese.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    summary = workbook.active
    assert summary is not None
    summary.title = "Tổng hợp"
    summary.append([f"Danh sách vận động chi trả không dùng tiền mặt, kỳ {period}"])
    summary.append(["Mã tỉnh", "Tỉnh/thành phố", "Mã xã", "Xã/phường", "Số người"])
    used: set[str] = {"Tổng hợp"}
    for (province, commune), group in groupby(rows, key=lambda r: (r["province"],
                                                                   r["commune"])):
        people = list(group)
        first = people[0]
        summary.append([province, first["province_name"], commune, first["commune_name"],
                        len(people)])
        sheet = workbook.create_sheet(_sheet_title(commune, first["commune_name"], used))
        sheet.append([f"Xã/phường: {commune} - {first['commune_name']}"])
        sheet.append([f"Tỉnh/thành phố: {province} - {first['province_name']}"])
        sheet.append([f"Kỳ chi trả: {period}; số người: {len(people)}"])
        sheet.append([c.vi for c in _SHEET_COLUMNS])
        for person in people:
            sheet.append([cell(person.get(c.key)) for c in _SHEET_COLUMNS])
        for index, column in enumerate(_SHEET_COLUMNS, start=1):
            sheet.cell(row=4, column=index).font = Font(bold=True)
            if column.kind == "money":
                for (found,) in sheet.iter_rows(min_row=5, min_col=index, max_col=index):
                    found.number_format = MONEY_FORMAT
        sheet.freeze_panes = "A5"
    for row in (1, 2):
        for found in summary[row]:
            found.font = Font(bold=True)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def trend_rows(trend: dict[str, Any]) -> tuple[list[Column], list[dict[str, Any]]]:
    """Return the columns and rows of a worklist trend: a commune a row, a month a column."""
    columns = [*WORKLIST_COLUMNS[:4],
               *[_c(f"n_{m}", f"Số người {m}", f"People {m}", "count")
                 for m in trend["periods"]],
               _c("change", "Thay đổi", "Change, people", "count")]
    rows = [{**c, **{f"n_{m}": n for m, n in c["counts"].items()}} for c in trend["communes"]]
    return columns, rows


def trend_csv(trend: dict[str, Any]) -> bytes:
    """Return the worklist trend as CSV (UTF-8 with BOM)."""
    return to_csv(*trend_rows(trend))


def trend_xlsx(trend: dict[str, Any]) -> bytes:
    """Return the worklist trend as a one-sheet workbook (Xu hướng)."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.worksheets[0])
    add_sheet(workbook, "Xu hướng", *trend_rows(trend))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
