"""Bank return files as CSV or XLSX, read through a per-bank column mapping.

Every cell is read as a string: CSV with the ``csv`` module (which gives each row's line
number and notices ragged rows, unlike a DataFrame), XLSX with openpyxl in read-only mode
(which parses the sheet XML through defusedxml when that is installed, as it is here), after
the same zip, shared-strings, row and column checks as the list importers
(:mod:`beneficiaries.file_limits`),
converting each cell value explicitly - never through a float for money. Each bad row
gives a ParseError naming its row number and column; the good rows are still returned.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import BinaryIO, Literal

from beneficiaries.file_limits import FileLimitError, bounded_rows
from beneficiaries.xlsx_reader import UnreadableWorkbookError, open_workbook, workbook_errors
from reconciliation.parsers import DEFAULT_MAX_BYTES, gc_paused, open_input, read_all
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

FIELDS = ("end_to_end_id", "msg_id", "bank_reference", "account", "amount", "status",
          "reason_code", "reason_text", "booking_date")
_HEADER_SCAN_ROWS = 20
_XLSX_MAGIC = b"PK\x03\x04"

AmountStyle = Literal["plain", "vn_dots"]


@dataclass(frozen=True)
class TabularProfile:
    """How one bank lays out its CSV/XLSX return file.

    Attributes:
        columns: Record field (one of :data:`FIELDS`) -> column header in the file.
            ``status`` is required; the others are optional.
        status_map: The bank's status text -> status (compared trimmed, case-insensitive).
        date_format: ``strptime`` format of ``booking_date`` (ISO dates also accepted).
        delimiter: CSV field separator.
        encoding: CSV text encoding (``utf-8-sig`` accepts a BOM).
        amount_style: ``plain`` (1500000 / 1500000.00) or ``vn_dots`` (1.500.000).
        sheet: XLSX sheet name; the first sheet when None.
    """

    columns: dict[str, str]
    status_map: dict[str, ReturnStatus]
    date_format: str = "%d/%m/%Y"
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    amount_style: AmountStyle = "plain"
    sheet: str | None = None


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of a sheet or CSV as strings, with 1-based row numbers as the user sees them."""

    header: dict[str, int]
    header_row: int
    rows: list[tuple[int, list[str]]] = field(default_factory=list)


def normalize_label(text: str) -> str:
    """Normalise a header or status label for comparison: NFC, trimmed, single spaces, casefold.

    Args:
        text: A label as typed in the file (NFC or NFD Vietnamese alike).

    Returns:
        The comparable form.
    """
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def read_table(
    raw: bytes,
    *,
    filename: str,
    required: Iterable[str],
    delimiter: str = ",",
    encoding: str = "utf-8-sig",
    sheet: str | None = None,
) -> Table | ParseError:
    """Read a CSV or XLSX file into string rows, finding the header row by its labels.

    The header is the first of the top rows that holds every required label, so title
    lines above it (common in exported reports) are skipped.

    Args:
        raw: The file's bytes (XLSX is recognised by its zip signature).
        filename: The file's name, for error messages.
        required: Header labels that must all be present.
        delimiter: CSV separator.
        encoding: CSV encoding.
        sheet: XLSX sheet name, or None for the first sheet.

    Returns:
        The table, or a ParseError for an unreadable file or a missing header.
    """
    rows = (_xlsx_rows(raw, filename, sheet) if raw.startswith(_XLSX_MAGIC)
            else _csv_rows(raw, filename, delimiter, encoding))
    if isinstance(rows, ParseError):
        return rows
    wanted = {normalize_label(label) for label in required}
    for position, (number, cells) in enumerate(rows):
        if position >= _HEADER_SCAN_ROWS:
            break
        header = {normalize_label(cell): index for index, cell in enumerate(cells) if cell}
        if wanted <= header.keys():
            return Table(header, number, [r for r in rows[position + 1 :] if any(r[1])])
    missing = ", ".join(sorted(required))
    return ParseError(filename, "header", "", f"no header row with the columns: {missing}",
                      ParseErrorCode.MISSING_FIELD)


def _csv_rows(
    raw: bytes, filename: str, delimiter: str, encoding: str
) -> list[tuple[int, list[str]]] | ParseError:
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        return ParseError(filename, "file", "", f"text is not {encoding}: {exc}",
                          ParseErrorCode.ENCODING)
    if "\x00" in text:
        return ParseError(filename, "file", "", "NUL byte in a text file (UTF-16?)",
                          ParseErrorCode.ENCODING)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            rows.append((reader.line_num, [cell.strip() for cell in cells]))
    except csv.Error as exc:
        return ParseError(filename, f"row {reader.line_num}", "", f"bad CSV: {exc}",
                          ParseErrorCode.MALFORMED)
    return rows


def _xlsx_rows(
    raw: bytes, filename: str, sheet: str | None
) -> list[tuple[int, list[str]]] | ParseError:
    # The list importers' guard: zip members, ratio, shared strings, rows and columns are
    # checked before (and while) openpyxl reads, so a hostile workbook is refused, not loaded.
    try:
        with workbook_errors():
            book = open_workbook(io.BytesIO(raw))
            try:
                worksheet = book[sheet] if sheet else book.worksheets[0]
                worksheet.reset_dimensions()  # a declared size may lie: read the rows there
                rows = bounded_rows(worksheet.iter_rows(values_only=True))
                return [(number, [cell_text(value) for value in values])
                        for number, values in enumerate(rows, start=1)]
            finally:
                book.close()
    except FileLimitError as exc:
        return ParseError(filename, "file", "", f"XLSX refused: {exc}",
                          ParseErrorCode.OVERSIZED)
    except UnreadableWorkbookError as exc:
        return ParseError(filename, "file", "", f"not a readable XLSX workbook: {exc}",
                          ParseErrorCode.MALFORMED)


def cell_text(value: object) -> str:
    """Turn an openpyxl cell value into the string a person sees, never via a float for money.

    Args:
        value: The cell value (str, int, float, bool, datetime, date, time or None).

    Returns:
        Its text; whole-number floats lose their ``.0``; dates become ISO ``YYYY-MM-DD``.
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float):
        # Excel stores every number as a double; whole values are exact integers.
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def parse_date_text(text: str, date_format: str) -> date:
    """Parse a date in the given ``strptime`` format, or ISO ``YYYY-MM-DD``.

    Args:
        text: The date as written.
        date_format: The expected format, e.g. ``%d/%m/%Y``.

    Returns:
        The date.

    Raises:
        ValueError: In neither form.
    """
    try:
        return datetime.strptime(text, date_format).date()  # a calendar date, no zone
    except ValueError:
        return date.fromisoformat(text)


def parse_bank_table(
    data: bytes | BinaryIO,
    *,
    filename: str,
    profile: TabularProfile,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ParseResult:
    """Parse a bank's CSV or XLSX return file with its column mapping.

    Args:
        data: The file's bytes or a binary stream.
        filename: The file's name, for error messages.
        profile: The bank's layout.
        max_bytes: The largest accepted size.

    Returns:
        ``(records, errors)``: one error per bad row, good rows kept; never raises.
    """
    unknown = sorted(set(profile.columns) - set(FIELDS))
    if "status" not in profile.columns or unknown:
        return [], [ParseError(filename, "profile", ",".join(unknown) or "status",
                               "profile must map 'status' and only known fields",
                               ParseErrorCode.UNSUPPORTED)]
    source = open_input(data, filename=filename, max_bytes=max_bytes)
    if isinstance(source, ParseError):
        return [], [source]
    raw = read_all(source)
    table = read_table(raw, filename=filename, required=profile.columns.values(),
                       delimiter=profile.delimiter, encoding=profile.encoding,
                       sheet=profile.sheet)
    if isinstance(table, ParseError):
        return [], [table]
    source_format = SourceFormat.BANK_XLSX if raw.startswith(_XLSX_MAGIC) else (
        SourceFormat.BANK_CSV)
    with gc_paused():
        return _rows_to_records(table, profile, filename, source.sha256, source_format)


parse_bank_csv = parse_bank_table
parse_bank_xlsx = parse_bank_table


def _rows_to_records(
    table: Table, profile: TabularProfile, filename: str, sha256: str,
    source_format: SourceFormat,
) -> ParseResult:
    columns = {name: table.header[normalize_label(label)]
               for name, label in profile.columns.items()}
    statuses = {normalize_label(key): value for key, value in profile.status_map.items()}
    records: list[ReturnRecord] = []
    errors: list[ParseError] = []
    for index, (number, cells) in enumerate(table.rows):
        values = {name: cells[col] if col < len(cells) else "" for name, col in columns.items()}
        record = _row_record(values, statuses, profile, sha256, source_format, index)
        if isinstance(record, tuple):
            name, reason, code = record
            errors.append(ParseError(filename, f"row {number}", profile.columns[name], reason,
                                     code))
        else:
            records.append(record)
    return records, errors


def _row_record(
    values: Mapping[str, str],
    statuses: Mapping[str, ReturnStatus],
    profile: TabularProfile,
    sha256: str,
    source_format: SourceFormat,
    index: int,
) -> ReturnRecord | tuple[str, str, ParseErrorCode]:
    status = statuses.get(normalize_label(values["status"]))
    if status is None:
        return "status", f"unknown status {values['status']!r}", ParseErrorCode.UNKNOWN_STATUS
    try:
        amount = parse_dong(values["amount"], style=profile.amount_style) if values.get(
            "amount") else None
    except AmountError as exc:
        code = ParseErrorCode.FRACTIONAL_AMOUNT if exc.fractional else ParseErrorCode.INVALID_VALUE
        return "amount", str(exc), code
    try:
        booked = values.get("booking_date")
        booking_date = parse_date_text(booked, profile.date_format) if booked else None
    except ValueError:
        return "booking_date", f"not a date in {profile.date_format}: {booked!r}", (
            ParseErrorCode.INVALID_VALUE)
    return ReturnRecord(
        source_format=source_format,
        file_sha256=sha256,
        msg_id=values.get("msg_id") or None,
        end_to_end_id=values.get("end_to_end_id") or None,
        bank_reference=values.get("bank_reference") or None,
        account=values.get("account") or None,
        amount=amount,
        status=status,
        reason_code=values.get("reason_code") or None,
        reason_text=values.get("reason_text") or None,
        booking_date=booking_date,
        record_index=index,
    )


def iter_cells(table: Table, labels: Mapping[str, str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield each data row as ``{field: text}`` for the given header labels.

    Args:
        table: A table from :func:`read_table`.
        labels: Field name -> header label (labels missing from the header give ``""``).

    Yields:
        ``(row number, values)`` per non-blank row.
    """
    columns = {name: table.header.get(normalize_label(label)) for name, label in labels.items()}
    for number, cells in table.rows:
        yield number, {name: cells[col] if col is not None and col < len(cells) else ""
                       for name, col in columns.items()}
