"""The post-office cash list: an XLSX with one sheet per commune for recipients to sign.

Written with openpyxl's write-only mode. Lines are grouped by commune in memory (cash
recipients are a small share of a province's batch); communes are sorted by code and lines keep
their input order. Text cells are stored as strings even when they start with ``=`` so a hostile
name can never become a formula.

XLSX is a zip of XML parts and both carry timestamps; the workbook's created/modified
properties and every zip entry's time are set from ``header.created_at``, so the same input
gives byte-identical files (with the same openpyxl and zlib).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from disburse.core.private_files import open_private
from disburse.payments.payment_files.model import FileHeader, PaymentLine, WriteResult

if TYPE_CHECKING:  # openpyxl loads when a list is written, not when the CLI starts
    from openpyxl.cell.cell import Cell
    from openpyxl.styles import Border, Font
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

#: "Mã giao dịch" is the EndToEndId: the post office writes it back on its paid/unpaid report.
COLUMN_TITLES = ("STT", "Họ và tên", "CCCD", "Số tiền", "Số điện thoại", "Mã giao dịch",
                 "Chữ ký người nhận")
TOTAL_LABEL = "Tổng cộng"
_WIDTHS = {"A": 6, "B": 32, "C": 16, "D": 16, "E": 16, "F": 24, "G": 28}
_MONEY_FORMAT = "#,##0"
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_CORE_TIMES = re.compile(rb"(<dcterms:(created|modified)\b[^>]*>)[^<]*(</dcterms:\2>)")


def write_cash_list(
    path: Path, header: FileHeader, lines: Iterable[PaymentLine], *, title: str
) -> WriteResult:
    """Write the cash list for ``lines`` to ``path``.

    Args:
        path: where to write the ``.xlsx`` file (replaced if it exists).
        header: batch id, execution date and creation time (used for the file's timestamps).
        lines: the cash payments; ``commune_code`` chooses the sheet.
        title: the heading on every sheet, e.g. ``Danh sách chi trả lương hưu tháng 11/2026``.

    Returns:
        The SHA-256 and size of the file, and the count and sum of the lines.
    """
    by_commune: dict[str, list[PaymentLine]] = defaultdict(list)
    for line in lines:
        by_commune[line.commune_code].append(line)
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    stamp = header.created_at.astimezone(UTC).replace(microsecond=0, tzinfo=None)
    workbook.properties.created = stamp
    workbook.properties.creator = "disburse"
    workbook.properties.title = title
    used: set[str] = set()
    for commune in sorted(by_commune):
        sheet = workbook.create_sheet(title=_sheet_name(commune, used))
        _fill_sheet(sheet, header, commune, by_commune[commune], title)
    raw = io.BytesIO()
    workbook.save(raw)
    data = _deterministic_zip(raw.getvalue(), stamp)
    with open_private(path) as out:  # names, masked IDs and phones: the owner's alone
        out.write(data)
    count = sum(len(group) for group in by_commune.values())
    total = sum(line.amount for group in by_commune.values() for line in group)
    return WriteResult(hashlib.sha256(data).hexdigest(), len(data), count, total)


def sheet_name_for(commune_code: str) -> str:
    """Return the sheet title for a commune: ``Xã <code>`` without characters Excel forbids."""
    return _SHEET_FORBIDDEN.sub("_", f"Xã {commune_code}")[:31]


def _sheet_name(commune_code: str, used: set[str]) -> str:
    """Return a unique sheet title of at most 31 characters for ``commune_code``."""
    name = sheet_name_for(commune_code)
    number = 2
    while name.casefold() in used:  # Excel compares sheet names case-insensitively
        suffix = f" ({number})"
        name = sheet_name_for(commune_code)[: 31 - len(suffix)] + suffix
        number += 1
    used.add(name.casefold())
    return name


def _fill_sheet(sheet: WriteOnlyWorksheet, header: FileHeader, commune: str,
                lines: list[PaymentLine], title: str) -> None:
    # The openpyxl stubs omit column_dimensions on write-only sheets; it exists at runtime.
    columns = cast(Any, sheet).column_dimensions
    for column, width in _WIDTHS.items():
        columns[column].width = width
    sheet.append([_text(sheet, title, bold=True)])
    sheet.append([_text(sheet, f"Xã/phường: {commune}"),
                  _text(sheet, f"Đợt chi trả: {header.batch_id}")])
    sheet.append([_text(sheet, "Ngày chi trả: "
                        + header.requested_execution_date.strftime("%d/%m/%Y"))])
    sheet.append([])
    sheet.append([_text(sheet, heading, bold=True, boxed=True) for heading in COLUMN_TITLES])
    for number, line in enumerate(lines, start=1):
        sheet.append([
            _number(sheet, number), _text(sheet, line.creditor_name, boxed=True),
            _text(sheet, line.citizen_id_masked or "", boxed=True),
            _number(sheet, line.amount, money=True), _text(sheet, line.phone or "", boxed=True),
            _text(sheet, line.end_to_end_id, boxed=True),
            _text(sheet, "", boxed=True),  # left blank for the recipient's signature
        ])
    total = sum(line.amount for line in lines)
    sheet.append([
        _text(sheet, "", boxed=True), _text(sheet, TOTAL_LABEL, bold=True, boxed=True),
        _text(sheet, f"{len(lines)} người", boxed=True), _number(sheet, total, money=True,
                                                                  bold=True),
        _text(sheet, "", boxed=True), _text(sheet, "", boxed=True), _text(sheet, "", boxed=True),
    ])


@cache
def _box_and_bold() -> tuple[Border, Font]:
    from openpyxl.styles import Border, Font, Side

    thin = Side(style="thin")
    return Border(left=thin, right=thin, top=thin, bottom=thin), Font(bold=True)


def _text(sheet: WriteOnlyWorksheet, value: str, *, bold: bool = False,
          boxed: bool = False) -> Cell:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment

    box, bold_font = _box_and_bold()
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # openpyxl would treat a leading "=" as a formula
    if bold:
        cell.font = bold_font
    if boxed:
        cell.border = box
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    return cell


def _number(sheet: WriteOnlyWorksheet, value: int, *, money: bool = False,
            bold: bool = False) -> Cell:
    from openpyxl.cell import WriteOnlyCell

    box, bold_font = _box_and_bold()
    cell = WriteOnlyCell(sheet, value=value)
    cell.border = box
    if money:
        cell.number_format = _MONEY_FORMAT
    if bold:
        cell.font = bold_font
    return cell


def _deterministic_zip(data: bytes, stamp: datetime) -> bytes:
    """Re-pack the XLSX with fixed entry times and core properties set to ``stamp``."""
    when = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            content = source.read(entry)
            if entry.filename == "docProps/core.xml":
                content = _CORE_TIMES.sub(lambda m: m.group(1) + when + m.group(3), content)
            info = zipfile.ZipInfo(entry.filename, date_time=_zip_time(stamp))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = entry.external_attr
            target.writestr(info, content)
    return out.getvalue()


def _zip_time(stamp: datetime) -> tuple[int, int, int, int, int, int]:
    # Zip times cannot go before 1980; a test clock at the epoch would otherwise fail.
    stamp = max(stamp, datetime(1980, 1, 1))
    return (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
