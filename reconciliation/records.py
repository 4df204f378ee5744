"""The internal bank-return record every parser produces (reason codes: :mod:`.reasons`).

Whatever a bank sends back (pain.002, camt.054/053, pacs.004, MT940, a CSV or XLSX export, the post
office's paid list), each parser turns it into :class:`ReturnRecord` values plus
:class:`ParseError` values for what it could not read. Matching only ever sees records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum

# The reason-code table lives in its own module; these names stay importable from here.
from disburse.core.reasons import REASON_CODES as REASON_CODES
from disburse.core.reasons import ConsequenceClass as ConsequenceClass
from disburse.core.reasons import ReasonAction as ReasonAction
from disburse.core.reasons import ReasonInfo as ReasonInfo
from disburse.core.reasons import describe_reason as describe_reason


class ReturnStatus(StrEnum):
    """What the bank says happened to one payment (or to a whole file)."""

    ACCEPTED = "accepted"
    SETTLED = "settled"
    REJECTED = "rejected"
    RETURNED = "returned"
    PENDING = "pending"


class SourceFormat(StrEnum):
    """The kind of file a record was read from."""

    PAIN002 = "pain002"
    CAMT054 = "camt054"
    CAMT053 = "camt053"
    MT940 = "mt940"
    BANK_CSV = "bank_csv"
    BANK_XLSX = "bank_xlsx"
    POST_OFFICE = "post_office"
    PACS004 = "pacs004"


class ParseErrorCode(StrEnum):
    """Machine-readable class of a :class:`ParseError`."""

    MALFORMED = "malformed"
    ENCODING = "encoding"
    OVERSIZED = "oversized"
    FORBIDDEN_DTD = "forbidden_dtd"
    TOO_DEEP = "too_deep"
    EMPTY = "empty"
    UNSUPPORTED = "unsupported"
    MISSING_FIELD = "missing_field"
    INVALID_VALUE = "invalid_value"
    FRACTIONAL_AMOUNT = "fractional_amount"
    UNKNOWN_STATUS = "unknown_status"
    UNBALANCED = "unbalanced"


@dataclass(frozen=True, slots=True)
class ReturnRecord:
    """One status, booking or return line from a bank file, in internal form.

    Attributes:
        source_format: The file format the record came from.
        file_sha256: SHA-256 (hex) of the exact bytes of the file.
        msg_id: The original payment file's MsgId this answers, when the file says.
        end_to_end_id: The EndToEndId of the original instruction, when present.
        bank_reference: The bank's own reference (AcctSvcrRef, MT940 bank reference...).
        account: The beneficiary account or wallet number, kept as a string.
        amount: Whole dong, or None when the file gives no amount.
        status: What happened.
        reason_code: ISO external status/return reason code, kept even when unknown.
        reason_text: Free text the bank added.
        booking_date: Booking or settlement date, when present.
        record_index: Zero-based position of the record in its file.
        group_status: Set on a record that stands for a whole file or payment block
            (e.g. pain.002 GrpSts RJCT without per-transaction detail).
    """

    source_format: SourceFormat
    file_sha256: str
    msg_id: str | None
    end_to_end_id: str | None
    bank_reference: str | None
    account: str | None
    amount: int | None
    status: ReturnStatus
    reason_code: str | None
    reason_text: str | None
    booking_date: date | None
    record_index: int
    group_status: ReturnStatus | None = None


@dataclass(frozen=True)
class ParseError:
    """Something in a file that could not be turned into a record.

    Attributes:
        file: The file name as given to the parser.
        location: Where: ``row 12``, an XML element path with its position, ``line 7``.
        field: The field concerned (``amount``, ``TxSts``...), or ``""`` for the whole file.
        reason: A short English explanation for the operator.
        code: The class of problem, for grouping and tests.
    """

    file: str
    location: str
    field: str
    reason: str
    code: ParseErrorCode = ParseErrorCode.INVALID_VALUE


ParseResult = tuple[list[ReturnRecord], list[ParseError]]


class AmountError(ValueError):
    """An amount that is not a whole, positive number of dong (internal to parsers)."""

    def __init__(self, message: str, *, fractional: bool = False) -> None:
        super().__init__(message)
        self.fractional = fractional


_PLAIN_AMOUNT = re.compile(r"[0-9]+(?:[.,][0-9]+)?")
_VN_DOTS_AMOUNT = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+(?:,[0-9]+)?|[0-9]+(?:,[0-9]+)?")


def parse_dong(text: str, *, style: str = "plain") -> int:
    """Parse a positive amount of dong exactly (Decimal, never float).

    ``plain`` accepts ``1500000``, ``1500000.00`` and ``1500000,00``; ``vn_dots`` accepts
    ``1.500.000`` and ``1.500.000,00`` (dots group thousands, a comma starts decimals) and
    plain digits. Decimals are allowed only when they are all zero: VND has no minor unit.

    Args:
        text: The amount as written in the file.
        style: ``plain`` or ``vn_dots``.

    Returns:
        The amount as an int number of dong.

    Raises:
        AmountError: Not a number in that style, not positive, or a fractional dong.
    """
    raw = text.strip()
    if raw.isascii() and raw.isdigit() and raw[0] != "0":
        return int(raw)  # the common case, without regex or Decimal
    pattern = _VN_DOTS_AMOUNT if style == "vn_dots" else _PLAIN_AMOUNT
    if len(raw) > 40 or not pattern.fullmatch(raw):
        raise AmountError(f"not an amount in {style} style: {raw[:40]!r}")
    if style == "vn_dots":
        raw = raw.replace(".", "")
    try:
        value = Decimal(raw.replace(",", "."))
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise AmountError(f"not an amount: {raw!r}") from exc
    if value != value.to_integral_value():
        raise AmountError(f"fractional dong: {text.strip()!r}", fractional=True)
    if value <= 0:
        raise AmountError(f"amount must be positive: {text.strip()!r}")
    return int(value)
