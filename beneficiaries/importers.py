"""Read beneficiary lists (CSV or XLSX) into raw rows keyed by canonical field names.

Reading is streamed in chunks. Everything is read as text (pandas with ``dtype=str`` for CSV,
openpyxl cell values for XLSX, where a real Excel date stays a date and a number stays visibly
a number so that a lost leading zero can be reported). Problems with the file as a whole
(unreadable, wrong encoding, missing columns) raise ``ListFileError``; row problems are left to
validation.

Before any reader sees a file, :mod:`beneficiaries.file_limits` checks it against
:class:`~beneficiaries.file_limits.SheetLimits` (rows, columns, shared strings, decompressed
size, line and field length), so a hostile file is refused with a message naming the limit
instead of swelling the process. One import reads a file up to three times (layout, duplicate
pre-scan, validation worker); the check runs once per file version.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from beneficiaries.columns import LIST_COLUMNS, OPTIONAL_COLUMNS
from beneficiaries.file_limits import (
    DEFAULT_LIMITS,
    FileLimitError,
    SheetLimits,
    bounded_rows,
    check_csv,
    check_xlsx,
)
from beneficiaries.xlsx_reader import UnreadableWorkbookError, open_workbook, safe_reason
from disburse.core.errors import ValidationFailed

Cell = str | date | datetime | None
#: The first data row as a spreadsheet user counts it (the header is row 1).
FIRST_DATA_ROW = 2


class ListFileError(ValidationFailed):
    """The file cannot be read as a beneficiary list at all; nothing from it is used."""

    code = "list_file_unreadable"
    title = "List file rejected"
    title_vi = "Tệp danh sách bị từ chối"


@dataclass(frozen=True, slots=True)
class RawRow:
    """One data row: its spreadsheet row number and its cells by canonical field."""

    row: int
    cells: dict[str, Cell]


@dataclass
class ListLayout:
    """How the file's header maps to canonical fields."""

    lang: str
    headers: dict[str, str]  # canonical field -> header as written in the file
    positions: dict[str, int]  # canonical field -> 0-based column index
    ignored: list[str] = field(default_factory=list)


def _header_key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", str(text)).casefold().split())


_HEADER_TO_FIELD: dict[str, tuple[str, str]] = {
    _header_key(header): (name, lang)
    for name, pair in LIST_COLUMNS.items()
    for header, lang in zip(pair, ("en", "vi"), strict=True)
} | {_header_key(name): (name, "en") for name in LIST_COLUMNS}


def map_headers(file_name: str, header_row: list[Any]) -> ListLayout:
    """Map a header row to canonical fields (English or Vietnamese template).

    Raises:
        ListFileError: duplicate or missing required columns.
    """
    headers: dict[str, str] = {}
    positions: dict[str, int] = {}
    langs: list[str] = []
    ignored: list[str] = []
    for index, raw in enumerate(header_row):
        text = "" if raw is None else str(raw).lstrip("\ufeff")
        found = _HEADER_TO_FIELD.get(_header_key(text))
        if found is None:
            if text.strip():
                ignored.append(text)
            continue
        name, lang = found
        if name in headers:
            raise ListFileError(f"{file_name}: row 1: column {text!r} appears twice")
        headers[name], positions[name] = text, index
        langs.append(lang)
    missing = [LIST_COLUMNS[n][0] + " / " + LIST_COLUMNS[n][1]
               for n in LIST_COLUMNS if n not in headers and n not in OPTIONAL_COLUMNS]
    if missing:
        raise ListFileError(
            f"{file_name}: row 1: missing required column(s): {'; '.join(missing)}. "
            "Download the template with `disburse beneficiaries template`."
        )
    lang = "vi" if langs.count("vi") >= langs.count("en") else "en"
    return ListLayout(lang, headers, positions, ignored)


def check_file_size(path: Path, max_bytes: int, *, display_name: str | None = None) -> None:
    """Refuse a list file larger than the upload limit, before anything reads it.

    Raises:
        ListFileError: the file is over ``max_bytes``.
    """
    size = path.stat().st_size
    if size > max_bytes:
        raise ListFileError(
            f"{display_name or path.name}: the file is {size / 2**20:,.1f} MiB; the upload "
            f"limit is {max_bytes / 2**20:,.0f} MiB (setting DISBURSE_MAX_UPLOAD_MB)")


def read_list(path: Path, *, chunk_size: int = 20_000, display_name: str | None = None,
              only: frozenset[str] | None = None, limits: SheetLimits = DEFAULT_LIMITS
              ) -> tuple[ListLayout, Iterator[list[RawRow]]]:
    """Open a list and return its layout and an iterator of row chunks.

    ``only`` limits the cells read to those fields (a cheaper pass, e.g. for duplicates).

    Raises:
        ListFileError: the file is not a readable CSV/XLSX list, or exceeds ``limits``
            (checked before any row; the rows and columns again while reading).
    """
    name = display_name or path.name
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm"}:
        return _read_xlsx(path, name, chunk_size, only, limits)
    if suffix in {".csv", ".txt"}:
        return _read_csv(path, name, chunk_size, only, limits)
    raise ListFileError(f"{name}: unsupported file type {suffix or '(none)'}; use .csv or .xlsx")


#: Files (path, inode, size, mtime, limits) that passed the check: the pre-scan and the forked
#: validation worker read the same file again and need not check it again.
_CHECKED: dict[tuple[str, int, int, int, SheetLimits], None] = {}
_CHECKED_KEEP = 16


def _check_once(path: Path, name: str, limits: SheetLimits, check: Callable[[], object]) -> None:
    """Run ``check`` unless this version of the file passed it already; refusals name ``name``."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, limits)
    if key in _CHECKED:
        return
    try:
        check()
    except FileLimitError as refusal:
        raise ListFileError(f"{name}: file refused: {refusal}") from None
    if len(_CHECKED) >= _CHECKED_KEEP:
        _CHECKED.pop(next(iter(_CHECKED)))
    _CHECKED[key] = None


def _sniff_delimiter(path: Path, name: str) -> str:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except UnicodeDecodeError:
        raise ListFileError(
            f"{name}: row 1: the file is not UTF-8 text; save it as 'CSV UTF-8' and retry"
        ) from None
    if not first.strip():
        raise ListFileError(f"{name}: row 1: the file is empty")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d])


def _selected(layout: ListLayout, only: frozenset[str] | None) -> dict[str, int]:
    if only is None:
        return layout.positions
    return {f: i for f, i in layout.positions.items() if f in only}


def _read_csv(path: Path, name: str, chunk_size: int, only: frozenset[str] | None,
              limits: SheetLimits) -> tuple[ListLayout, Iterator[list[RawRow]]]:
    delimiter = _sniff_delimiter(path, name)
    try:
        _check_once(path, name, limits,
                    lambda: check_csv(path, delimiter=delimiter, limits=limits))
    except UnicodeDecodeError as error:
        raise ListFileError(
            f"{name}: the file is not UTF-8 text (byte {error.start}); save it as 'CSV UTF-8'"
        ) from None
    except csv.Error as error:
        raise ListFileError(f"{name}: malformed CSV: {safe_reason(error)}") from None
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle, delimiter=delimiter))
    layout = map_headers(name, header)
    return layout, _csv_chunks(path, name, delimiter, _selected(layout, only), chunk_size)


def _csv_chunks(path: Path, name: str, delimiter: str, positions: dict[str, int],
                chunk_size: int) -> Iterator[list[RawRow]]:
    import pandas as pd  # loaded by the import that reads a CSV, not by every CLI start

    reader = pd.read_csv(
        path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig",
        sep=delimiter, header=0, chunksize=chunk_size, skip_blank_lines=True,
        usecols=sorted(positions.values()),
    )
    fields = sorted(positions, key=lambda f: positions[f])
    try:
        for frame in reader:
            # columns come in file order, which is `fields` order; to_numpy(object).tolist()
            # converts in C where itertuples would box cell by cell
            values = frame.to_numpy(dtype=object).tolist()
            yield [RawRow(int(idx) + FIRST_DATA_ROW, dict(zip(fields, row, strict=True)))
                   for idx, row in zip(frame.index.tolist(), values, strict=True)]
    except UnicodeDecodeError as error:
        raise ListFileError(
            f"{name}: the file is not UTF-8 text (byte {error.start}); save it as 'CSV UTF-8'"
        ) from None
    except (pd.errors.ParserError, ValueError) as error:
        raise ListFileError(f"{name}: malformed CSV: {safe_reason(error)}") from None


def _xlsx_cell(value: Any) -> Cell:
    if value is None or isinstance(value, str | date):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _read_xlsx(path: Path, name: str, chunk_size: int, only: frozenset[str] | None,
               limits: SheetLimits) -> tuple[ListLayout, Iterator[list[RawRow]]]:
    _check_once(path, name, limits, lambda: _check_xlsx(path, name, limits))
    # the header is read and the workbook closed at once; the rows reopen it when (and only
    # when) they are iterated, so an iterator kept but unused holds no shared-strings table
    with _xlsx_rows(path, name, limits) as rows:
        header = next(rows, None)
    if header is None:
        raise ListFileError(f"{name}: row 1: the first sheet is empty")
    layout = map_headers(name, list(header))
    return layout, _xlsx_chunks(path, name, limits, _selected(layout, only), chunk_size)


def _check_xlsx(path: Path, name: str, limits: SheetLimits) -> None:
    try:
        check_xlsx(path, limits)
    except FileLimitError:
        raise
    except Exception as error:  # zipfile and the XML parser raise many types for a bad file
        raise ListFileError(f"{name}: not a readable .xlsx workbook "
                            f"({safe_reason(error, path)})") from None


@contextmanager
def _xlsx_rows(path: Path, name: str, limits: SheetLimits) -> Iterator[Iterator[tuple[Any, ...]]]:
    """The first sheet's rows within the limits; every reading error becomes ListFileError."""
    try:
        workbook = open_workbook(path, limits=limits, checked=True)
    except (UnreadableWorkbookError, FileLimitError) as error:
        raise _xlsx_error(name, error) from None
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # a declared size may lie: read the rows that are there
        yield _guarded_rows(name, bounded_rows(sheet.iter_rows(values_only=True), limits))
    finally:
        workbook.close()


def _guarded_rows(name: str, rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    try:
        yield from rows
    except FileLimitError as error:
        raise _xlsx_error(name, error) from None
    except Exception as error:  # a damaged sheet fails part-way with any of many types
        raise ListFileError(f"{name}: not a readable .xlsx workbook "
                            f"({safe_reason(error)})") from None


def _xlsx_error(name: str, error: Exception) -> ListFileError:
    if isinstance(error, FileLimitError):
        return ListFileError(f"{name}: file refused: {error}")
    return ListFileError(f"{name}: not a readable .xlsx workbook ({error})")


def _xlsx_chunks(path: Path, name: str, limits: SheetLimits, positions: dict[str, int],
                 chunk_size: int) -> Iterator[list[RawRow]]:
    chunk: list[RawRow] = []
    with _xlsx_rows(path, name, limits) as rows:
        next(rows, None)  # the header
        for number, values in enumerate(rows, start=FIRST_DATA_ROW):
            cells = {f: _xlsx_cell(values[i]) if i < len(values) else None
                     for f, i in positions.items()}
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells.values()):
                continue
            chunk.append(RawRow(number, cells))
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk
