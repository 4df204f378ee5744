"""Limits on spreadsheet files from outside, checked before anything big is loaded.

A list or a bank return arrives as an XLSX (a zip of XML parts) or a CSV. Both can be made to
swell a process far beyond their own size: a sub-megabyte XLSX whose shared-strings table holds
tens of millions of entries, a zip member that inflates a thousandfold, millions of tiny rows,
a CSV line or field of fifty megabytes. This module refuses such files while streaming through
them with a fixed-size buffer, so the check itself needs no more memory than one block:

* :func:`check_xlsx`: the zip's central directory (members, declared sizes, compression ratio),
  then a streamed pass over the worksheets (rows) and the shared-strings part (strings, bytes),
  refusing XML constructs no spreadsheet writer produces (comments, CDATA, a DTD) and any text
  run too long to be a cell.
* :func:`check_csv`: a streamed pass with the ``csv`` module over lines of bounded length
  (records, columns, field size).
* :func:`bounded_rows`: the same row and column limits applied while a sheet is read, in case
  the reader sees rows the byte scan did not count.

Refusals raise :class:`FileLimitError`, whose message names the limit and what was found
but never a file path; callers put the file's display name in front. The module imports only
the standard library (and defusedxml), so the list importers and the return-file parsers share
it without importing each other.
"""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from defusedxml import ElementTree as SafeElementTree

SHARED_STRINGS_TYPE: Final = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml")
WORKSHEET_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_CONTENT_TYPES: Final = "[Content_Types].xml"
_BLOCK: Final = 1 << 20
#: Aligned windows of this size must each hold a '<': a text run of twice this is refused.
_WINDOW: Final = 32 * 1024
#: Members smaller than this may compress as well as they like: they cannot bomb.
_RATIO_FLOOR: Final = 1 << 20
_MIB: Final = 1024 * 1024
_ROOT = re.compile(rb"<(?:([A-Za-z_][\w.\-]*):)?(?:worksheet|sst)[\s>/]")


@dataclass(frozen=True, slots=True)
class SheetLimits:
    """What a spreadsheet from outside may hold.

    The defaults let a national list through (1,000,000 rows as Excel writes them: some
    3 million distinct strings, about 600 MB of sheet XML) and keep the importing process
    under 1 GiB, while refusing what no real list looks like.

    Attributes:
        max_rows: Rows of a sheet or records of a CSV, header included.
        max_columns: Cells of one row (the template has 13 columns).
        max_shared_strings: Entries of an XLSX shared-strings table.
        max_shared_string_chars: Characters of all shared strings together.
        max_shared_strings_bytes: Uncompressed size of the shared-strings part.
        max_unzipped_bytes: Uncompressed size of all members of an XLSX together.
        max_part_bytes: Uncompressed size of any other part (styles, workbook, theme), which
            readers load whole.
        max_ratio: Uncompressed over compressed size of one member (over 1 MiB).
        max_members: Members of the zip.
        max_line_chars: Characters of one CSV line.
        max_field_chars: Characters of one CSV field (which may span lines when quoted).
    """

    max_rows: int = 2_000_000
    max_columns: int = 256
    max_shared_strings: int = 4_000_000
    max_shared_string_chars: int = 64_000_000
    max_shared_strings_bytes: int = 256 * _MIB
    max_unzipped_bytes: int = 2048 * _MIB
    max_part_bytes: int = 32 * _MIB
    max_ratio: int = 200
    max_members: int = 1000
    max_line_chars: int = 100_000
    max_field_chars: int = 32_767


DEFAULT_LIMITS: Final = SheetLimits()


class FileLimitError(Exception):
    """The file exceeds a limit or holds what no spreadsheet writer produces.

    The message says which limit and what was found, without the file's name or path.
    """


def _count(number: int) -> str:
    return f"{number:,}"


def _mib(number: int) -> str:
    return f"{number / _MIB:,.1f} MiB"


# --- XLSX ------------------------------------------------------------------------------------


def check_xlsx(source: str | Path | IO[bytes], limits: SheetLimits = DEFAULT_LIMITS) -> None:
    """Refuse an XLSX that would swell its reader, before the reader opens it.

    Args:
        source: The file's path or a seekable binary stream of it.
        limits: The limits to apply.

    Raises:
        FileLimitError: a limit is exceeded (the message says which and by how much).
        zipfile.BadZipFile: the file is not a zip at all (the reader reports that its way).
    """
    with zipfile.ZipFile(source) as archive:
        members = archive.infolist()
        _check_directory(members, limits)
        sst_parts, sheet_parts = _classify(archive, limits)
        for info in members:
            if info.filename in sst_parts:
                _check_shared_strings(archive, info, limits)
            elif info.filename in sheet_parts or _is_sheet_path(info.filename):
                _check_sheet(archive, info, limits)
            elif info.file_size > limits.max_part_bytes:
                raise FileLimitError(
                    f"the workbook part {info.filename!r} is {_mib(info.file_size)} "
                    f"uncompressed; the limit for such a part is {_mib(limits.max_part_bytes)}")


def _check_directory(members: list[zipfile.ZipInfo], limits: SheetLimits) -> None:
    """Members, declared sizes and ratios: a zip member never yields more than it declares."""
    if len(members) > limits.max_members:
        raise FileLimitError(f"the workbook holds {_count(len(members))} parts; the limit "
                                 f"is {_count(limits.max_members)}")
    total = sum(info.file_size for info in members)
    if total > limits.max_unzipped_bytes:
        raise FileLimitError(f"the workbook expands to {_mib(total)} uncompressed; the "
                                 f"limit is {_mib(limits.max_unzipped_bytes)}")
    for info in members:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR and ratio > limits.max_ratio:
            raise FileLimitError(
                f"the workbook part {info.filename!r} expands {ratio:,.0f} times "
                f"({_mib(info.compress_size)} to {_mib(info.file_size)}), as a zip bomb "
                f"does; the limit is {limits.max_ratio} times")


def _is_sheet_path(name: str) -> bool:
    return name.startswith("xl/worksheets/") and name.endswith(".xml")


def _classify(archive: zipfile.ZipFile, limits: SheetLimits) -> tuple[set[str], set[str]]:
    """The shared-strings and worksheet parts, as the manifest names them (readers use it)."""
    try:
        info = archive.getinfo(_CONTENT_TYPES)
    except KeyError:
        return set(), set()  # not a workbook: the reader says so
    if info.file_size > limits.max_part_bytes:
        raise FileLimitError(f"the workbook manifest is {_mib(info.file_size)}; the limit "
                                 f"is {_mib(limits.max_part_bytes)}")
    root = SafeElementTree.fromstring(archive.read(info))
    found: dict[str, set[str]] = {SHARED_STRINGS_TYPE: set(), WORKSHEET_TYPE: set()}
    for element in root:
        kind, part = element.get("ContentType"), element.get("PartName", "")
        if kind in found:
            found[kind].add(part.lstrip("/"))
    return found[SHARED_STRINGS_TYPE], found[WORKSHEET_TYPE]


@dataclass(slots=True)
class _PartScan:
    """What a streamed pass over one XML part found."""

    tokens: int = 0
    size: int = 0


def _scan_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, element: bytes,
               stop_at: int) -> Iterator[_PartScan]:
    """Stream one part, counting ``<element`` tags; yield the running totals after each block.

    Refuses comments, CDATA, a DTD and processing instructions past the XML declaration
    (no spreadsheet writer produces them, and they hide text from the run check), and a text
    run without a tag longer than two windows (a cell no list holds). Stops early once
    ``stop_at`` tags were counted: the caller refuses at that point.
    """
    scan = _PartScan()
    token = b""
    tail = b""
    run = 0  # '<'-free bytes at the end of what was read so far
    with archive.open(info) as stream:
        while block := stream.read(_BLOCK):
            if not token:
                match = _ROOT.search(block)
                prefix = match.group(1) if match and match.group(1) else b""
                token = b"<" + (prefix + b":" if prefix else b"") + element
            data = tail + block
            _refuse_markup(data, first=scan.size == 0)
            run = _check_runs(block, run)
            scan.tokens += data.count(token) - tail.count(token)
            scan.size += len(block)
            tail = data[-64:]
            yield scan
            if scan.tokens > stop_at:
                return


def _refuse_markup(data: bytes, *, first: bool) -> None:
    if b"<!" in data:
        raise FileLimitError("the workbook's XML holds a comment, CDATA section or DTD, "
                                 "which no spreadsheet program writes")
    declaration = data.startswith(b"<?xml") if first else False
    if data.count(b"<?") > int(declaration):
        raise FileLimitError("the workbook's XML holds processing instructions, which no "
                                 "spreadsheet program writes")


def _check_runs(block: bytes, run: int) -> int:
    """Refuse a text run of more than two windows; return the run left open at the end."""
    first = block.find(b"<")
    if first < 0:
        run += len(block)
    else:
        run += first
    if run > 2 * _WINDOW:
        raise _long_text()
    for start in range(0, len(block) - _WINDOW + 1, _WINDOW):
        if block.find(b"<", start, start + _WINDOW) < 0:
            raise _long_text()
    last = block.rfind(b"<")
    return run if first < 0 else len(block) - last - 1


def _long_text() -> FileLimitError:
    return FileLimitError(f"the workbook holds a text longer than {_count(2 * _WINDOW)} "
                              "bytes, more than any cell of a list")


def _check_sheet(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: SheetLimits) -> None:
    for scan in _scan_part(archive, info, b"row", limits.max_rows):
        if scan.tokens > limits.max_rows:
            raise FileLimitError(f"the sheet has more than {_count(limits.max_rows)} rows "
                                     f"(the limit); counted {_count(scan.tokens)} before "
                                     "stopping")


def _check_shared_strings(archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                          limits: SheetLimits) -> None:
    for scan in _scan_part(archive, info, b"si", limits.max_shared_strings):
        if scan.tokens > limits.max_shared_strings:
            raise FileLimitError(
                f"the shared-strings table holds more than {_count(limits.max_shared_strings)} "
                f"strings (the limit); counted {_count(scan.tokens)} before stopping")
        if scan.size > limits.max_shared_strings_bytes:
            raise FileLimitError(
                f"the shared-strings table is larger than {_mib(limits.max_shared_strings_bytes)}"
                f" uncompressed (the limit); read {_mib(scan.size)} before stopping")


def bounded_rows(rows: Iterable[tuple[Any, ...]], limits: SheetLimits = DEFAULT_LIMITS
                 ) -> Iterator[tuple[Any, ...]]:
    """Pass a sheet's rows through, refusing the sheet at the first row past a limit.

    Every row counts, blank ones too: a reader fills gaps in the row numbers with empty rows,
    which cost time even though they hold nothing.

    Raises:
        FileLimitError: more rows than ``max_rows`` or a row wider than ``max_columns``.
    """
    max_rows, max_columns = limits.max_rows, limits.max_columns
    for number, values in enumerate(rows, start=1):
        if number > max_rows:
            raise FileLimitError(f"the sheet has more than {_count(max_rows)} rows "
                                     "(the limit)")
        if len(values) > max_columns:
            raise FileLimitError(f"row {number} has {_count(len(values))} columns; the "
                                     f"limit is {_count(max_columns)}")
        yield values


def check_shared_string_totals(count: int, chars: int, limits: SheetLimits) -> None:
    """Refuse a shared-strings table past its limits (called while it is being read).

    Raises:
        FileLimitError: too many strings or characters.
    """
    if count > limits.max_shared_strings:
        raise FileLimitError(f"the shared-strings table holds more than "
                                 f"{_count(limits.max_shared_strings)} strings (the limit)")
    if chars > limits.max_shared_string_chars:
        raise FileLimitError(
            f"the shared strings hold more than {_count(limits.max_shared_string_chars)} "
            "characters together (the limit)")


# --- CSV -------------------------------------------------------------------------------------


def check_csv(path: Path, *, delimiter: str, encoding: str = "utf-8-sig",
              limits: SheetLimits = DEFAULT_LIMITS) -> int:
    """Stream a CSV once, refusing giant lines, giant fields, too many records or columns.

    Lines are read at most ``max_line_chars`` at a time, so a file of one endless line costs
    no more memory than one allowed line.

    Args:
        path: The CSV file.
        delimiter: Its field separator.
        encoding: Its text encoding.
        limits: The limits to apply.

    Returns:
        The number of records, header included.

    Raises:
        FileLimitError: a limit is exceeded.
        UnicodeDecodeError: the file is not text in ``encoding``.
    """
    records = 0
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(_bounded_lines(handle, limits.max_line_chars), delimiter=delimiter)
        try:
            for cells in reader:
                records += 1
                _check_record(cells, records, reader.line_num, limits)
        except csv.Error as error:
            if "field larger than field limit" in str(error):
                raise _long_field(reader.line_num, limits) from None
            raise
    return records


def _check_record(cells: list[str], records: int, line: int, limits: SheetLimits) -> None:
    if records > limits.max_rows:
        raise FileLimitError(f"the file has more than {_count(limits.max_rows)} rows "
                                 "(the limit)")
    if len(cells) > limits.max_columns:
        raise FileLimitError(f"line {line} has {_count(len(cells))} columns; the limit is "
                                 f"{_count(limits.max_columns)}")
    if cells and max(map(len, cells)) > limits.max_field_chars:
        raise _long_field(line, limits)


def _long_field(line: int, limits: SheetLimits) -> FileLimitError:
    return FileLimitError(f"line {line} has a field longer than "
                              f"{_count(limits.max_field_chars)} characters (the limit)")


def _bounded_lines(handle: IO[str], max_chars: int) -> Iterator[str]:
    """The file's lines, refusing the first one longer than ``max_chars``."""
    number = 0
    while line := handle.readline(max_chars + 1):
        number += 1
        if len(line) > max_chars:
            raise FileLimitError(f"line {number} is longer than {_count(max_chars)} "
                                     "characters (the limit)")
        yield line
