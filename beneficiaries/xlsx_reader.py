"""Open an XLSX workbook in openpyxl's streaming (read-only) mode within :mod:`file_limits`.

openpyxl streams worksheet rows, but loads the shared-strings table whole and, while doing so,
keeps every parsed ``<si>`` element attached to the document root: about 200 bytes per entry
on top of the strings themselves. :class:`_BoundedReader` replaces that one step with a reader
that frees each element as it goes and stops at the limits, after :func:`check_xlsx` has
inspected the zip. Errors come back as :class:`UnreadableWorkbookError` or
:class:`~beneficiaries.file_limits.FileLimitError`, with messages that name no server path
(openpyxl puts the archive's file name into some of its own).

openpyxl is imported inside the functions: it is slow to import and only XLSX files need it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from defusedxml import ElementTree as SafeElementTree

from beneficiaries.file_limits import (
    DEFAULT_LIMITS,
    FileLimitError,
    SheetLimits,
    check_shared_string_totals,
    check_xlsx,
)

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook

_MAIN_NS: Final = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_SI, _T, _R, _RPH = (_MAIN_NS + "si", _MAIN_NS + "t", _MAIN_NS + "r", _MAIN_NS + "rPh")
#: Anything that looks like an absolute POSIX or Windows path, as a last line of defence.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/\\])(?:/|[A-Za-z]:\\)[^\s'\"()]*")


class UnreadableWorkbookError(Exception):
    """The file is not a readable XLSX workbook; the message names no server path."""


def read_shared_strings(stream: IO[bytes], limits: SheetLimits = DEFAULT_LIMITS) -> list[str]:
    """Read a shared-strings part as openpyxl would, in memory proportional to the strings.

    Rich-text runs are joined and phonetic runs skipped, as openpyxl's plain-text reading does.

    Raises:
        FileLimitError: more strings or characters than the limits allow.
    """
    strings: list[str] = []
    chars = 0
    root: Any = None
    for event, element in SafeElementTree.iterparse(stream, events=("start", "end")):
        if root is None:
            root = element
        if event != "end" or element.tag != _SI:
            continue
        text = _si_text(element).replace("x005F_", "")
        strings.append(text)
        chars += len(text)
        root.clear()  # frees this <si> and everything before it
        if len(strings) > limits.max_shared_strings or chars > limits.max_shared_string_chars:
            check_shared_string_totals(len(strings), chars, limits)
    return strings


def _si_text(si: Any) -> str:
    plain = si.find(_T)
    parts = [plain.text or ""] if plain is not None else []
    for run in si.iterfind(_R):
        piece = run.find(_T)
        if piece is not None:
            parts.append(piece.text or "")
    return "".join(parts)


def _reader_class() -> Any:
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.xml.constants import SHARED_STRINGS

    class _BoundedReader(ExcelReader):
        """openpyxl's reader with the shared strings read by :func:`read_shared_strings`."""

        limits: SheetLimits = DEFAULT_LIMITS

        def read_strings(self) -> None:
            part = self.package.find(SHARED_STRINGS)  # type: ignore[no-untyped-call]
            if part is not None:
                with self.archive.open(part.PartName[1:]) as src:
                    self.shared_strings = read_shared_strings(src, self.limits)

    return _BoundedReader


def open_workbook(source: Path | IO[bytes], *, limits: SheetLimits = DEFAULT_LIMITS,
                  checked: bool = False) -> Workbook:
    """Check an XLSX against the limits, then open it read-only with cached values.

    Args:
        source: The file's path or a seekable binary stream.
        limits: The limits to apply.
        checked: The caller ran :func:`check_xlsx` on this very file already.

    Returns:
        The workbook; close it when done (it keeps the archive open).

    Raises:
        FileLimitError: the file exceeds a limit.
        UnreadableWorkbookError: the file is not a readable workbook.
    """
    with workbook_errors(source):
        if not checked:
            check_xlsx(source, limits)
        if not isinstance(source, Path):
            source.seek(0)
        reader = _reader_class()(source, read_only=True, data_only=True)
        reader.limits = limits
        reader.read()
        workbook: Workbook = reader.wb
        return workbook


@contextmanager
def workbook_errors(source: Path | IO[bytes] | None = None) -> Iterator[None]:
    """Turn whatever a workbook reader raises into ``UnreadableWorkbookError`` with a clean message.

    ``FileLimitError`` passes through. openpyxl, zipfile and the XML parser raise many
    unrelated types for a damaged file, hence the broad ``except``.
    """
    try:
        yield
    except FileLimitError:
        raise
    except Exception as error:  # see the docstring: a damaged file raises anything
        raise UnreadableWorkbookError(safe_reason(error, source)) from None


def safe_reason(error: BaseException, source: Path | IO[bytes] | None = None) -> str:
    """Describe ``error`` in one line without any server path in it.

    openpyxl wraps a parse error as "could not read strings from /srv/.../upload.xlsx"; the
    underlying cause is added, and every path (the known one, then anything path-like) is cut.
    """
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    cause = error.__cause__
    if cause is not None and str(cause):
        text = f"{text} {str(cause).splitlines()[0]}"
    if isinstance(source, Path):
        for known in (str(source.resolve()), str(source), str(source.parent)):
            text = text.replace(known, "the file")
    return _ABSOLUTE_PATH.sub("(path withheld)", text).strip()
