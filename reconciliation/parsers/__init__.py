"""Bank return-file parsers: bytes or a binary stream in, ``(records, errors)`` out.

Modules: :mod:`.pain002`, :mod:`.camt` (camt.054 / camt.053), :mod:`.pacs004` (payment
returns), :mod:`.mt940`, :mod:`.tabular` (bank CSV / XLSX by column mapping),
:mod:`.post_office`, and :mod:`.detect`
(``detect_format`` and the ``parse_return_file`` dispatcher). No parser raises on bad
content: problems come back as :class:`~reconciliation.records.ParseError` values.

This module holds the input plumbing the parsers share: hashing and size-limiting the input
before any parsing starts.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import io
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO, TypeVar

from reconciliation.records import ParseError, ParseErrorCode

#: The default size limit: a national monthly camt.054 (a million entries is ~650 MiB) must
#: fit. Parsing streams, so memory does not grow with the limit; callers may pass their own.
DEFAULT_MAX_BYTES = 2 * 1024 * 1024 * 1024
_CHUNK = 1024 * 1024
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file ready to parse: a rewound binary stream plus its SHA-256 and size."""

    stream: BinaryIO
    sha256: str
    size: int


def open_input(
    data: bytes | BinaryIO, *, filename: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> InputFile | ParseError:
    """Hash the input and enforce the size limit before any parsing starts.

    The hash has to be known before the first record is built (every record carries it), so
    a stream is read once for the hash and rewound; a stream that cannot seek is spooled to
    a temporary file first. Reading stops as soon as the limit is passed.

    Args:
        data: The whole file as bytes, or a binary stream positioned at its start.
        filename: The file's name, for error messages.
        max_bytes: The largest accepted size in bytes.

    Returns:
        The prepared input, or a ParseError when the file is over the limit or unreadable.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        if len(raw) > max_bytes:
            return _oversized(filename, max_bytes)
        return InputFile(io.BytesIO(raw), hashlib.sha256(raw).hexdigest(), len(raw))
    try:
        stream = data if data.seekable() else _spool(data, max_bytes)
        start = stream.tell()
        digest, size = _hash_stream(stream, max_bytes)
        stream.seek(start)
    except OSError as exc:
        return ParseError(filename, "file", "", f"cannot read the file: {exc}",
                          ParseErrorCode.MALFORMED)
    if size > max_bytes:
        return _oversized(filename, max_bytes)
    return InputFile(stream, digest, size)


def _hash_stream(stream: BinaryIO, max_bytes: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while size <= max_bytes:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _spool(source: BinaryIO, max_bytes: int) -> BinaryIO:
    # Copy at most one byte past the limit: enough to know the file is too big.
    spooled = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115
    shutil.copyfileobj(_LimitedReader(source, max_bytes + 1), spooled, _CHUNK)
    spooled.seek(0)
    return spooled  # type: ignore[return-value]


class _LimitedReader(io.RawIOBase):
    """Reads at most ``limit`` bytes from a stream."""

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self._source = source
        self._left = limit

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if size < 0 else min(size, self._left)
        chunk = self._source.read(want)
        self._left -= len(chunk)
        return chunk


def _oversized(filename: str, max_bytes: int) -> ParseError:
    return ParseError(filename, "file", "", f"file is larger than the {max_bytes}-byte limit",
                      ParseErrorCode.OVERSIZED)


def read_all(source: InputFile) -> bytes:
    """Return the whole (already size-checked) input as bytes.

    Args:
        source: Input prepared by :func:`open_input`.

    Returns:
        The file's bytes.
    """
    return source.stream.read()


@functools.lru_cache(maxsize=4096)
def parse_iso_date(text: str) -> date:
    """Parse ``YYYY-MM-DD`` (or the date part of an ISO date-time); cached, files repeat dates.

    Args:
        text: An ISO 8601 date or date-time.

    Returns:
        The calendar date as written (no time-zone shift: it is the bank's business date).

    Raises:
        ValueError: Not an ISO date.
    """
    return date.fromisoformat(text.strip()[:10])


class ValueSharer:
    """Hands out one object per distinct repeated value (MsgId, reason code, amount).

    A million records answering one payment file would otherwise hold a million equal MsgId
    strings, and benefit amounts repeat a great deal. Bounded, so a file of all-different
    values cannot grow it far: past the limit, values are returned as they are.
    """

    __slots__ = ("_kept", "_limit")

    def __init__(self, limit: int = 4096) -> None:
        self._kept: dict[object, object] = {}
        self._limit = limit

    def __call__(self, value: _V) -> _V:
        """Return the kept equal value, keeping this one if there is room.

        Args:
            value: A hashable value (None passes through).

        Returns:
            An equal value, shared with earlier records where possible.
        """
        if value is None:
            return value
        kept = self._kept.get(value)
        if kept is not None:
            return kept  # type: ignore[return-value]  # equal to value, so of its type
        if len(self._kept) < self._limit:
            self._kept[value] = value
        return value


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large file is read.

    Parsing a million-entry file allocates millions of short-lived lxml proxies next to a
    growing list of records; the collector would rescan that list again and again (it
    measured at about 40% of the parse time). Records hold no reference cycles, so nothing
    is lost by pausing; reference counting still frees memory at once. The previous state
    is restored on exit.

    Yields:
        Nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
