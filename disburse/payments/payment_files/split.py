"""Split a batch into several files when a bank limits transactions per file.

Parts are produced one after another, so only one part is in memory at a time and the writer
gets each part's exact count and sum before it writes the part's header. Each part has its own
deterministic MsgId and PmtInfId, so re-building the same batch yields the same ids (the bank
uses MsgId to refuse duplicates).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from disburse.payments.payment_files.model import FileHeader, PaymentLine

_MAX_ID = 35


@dataclass(frozen=True, slots=True)
class FilePart:
    """One file's worth of lines with its number (from 1), count and sum."""

    part_no: int
    lines: list[PaymentLine]
    nb_of_txs: int
    ctrl_sum: int


def split_lines(
    lines: Iterable[PaymentLine], max_per_file: int | None
) -> Iterator[list[PaymentLine]]:
    """Yield the lines in consecutive lists of at most ``max_per_file`` (all in one if None).

    Order is kept and nothing is dropped or repeated; an empty input yields nothing.
    """
    if max_per_file is not None and max_per_file < 1:
        raise ValueError("max_per_file must be at least 1")
    iterator = iter(lines)
    while True:
        part = list(islice(iterator, max_per_file))
        if not part:
            return
        yield part


def split_parts(lines: Iterable[PaymentLine], max_per_file: int | None) -> Iterator[FilePart]:
    """Like ``split_lines``, with each part numbered and totalled for its file header."""
    for part_no, part in enumerate(split_lines(lines, max_per_file), start=1):
        yield FilePart(part_no, part, len(part), sum(line.amount for line in part))


def derive_msg_id(base: str, part_no: int) -> str:
    """Return the id of part ``part_no`` of the message ``base``: at most 35 characters.

    ``base-P001`` when it fits; otherwise the base is shortened and an 8-hex digest of the whole
    base is kept, so two long bases that share a prefix still give different ids.

    Example:
        >>> derive_msg_id("DSB-2026-11-79-PENS", 2)
        'DSB-2026-11-79-PENS-P002'
    """
    if part_no < 1:
        raise ValueError("parts are numbered from 1")
    suffix = f"-P{part_no:03d}"
    if len(base) + len(suffix) <= _MAX_ID:
        return base + suffix
    digest = hashlib.sha256(base.encode("utf-8")).hexdigest()[:8]
    keep = _MAX_ID - len(suffix) - len(digest) - 1
    return f"{base[:keep]}-{digest}{suffix}"


def header_for_part(header: FileHeader, part_no: int) -> FileHeader:
    """Return ``header`` with MsgId and PmtInfId derived for part ``part_no``."""
    return dataclasses.replace(
        header,
        msg_id=derive_msg_id(header.msg_id, part_no),
        payment_info_id=derive_msg_id(header.payment_info_id, part_no),
    )
