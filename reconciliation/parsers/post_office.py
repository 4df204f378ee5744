"""The post office's paid / unpaid report for cash payments (XLSX or CSV, Vietnamese headers).

Columns (matched after NFC normalisation, case-insensitive, title rows above skipped):
"Mã giao dịch" (the EndToEndId), "Họ và tên", "Số tiền", "Trạng thái", "Ngày chi trả",
and optionally "Lý do" (or "Ghi chú"). Status:

* "Đã chi trả" -> ``settled``;
* "Chưa chi trả" -> by the reason (from "Lý do", or written after the status as
  "Chưa chi trả - Vắng mặt"): death -> ``rejected`` MD07; refusal or wrong person ->
  ``rejected``; absent ("Vắng mặt"), another or no reason -> ``pending`` (the counter may
  still pay later in the period), the text kept for the operator.

Amounts may be written 1.500.000 or 1500000; dates dd/mm/yyyy, ISO or as Excel dates.
"""

from __future__ import annotations

import unicodedata
from typing import BinaryIO

from reconciliation.parsers import DEFAULT_MAX_BYTES, gc_paused, open_input, read_all
from reconciliation.parsers.tabular import (
    Table,
    iter_cells,
    normalize_label,
    parse_date_text,
    read_table,
)
from reconciliation.records import (
    AmountError,
    ParseError,
    ParseErrorCode,
    ParseResult,
    ReturnRecord,
    ReturnStatus,
    SourceFormat,
    parse_dong,
)

HEADERS = {
    "end_to_end_id": "Mã giao dịch",
    "name": "Họ và tên",
    "amount": "Số tiền",
    "status": "Trạng thái",
    "paid_date": "Ngày chi trả",
}
_OPTIONAL = {"reason": "Lý do", "note": "Ghi chú"}
_PAID = normalize_label("Đã chi trả")
_UNPAID = normalize_label("Chưa chi trả")
# Reason text (normalised) -> (status, ISO reason code).
UNPAID_REASONS: dict[str, tuple[ReturnStatus, str | None]] = {
    normalize_label(text): outcome
    for text, outcome in (
        ("Đã chết", (ReturnStatus.REJECTED, "MD07")),
        ("Đã mất", (ReturnStatus.REJECTED, "MD07")),
        ("Chết", (ReturnStatus.REJECTED, "MD07")),
        ("Qua đời", (ReturnStatus.REJECTED, "MD07")),
        ("Từ chối nhận", (ReturnStatus.REJECTED, None)),
        ("Không đúng người", (ReturnStatus.REJECTED, "BE01")),
        ("Sai thông tin", (ReturnStatus.REJECTED, "BE01")),
        ("Vắng mặt", (ReturnStatus.PENDING, None)),
    )
}
_DATE_FORMAT = "%d/%m/%Y"


def parse_post_office(
    data: bytes | BinaryIO, *, filename: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> ParseResult:
    """Parse a post-office paid/unpaid report.

    Args:
        data: The file's bytes (XLSX or UTF-8 CSV) or a binary stream.
        filename: The file's name, for error messages.
        max_bytes: The largest accepted size.

    Returns:
        ``(records, errors)``: one error per bad row, good rows kept; never raises.
    """
    source = open_input(data, filename=filename, max_bytes=max_bytes)
    if isinstance(source, ParseError):
        return [], [source]
    table = read_table(read_all(source), filename=filename, required=HEADERS.values())
    if isinstance(table, ParseError):
        return [], [table]
    with gc_paused():
        return _records(table, filename, source.sha256)


def _records(table: Table, filename: str, sha256: str) -> ParseResult:
    records: list[ReturnRecord] = []
    errors: list[ParseError] = []
    for index, (number, values) in enumerate(iter_cells(table, HEADERS | _OPTIONAL)):
        record = _record(values, sha256, index)
        if isinstance(record, tuple):
            name, reason, code = record
            label = (HEADERS | _OPTIONAL)[name]
            errors.append(ParseError(filename, f"row {number}", label, reason, code))
        else:
            records.append(record)
    return records, errors


def unpaid_outcome(status_text: str, reason_text: str) -> tuple[ReturnStatus, str | None, str]:
    """Decide what an unpaid line means from its status and reason texts.

    Args:
        status_text: The "Trạng thái" cell (may carry the reason after the status).
        reason_text: The "Lý do" / "Ghi chú" cell, possibly empty.

    Returns:
        ``(status, ISO reason code or None, the reason as written)``.
    """
    reason = reason_text.strip()
    if not reason:
        compact = unicodedata.normalize("NFC", " ".join(status_text.split()))
        rest = compact[len("Chưa chi trả"):]
        reason = rest.strip(" -:()–")
    status, code = UNPAID_REASONS.get(normalize_label(reason), (ReturnStatus.PENDING, None))
    return status, code, reason


def _record(
    values: dict[str, str], sha256: str, index: int
) -> ReturnRecord | tuple[str, str, ParseErrorCode]:
    status_label = normalize_label(values["status"])
    if status_label == _PAID:
        status, code, reason = ReturnStatus.SETTLED, None, ""
    elif status_label.startswith(_UNPAID):
        status, code, reason = unpaid_outcome(values["status"],
                                              values["reason"] or values["note"])
    else:
        return "status", f"unknown status {values['status']!r}", ParseErrorCode.UNKNOWN_STATUS
    if not values["end_to_end_id"]:
        return "end_to_end_id", "missing transaction code", ParseErrorCode.MISSING_FIELD
    try:
        amount = parse_dong(values["amount"], style="vn_dots")
    except AmountError as exc:
        error = ParseErrorCode.FRACTIONAL_AMOUNT if exc.fractional else ParseErrorCode.INVALID_VALUE
        return "amount", str(exc), error
    try:
        paid = values["paid_date"]
        paid_date = parse_date_text(paid, _DATE_FORMAT) if paid else None
    except ValueError:
        return "paid_date", f"not a dd/mm/yyyy date: {paid!r}", ParseErrorCode.INVALID_VALUE
    return ReturnRecord(
        source_format=SourceFormat.POST_OFFICE,
        file_sha256=sha256,
        msg_id=None,
        end_to_end_id=values["end_to_end_id"],
        bank_reference=None,
        account=None,
        amount=amount,
        status=status,
        reason_code=code,
        reason_text=reason or None,
        booking_date=paid_date,
        record_index=index,
    )
