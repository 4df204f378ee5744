"""MT940 statements of the disbursement account, read with the ``mt-940`` library.

Each ``:61:`` line gives one record: a debit (``D``, or ``RC``) is a payment that left
the account -> ``settled``; a credit (``C``, or ``RD``) is money coming back -> ``returned``.

From the ``:86:`` narrative we accept, case-sensitively:

* the EndToEndId as ``/EREF/<id>`` (up to the next ``/XXXX/`` keyword or the end) or as
  ``EREF+<id>`` (up to the next blank, ``?`` sub-field mark or ``XXXX+`` keyword);
* a return reason as ``/RTRN/<code>`` or ``RTRN+<code>`` (the ISO code, kept as written).

The :61: customer reference is not used as EndToEndId: it holds only 16 characters. Every
statement is checked: opening balance (60F/60M) + entries = closing balance (62F/62M).
The text must be UTF-8 (ASCII is); amounts must be whole dong.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import BinaryIO

import mt940

from reconciliation.parsers import DEFAULT_MAX_BYTES, open_input, read_all
from reconciliation.records import (
    ParseError,
    ParseErrorCode,
    ParseResult,
    ReturnRecord,
    ReturnStatus,
    SourceFormat,
)

_EREF = re.compile(r"/EREF/(?P<slash>.+?)(?=/[A-Z]{2,4}/|$)|EREF\+(?P<plus>[^\s?]+?)"
                   r"(?=[A-Z]{4}\+|[\s?]|$)", re.DOTALL)
_RTRN = re.compile(r"(?:/RTRN/|RTRN\+)(?P<code>[A-Za-z0-9]{1,35})")
# Sign reversals (RC out, RD in) so the balance check adds up, and read marks in any case.
_OPTIONS = mt940.Options(reversal_sign=True, case_insensitive_marks=True,
                         unbounded_details=True)
_MARK_STATUS = {
    "D": ReturnStatus.SETTLED,
    "RC": ReturnStatus.SETTLED,
    "C": ReturnStatus.RETURNED,
    "RD": ReturnStatus.RETURNED,
}


@dataclass(frozen=True, slots=True)
class Mt940Entry:
    """One ``:61:`` line (with its ``:86:``), in plain typed form."""

    mark: str
    amount: Decimal
    currency: str | None
    value_date: date | None
    entry_date: date | None
    bank_reference: str | None
    narrative: str


@dataclass(frozen=True, slots=True)
class Mt940Statement:
    """One ``:20:`` statement block, in plain typed form."""

    reference: str | None
    currency: str | None
    opening: Decimal | None
    closing: Decimal | None
    entries: tuple[Mt940Entry, ...]


def read_mt940(text: str) -> list[Mt940Statement] | str:
    """Run the ``mt-940`` library and copy what we need into typed values.

    The library returns loosely typed dictionaries and raises assorted exception types on
    malformed input, so its use is kept here, behind one typed function.

    Args:
        text: The decoded statement file.

    Returns:
        The statements, or an error message when the library could not read the text.
    """
    try:
        # A StringIO, never the str itself: the library would open a str naming a file.
        blocks = mt940.parse_statements(io.StringIO(text), options=_OPTIONS)
        return [_statement(block) for block in blocks]
    except Exception as exc:  # the library's failures are not one documented type
        return f"{type(exc).__name__}: {exc}"


def _statement(block: mt940.models.Transactions) -> Mt940Statement:
    data = block.data
    opening = _balance(data, "final_opening_balance", "opening_balance",
                       "intermediate_opening_balance")
    closing = _balance(data, "final_closing_balance", "closing_balance",
                       "intermediate_closing_balance")
    reference = data.get("transaction_reference")
    return Mt940Statement(
        reference=reference if isinstance(reference, str) else None,
        currency=block.currency,
        opening=opening,
        closing=closing,
        entries=tuple(_entry(transaction.data) for transaction in block),
    )


def _balance(data: dict[str, object], *keys: str) -> Decimal | None:
    for key in keys:
        balance = data.get(key)
        amount = getattr(balance, "amount", None)
        value = getattr(amount, "amount", None)
        if isinstance(value, Decimal):
            return value
    return None


def _entry(data: dict[str, object]) -> Mt940Entry:
    amount = getattr(data.get("amount"), "amount", None)
    if not isinstance(amount, Decimal):
        raise ValueError("a :61: line without an amount")
    return Mt940Entry(
        mark=str(data.get("status") or ""),
        amount=amount,
        currency=_text(data.get("currency")),
        value_date=_as_date(data.get("date")),
        entry_date=_as_date(data.get("entry_date")),
        bank_reference=_text(data.get("bank_reference")),
        narrative=_text(data.get("transaction_details")) or "",
    )


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _as_date(value: object) -> date | None:
    return date(value.year, value.month, value.day) if isinstance(value, date) else None


def parse_mt940(
    data: bytes | BinaryIO, *, filename: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> ParseResult:
    """Parse an MT940 statement file into return records.

    Args:
        data: The file's bytes or a binary stream.
        filename: The file's name, for error messages.
        max_bytes: The largest accepted size.

    Returns:
        ``(records, errors)``; never raises on bad content.
    """
    source = open_input(data, filename=filename, max_bytes=max_bytes)
    if isinstance(source, ParseError):
        return [], [source]
    try:
        text = read_all(source).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [ParseError(filename, f"byte {exc.start}", "", "MT940 text is not UTF-8",
                               ParseErrorCode.ENCODING)]
    statements = read_mt940(text) if "\x00" not in text else "NUL byte in text"
    if isinstance(statements, str):
        return [], [ParseError(filename, "file", "", f"not a readable MT940 file: {statements}",
                               ParseErrorCode.MALFORMED)]
    if not statements:
        return [], [ParseError(filename, "file", ":20:", "no MT940 statement found",
                               ParseErrorCode.EMPTY)]
    return _records(statements, filename, source.sha256)


def _records(statements: list[Mt940Statement], filename: str, sha256: str) -> ParseResult:
    records: list[ReturnRecord] = []
    errors: list[ParseError] = []
    index = 0
    for number, statement in enumerate(statements, start=1):
        where = f"statement {number} (:20:{statement.reference or ''})"
        errors.extend(_balance_errors(statement, filename, where))
        for position, entry in enumerate(statement.entries, start=1):
            record = _record(entry, filename, sha256, index, f"{where}, :61: #{position}")
            index += 1
            if isinstance(record, ParseError):
                errors.append(record)
            else:
                records.append(record)
    return records, errors


def _balance_errors(statement: Mt940Statement, filename: str, where: str) -> list[ParseError]:
    if statement.currency not in (None, "VND"):
        return [ParseError(filename, where, ":60F:", f"currency {statement.currency} is not VND")]
    if statement.opening is None or statement.closing is None:
        return [ParseError(filename, where, ":60F:/:62F:", "opening or closing balance missing",
                           ParseErrorCode.MISSING_FIELD)]
    moved = sum((entry.amount for entry in statement.entries), Decimal(0))
    if statement.opening + moved != statement.closing:
        return [ParseError(filename, where, ":62F:",
                           f"opening {statement.opening} + entries {moved} != closing "
                           f"{statement.closing}", ParseErrorCode.UNBALANCED)]
    return []


def _record(
    entry: Mt940Entry, filename: str, sha256: str, index: int, where: str
) -> ReturnRecord | ParseError:
    status = _MARK_STATUS.get(entry.mark.upper())
    if status is None:
        return ParseError(filename, where, ":61:", f"unknown debit/credit mark {entry.mark!r}",
                          ParseErrorCode.UNKNOWN_STATUS)
    magnitude = abs(entry.amount)
    if magnitude != magnitude.to_integral_value():
        return ParseError(filename, where, ":61:", f"fractional dong: {magnitude}",
                          ParseErrorCode.FRACTIONAL_AMOUNT)
    if magnitude == 0:
        return ParseError(filename, where, ":61:", "amount must be positive")
    reason = _RTRN.search(entry.narrative)
    return ReturnRecord(
        source_format=SourceFormat.MT940,
        file_sha256=sha256,
        msg_id=None,
        end_to_end_id=end_to_end_id_from_narrative(entry.narrative),
        bank_reference=entry.bank_reference,
        account=None,
        amount=int(magnitude),
        status=status,
        reason_code=reason.group("code") if reason else None,
        reason_text=entry.narrative or None if status is ReturnStatus.RETURNED else None,
        booking_date=entry.entry_date or entry.value_date,
        record_index=index,
    )


def end_to_end_id_from_narrative(narrative: str) -> str | None:
    """Find the EndToEndId in an MT940 ``:86:`` narrative.

    Args:
        narrative: The ``:86:`` text (line breaks as the bank sent them).

    Returns:
        The id from ``/EREF/<id>`` or ``EREF+<id>``, or None (also for ``NOTPROVIDED``).
    """
    found = _EREF.search(narrative)
    if found is None:
        return None
    value = (found.group("slash") or found.group("plus") or "").replace("\n", "").strip()
    return value if value and value != "NOTPROVIDED" else None
