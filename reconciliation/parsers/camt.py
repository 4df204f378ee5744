"""camt.054 (debit/credit notification) and camt.053 (statement), any version by local name.

The files describe the disbursement account. One record per ``TxDtls``; an entry without
transaction details gives one record from the entry itself. Status:

* ``RtrInf`` present, or bank transaction sub-family ``RRTN`` -> ``returned`` (reason from
  ``RtrInf/Rsn``);
* otherwise a booked entry (``Sts`` BOOK) -> ``settled``; PDNG / INFO / FUTR -> ``pending``.

The account is the counterparty's: ``CdtrAcct`` for a payment, ``DbtrAcct`` first for a
return (the money comes back from the beneficiary's account). For camt.053 each statement
is also checked: opening booked balance (OPBD, or PRCD) + booked credits - booked debits
must equal the closing booked balance (CLBD) when both balances are present.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import BinaryIO

from lxml import etree  # type: ignore[import-untyped]  # no stubs installed

from reconciliation.parsers import ValueSharer, open_input, parse_iso_date
from reconciliation.parsers.xml_safety import (
    DEFAULT_LIMITS,
    CompiledSpec,
    Spec,
    XmlLimits,
    extract,
    local_name,
    release,
    stream_elements,
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

ENTRY_STATUS: dict[str, ReturnStatus] = {
    "BOOK": ReturnStatus.SETTLED,
    "PDNG": ReturnStatus.PENDING,
    "INFO": ReturnStatus.PENDING,
    "FUTR": ReturnStatus.PENDING,
}
_RETURN_SUB_FAMILY = "RRTN"
_NOT_PROVIDED = "NOTPROVIDED"

_BTC: Spec = {"Domn": {"Cd": None, "Fmly": {"Cd": None, "SubFmlyCd": None}}}
_DATE: Spec = {"Dt": None, "DtTm": None}
_ACCOUNT: Spec = {"Id": {"IBAN": None, "Othr": {"Id": None}}}
_ENTRY_SPEC = CompiledSpec({
    "Amt@": None,
    "CdtDbtInd": None,
    "Sts": {"Cd": None, "Prtry": None},
    "BookgDt": _DATE,
    "AcctSvcrRef": None,
    "BkTxCd": _BTC,
})
_TX_SPEC = CompiledSpec({
    "Refs": {"MsgId": None, "AcctSvcrRef": None, "EndToEndId": None},
    "Amt@": None,
    "AmtDtls": {"TxAmt": {"Amt@": None}, "InstdAmt": {"Amt@": None}},
    "CdtDbtInd": None,
    "BkTxCd": _BTC,
    "RltdPties": {"CdtrAcct": _ACCOUNT, "DbtrAcct": _ACCOUNT},
    "RtrInf": {"Rsn": {"Cd": None, "Prtry": None}, "AddtlInf": None},
    "AddtlTxInf": None,
})
_BALANCE_SPEC = CompiledSpec({
    "Tp": {"CdOrPrtry": {"Cd": None, "Prtry": None}},
    "Amt@": None,
    "CdtDbtInd": None,
})
#: What identifies a statement: its id, sequence numbers and the account it is for.
_STATEMENT_SPEC = CompiledSpec({
    "Id": None, "ElctrncSeqNb": None, "LglSeqNb": None,
    "Acct": {"Id": {"IBAN": None, "Othr": {"Id": None}}},
})
_OPENING = ("OPBD", "PRCD")
_CLOSING = ("CLBD",)
_ROOTS = {"BkToCstmrDbtCdtNtfctn": SourceFormat.CAMT054, "BkToCstmrStmt": SourceFormat.CAMT053}
_TAGS = ("BkToCstmrDbtCdtNtfctn", "BkToCstmrStmt", "Stmt", "Ntfctn", "Bal", "Ntry", "TxDtls")


@dataclass
class _Statement:
    """Running balance figures of one Stmt / Ntfctn."""

    opening: int | None = None
    closing: int | None = None
    net_booked: int = 0
    entries: int = 0


@dataclass(frozen=True)
class StatementHeader:
    """Who a camt.053 statement is for and where it stands in the bank's sequence.

    Attributes:
        statement_id: The statement's ``Id``.
        account: The account it covers (IBAN or other id), or ``""``.
        sequence: ``ElctrncSeqNb`` (else ``LglSeqNb``) as a number, or None.
        location: Where it is in the file, for messages.
    """

    statement_id: str
    account: str
    sequence: int | None
    location: str


@dataclass
class _State:
    filename: str
    sha256: str
    source_format: SourceFormat
    found_root: SourceFormat | None = None
    entry: dict[str, str] | None = None
    entry_has_tx: bool = False
    position: int = 0
    statement: _Statement = field(default_factory=_Statement)
    statement_count: int = 0
    records: list[ReturnRecord] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)
    share: ValueSharer = field(default_factory=ValueSharer)
    statements: list[StatementHeader] = field(default_factory=list)
    header_taken: bool = False


def parse_camt054(
    data: bytes | BinaryIO, *, filename: str, limits: XmlLimits = DEFAULT_LIMITS
) -> ParseResult:
    """Parse a camt.054 debit/credit notification.

    Args:
        data: The file's bytes or a binary stream.
        filename: The file's name, for error messages.
        limits: Size and depth limits.

    Returns:
        ``(records, errors)``; never raises on bad content.
    """
    return _parse(data, filename, SourceFormat.CAMT054, limits)


def parse_camt053(
    data: bytes | BinaryIO, *, filename: str, limits: XmlLimits = DEFAULT_LIMITS
) -> ParseResult:
    """Parse a camt.053 statement, checking each statement's balances.

    Args:
        data: The file's bytes or a binary stream.
        filename: The file's name, for error messages.
        limits: Size and depth limits.

    Returns:
        ``(records, errors)``; an unbalanced statement adds an ``unbalanced`` error.
    """
    records, errors, _ = parse_camt053_statements(data, filename=filename, limits=limits)
    return records, errors


def parse_camt053_statements(
    data: bytes | BinaryIO, *, filename: str, limits: XmlLimits = DEFAULT_LIMITS
) -> tuple[list[ReturnRecord], list[ParseError], list[StatementHeader]]:
    """:func:`parse_camt053`, also giving each statement's id, account and sequence number.

    Args:
        data: The file's bytes or a binary stream.
        filename: The file's name, for error messages.
        limits: Size and depth limits.

    Returns:
        ``(records, errors, statements)``.
    """
    state = _State(filename, "", SourceFormat.CAMT053)
    records, errors = _parse(data, filename, SourceFormat.CAMT053, limits, state)
    return records, errors, state.statements


def _dispatch(state: _State, element: etree._Element) -> None:
    _HANDLERS[local_name(element.tag)](state, element)


def _parse(
    data: bytes | BinaryIO, filename: str, source_format: SourceFormat, limits: XmlLimits,
    state: _State | None = None,
) -> ParseResult:
    source = open_input(data, filename=filename, max_bytes=limits.max_bytes)
    if isinstance(source, ParseError):
        return [], [source]
    if state is None:
        state = _State(filename, source.sha256, source_format)
    state.sha256 = source.sha256
    if not stream_elements(source.stream, filename=filename, tags=_TAGS, limits=limits,
                           on_element=functools.partial(_dispatch, state),
                           errors=state.errors):
        return state.records, state.errors
    if state.found_root is None:
        state.errors.append(ParseError(filename, "file", "Document",
                                       f"not a {source_format.value[:4]}.{source_format[4:]} file",
                                       ParseErrorCode.UNSUPPORTED))
    return state.records, state.errors


def _on_root(state: _State, element: etree._Element) -> None:
    state.found_root = _ROOTS[local_name(element.tag)]
    if state.found_root != state.source_format:
        state.errors.append(ParseError(state.filename, "file", "Document",
                                       f"file is {state.found_root.value}, "
                                       f"not {state.source_format.value}",
                                       ParseErrorCode.UNSUPPORTED))


def _on_balance(state: _State, element: etree._Element) -> None:
    _take_header(state, element.getparent())
    values = extract(element, _BALANCE_SPEC)
    release(element)
    kind = values.get("Tp/CdOrPrtry/Cd") or values.get("Tp/CdOrPrtry/Prtry", "")
    if kind not in _OPENING + _CLOSING:
        return
    try:
        amount = _signed(values, "Amt")
    except AmountError as exc:
        state.errors.append(ParseError(state.filename, _statement_location(state), "Bal/Amt",
                                       str(exc), _amount_code(exc)))
        return
    if kind in _OPENING:
        state.statement.opening = amount
    else:
        state.statement.closing = amount


def _on_transaction(state: _State, element: etree._Element) -> None:
    if not state.entry_has_tx:
        # The entry's own fields come before NtryDtls: read them before release() runs.
        entry = element.getparent()
        entry = entry.getparent() if entry is not None else None
        state.entry = extract(entry, _ENTRY_SPEC) if entry is not None else {}
        _take_header(state, entry.getparent() if entry is not None else None)
        state.entry_has_tx = True
    values = extract(element, _TX_SPEC)
    release(element)
    _add_record(state, state.entry or {}, values)


def _on_entry(state: _State, element: etree._Element) -> None:
    _take_header(state, element.getparent())
    entry = state.entry if state.entry_has_tx and state.entry is not None else extract(
        element, _ENTRY_SPEC)
    had_tx = state.entry_has_tx
    if not had_tx:
        _add_record(state, entry, {})
    release(element)
    state.entry, state.entry_has_tx = None, False
    _count_in_balance(state, entry, report=had_tx)


def _count_in_balance(state: _State, entry: dict[str, str], *, report: bool) -> None:
    state.statement.entries += 1
    if _entry_status_code(entry) != "BOOK":
        return
    try:
        state.statement.net_booked += _signed(entry, "Amt")
    except AmountError as exc:
        # An entry without details already reported this on its own record.
        if report:
            state.errors.append(ParseError(state.filename, f"Ntry[{state.statement.entries}]",
                                           "Ntry/Amt", str(exc), _amount_code(exc)))


def _take_header(state: _State, statement: etree._Element | None) -> None:
    """Read a statement's id, account and sequence once, before its first balance or entry
    is released (releasing an element frees the siblings before it)."""
    if (statement is None or state.header_taken or state.source_format is not SourceFormat.CAMT053
            or local_name(statement.tag) != "Stmt"):
        return
    state.header_taken = True
    header = extract(statement, _STATEMENT_SPEC)
    sequence = header.get("ElctrncSeqNb") or header.get("LglSeqNb") or ""
    state.statements.append(StatementHeader(
        header.get("Id", ""), header.get("Acct/Id/IBAN") or header.get("Acct/Id/Othr/Id") or "",
        int(sequence) if sequence.isdigit() and len(sequence) < 19 else None,
        f"Stmt[{state.statement_count + 1}]"))


def _on_statement(state: _State, element: etree._Element) -> None:
    _take_header(state, element)
    state.header_taken = False
    release(element)
    state.statement_count += 1
    figures = state.statement
    state.statement = _Statement()
    if figures.opening is None or figures.closing is None:
        return
    if figures.opening + figures.net_booked != figures.closing:
        state.errors.append(ParseError(
            state.filename, f"Stmt[{state.statement_count}]", "Bal",
            f"opening {figures.opening} + booked entries {figures.net_booked} != "
            f"closing {figures.closing}", ParseErrorCode.UNBALANCED))


def _statement_location(state: _State) -> str:
    return f"Stmt[{state.statement_count + 1}]"


def _entry_status_code(entry: dict[str, str]) -> str:
    return entry.get("Sts/Cd") or entry.get("Sts") or entry.get("Sts/Prtry") or ""


def _signed(values: dict[str, str], path: str) -> int:
    amount = _vnd(values, path)
    if amount is None:
        raise AmountError(f"missing {path}")
    return -amount if values.get("CdtDbtInd") == "DBIT" else amount


def _vnd(values: dict[str, str], path: str) -> int | None:
    text = values.get(path)
    if text is None:
        return None
    currency = values.get(path + "@Ccy", "VND")
    if currency != "VND":
        raise AmountError(f"currency {currency!r} is not VND")
    return parse_dong(text)


def _amount_code(exc: AmountError) -> ParseErrorCode:
    return ParseErrorCode.FRACTIONAL_AMOUNT if exc.fractional else ParseErrorCode.INVALID_VALUE


# Every path below RtrInf that _TX_SPEC can produce (a branch without children is read as
# a leaf, hence "RtrInf/Rsn").
_RETURN_PATHS = frozenset({"RtrInf/Rsn", "RtrInf/Rsn/Cd", "RtrInf/Rsn/Prtry", "RtrInf/AddtlInf"})
_SUB_FAMILY = "BkTxCd/Domn/Fmly/SubFmlyCd"


def _is_return(entry: dict[str, str], tx: dict[str, str]) -> bool:
    if not _RETURN_PATHS.isdisjoint(tx):
        return True
    return _RETURN_SUB_FAMILY in (tx.get(_SUB_FAMILY), entry.get(_SUB_FAMILY))


def _status(entry: dict[str, str], tx: dict[str, str]) -> ReturnStatus | None:
    if _is_return(entry, tx):
        return ReturnStatus.RETURNED
    return ENTRY_STATUS.get(_entry_status_code(entry))


def _add_record(state: _State, entry: dict[str, str], tx: dict[str, str]) -> None:
    location = f"Ntry/TxDtls[{state.position + 1}]" if tx else f"Ntry[{state.position + 1}]"
    state.position += 1
    record = _build_record(state, entry, tx, location)
    if isinstance(record, ParseError):
        state.errors.append(record)
    else:
        state.records.append(record)


def _build_record(
    state: _State, entry: dict[str, str], tx: dict[str, str], location: str
) -> ReturnRecord | ParseError:
    status = _status(entry, tx)
    if status is None:
        return ParseError(state.filename, location, "Sts",
                          f"unknown entry status {_entry_status_code(entry)!r}",
                          ParseErrorCode.UNKNOWN_STATUS)
    try:
        amount = _first_amount(entry, tx)
        booked = entry.get("BookgDt/Dt") or entry.get("BookgDt/DtTm")
        booking_date = parse_iso_date(booked) if booked else None
    except AmountError as exc:
        return ParseError(state.filename, location, "Amt", str(exc), _amount_code(exc))
    except ValueError as exc:
        return ParseError(state.filename, location, "BookgDt", f"bad date: {exc}")
    e2e = tx.get("Refs/EndToEndId") or None
    return ReturnRecord(
        source_format=state.source_format,
        file_sha256=state.sha256,
        msg_id=state.share(tx.get("Refs/MsgId") or None),
        end_to_end_id=None if e2e == _NOT_PROVIDED else e2e,
        bank_reference=tx.get("Refs/AcctSvcrRef") or entry.get("AcctSvcrRef") or None,
        account=_account(tx, returned=status is ReturnStatus.RETURNED),
        amount=state.share(amount),
        status=status,
        reason_code=state.share(tx.get("RtrInf/Rsn/Cd") or tx.get("RtrInf/Rsn/Prtry") or None),
        reason_text=tx.get("RtrInf/AddtlInf") or tx.get("AddtlTxInf") or None,
        booking_date=booking_date,
        record_index=state.position - 1,
    )


def _first_amount(entry: dict[str, str], tx: dict[str, str]) -> int | None:
    for values, path in ((tx, "Amt"), (tx, "AmtDtls/TxAmt/Amt"), (tx, "AmtDtls/InstdAmt/Amt")):
        amount = _vnd(values, path)
        if amount is not None:
            return amount
    # Without transaction details the entry amount is the payment's amount.
    return _vnd(entry, "Amt") if not tx else None


_CREDITOR_ACCOUNT = ("RltdPties/CdtrAcct/Id/Othr/Id", "RltdPties/CdtrAcct/Id/IBAN")
_RETURN_ACCOUNT = ("RltdPties/DbtrAcct/Id/Othr/Id", "RltdPties/DbtrAcct/Id/IBAN",
                   *_CREDITOR_ACCOUNT)


def _account(tx: dict[str, str], *, returned: bool) -> str | None:
    for path in _RETURN_ACCOUNT if returned else _CREDITOR_ACCOUNT:
        value = tx.get(path)
        if value:
            return value
    return None


_HANDLERS = {
    "BkToCstmrDbtCdtNtfctn": _on_root,
    "BkToCstmrStmt": _on_root,
    "Stmt": _on_statement,
    "Ntfctn": _on_statement,
    "Bal": _on_balance,
    "Ntry": _on_entry,
    "TxDtls": _on_transaction,
}
