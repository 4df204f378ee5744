"""Downloadable list templates (CSV and XLSX, English or Vietnamese headers)."""

from __future__ import annotations

import csv
import io

from beneficiaries.columns import LIST_COLUMNS, OPTIONAL_COLUMNS, headers

_EXAMPLE = {
    "vi": ["001089012345", "Nguyễn Thị Đào", "15/03/1958", "Nữ", "01", "00004", "3.500.000",
           "", "Chuyển khoản", "970436", "0011004123456", "NGUYEN THI DAO", "0912345678"],
    "en": ["001089012345", "Nguyen Thi Dao", "1958-03-15", "female", "01", "00004",
           "3,500,000", "", "bank", "970436", "0011004123456", "NGUYEN THI DAO", "0912345678"],
}


def template_csv(lang: str) -> bytes:
    """Return the CSV template (UTF-8 with BOM, as Excel expects) with one example row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers(lang))
    writer.writerow(_EXAMPLE[lang])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def template_xlsx(lang: str) -> bytes:
    """Return the XLSX template: text-formatted ID/account columns, required headers bold."""
    from openpyxl import Workbook  # loaded when a template is asked for, not at start-up
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Danh sách" if lang == "vi" else "List"
    sheet.append(headers(lang))
    sheet.append(_EXAMPLE[lang])
    for index, name in enumerate(LIST_COLUMNS, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=name not in OPTIONAL_COLUMNS)
        for row in range(2, 1002):  # keep IDs, accounts and phones as text: no lost zeros
            sheet.cell(row=row, column=index).number_format = "@"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
