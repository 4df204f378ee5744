"""pain.002 customer payment status reports (.03, .10, .12 and later, by local names).

One record per ``TxInfAndSts``. A transaction without its own ``TxSts`` takes the status
(and reason) of its payment block (``PmtInfSts``) or of the file (``GrpSts``). A report
without any transaction detail, such as a whole-file ``GrpSts`` RJCT, gives one record
per status block with ``end_to_end_id=None`` and ``group_status`` set; matching treats it
as a whole-file answer for ``msg_id``.
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

# ISO ExternalPaymentTransactionStatus1Code / ExternalPaymentGroupStatus1Code -> ours.
STATUS_CODES: dict[str, ReturnStatus] = {
    "RCVD": ReturnStatus.PENDING,
    "PDNG": ReturnStatus.PENDING,
    "ACTC": ReturnStatus.ACCEPTED,
    "ACCP": ReturnStatus.ACCEPTED,
    "ACWC": ReturnStatus.ACCEPTED,
    "ACWP": ReturnStatus.ACCEPTED,
    "ACFC": ReturnStatus.ACCEPTED,
    "ACSP": ReturnStatus.ACCEPTED,
    "PART": ReturnStatus.ACCEPTED,
    "ACSC": ReturnStatus.SETTLED,
    "ACCC": ReturnStatus.SETTLED,
    "RJCT": ReturnStatus.REJECTED,
}
_NOT_PROVIDED = "NOTPROVIDED"

_REASON: Spec = {"Rsn": {"Cd": None, "Prtry": None}, "AddtlInf": None}
_GROUP_SPEC = CompiledSpec({"OrgnlMsgId": None, "GrpSts": None, "StsRsnInf": _REASON})
_PMT_SPEC = CompiledSpec({"OrgnlPmtInfId": None, "PmtInfSts": None, "StsRsnInf": _REASON})
_ACCOUNT: Spec = {"Id": {"IBAN": None, "Othr": {"Id": None}}}
_TX_SPEC = CompiledSpec({
    "OrgnlEndToEndId": None,
    "TxSts": None,
    "StsRsnInf": _REASON,
    "AccptncDtTm": None,
    "AcctSvcrRef": None,
    "OrgnlTxRef": {
        "Amt": {"InstdAmt@": None},
        "IntrBkSttlmAmt@": None,
        "IntrBkSttlmDt": None,
        "CdtrAcct": _ACCOUNT,
    },
})
_TAGS = ("CstmrPmtStsRpt", "OrgnlGrpInfAndSts", "OrgnlPmtInfAndSts", "TxInfAndSts")


@dataclass(frozen=True, slots=True)
class _Status:
    """A status with its reason, as given at one level (group, payment block, transaction)."""

    code: str | None
    reason_code: str | None
    reason_text: str | None


@dataclass
class _State:
    """What the streaming parse has learnt so far about the report."""

    filename: str
    sha256: str
    msg_id: str | None = None
    group: _Status | None = None
    block: _Status | None = None
    block_has_tx: bool = False
    found_report: bool = False
    tx_count: int = 0
    group_count: int = 0
    records: list[ReturnRecord] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)
    pending_blocks: list[_Status] = field(default_factory=list)
    share: ValueSharer = field(default_factory=ValueSharer)


def parse_pain002(
    data: bytes | BinaryIO,
    *,
    filename: str,
    limits: XmlLimits = DEFAULT_LIMITS,
) -> ParseResult:
    """Parse a pain.002 status report into return records.

    Args:
        data: The file's bytes or a binary stream.
        filename: The file's name, for error messages.
        limits: Size and depth limits.

    Returns:
        ``(records, errors)``; never raises on bad content.
    """
    source = open_input(data, filename=filename, max_bytes=limits.max_bytes)
    if isinstance(source, ParseError):
        return [], [source]
    state = _State(filename, source.sha256)
    if stream_elements(source.stream, filename=filename, tags=_TAGS, limits=limits,
                       on_element=functools.partial(_handle, state), errors=state.errors):
        _finish(state)
    return state.records, state.errors


def _handle(state: _State, element: etree._Element) -> None:
    # Only "end" events: lxml then reports each wanted element once, which halves the work.
    name = local_name(element.tag)
    if name == "TxInfAndSts":
        _on_transaction(state, element)
    elif name == "OrgnlGrpInfAndSts":
        values = extract(element, _GROUP_SPEC)
        state.msg_id = values.get("OrgnlMsgId") or None
        state.group = _status_of(values, "GrpSts")
        release(element)
    elif name == "OrgnlPmtInfAndSts":
        if not state.block_has_tx:
            state.pending_blocks.append(_status_of(extract(element, _PMT_SPEC), "PmtInfSts"))
        state.block, state.block_has_tx = None, False
        release(element)
    elif name == "CstmrPmtStsRpt":
        state.found_report = True


def _status_of(values: dict[str, str], status_path: str) -> _Status:
    return _Status(
        values.get(status_path) or None,
        values.get("StsRsnInf/Rsn/Cd") or values.get("StsRsnInf/Rsn/Prtry") or None,
        values.get("StsRsnInf/AddtlInf") or None,
    )


def _on_transaction(state: _State, element: etree._Element) -> None:
    state.tx_count += 1
    if not state.block_has_tx:
        # The block's own status precedes its first transaction; read it before release()
        # frees those earlier siblings.
        parent = element.getparent()
        state.block = _status_of(extract(parent, _PMT_SPEC), "PmtInfSts") if (
            parent is not None) else None
        state.block_has_tx = True
    values = extract(element, _TX_SPEC)
    release(element)
    location = f"TxInfAndSts[{state.tx_count}]"
    record = _transaction_record(state, values, location)
    if isinstance(record, ParseError):
        state.errors.append(record)
    else:
        state.records.append(record)


def _effective_status(state: _State, values: dict[str, str]) -> _Status:
    own = _status_of(values, "TxSts")
    if own.code:
        return own
    for inherited in (state.block, state.group):
        if inherited is not None and inherited.code:
            return _Status(inherited.code, own.reason_code or inherited.reason_code,
                           own.reason_text or inherited.reason_text)
    return own


def _transaction_record(
    state: _State, values: dict[str, str], location: str
) -> ReturnRecord | ParseError:
    status = _effective_status(state, values)
    mapped = STATUS_CODES.get(status.code or "")
    if mapped is None:
        reason = f"unknown transaction status {status.code!r}" if status.code else "no TxSts"
        code = ParseErrorCode.UNKNOWN_STATUS if status.code else ParseErrorCode.MISSING_FIELD
        return ParseError(state.filename, location, "TxSts", reason, code)
    try:
        amount = _amount(values)
        booked = values.get("OrgnlTxRef/IntrBkSttlmDt") or values.get("AccptncDtTm")
        booking_date = parse_iso_date(booked) if booked else None
    except AmountError as exc:
        code = ParseErrorCode.FRACTIONAL_AMOUNT if exc.fractional else ParseErrorCode.INVALID_VALUE
        return ParseError(state.filename, location, "InstdAmt", str(exc), code)
    except ValueError as exc:
        return ParseError(state.filename, location, "IntrBkSttlmDt", f"bad date: {exc}")
    e2e = values.get("OrgnlEndToEndId") or None
    return ReturnRecord(
        source_format=SourceFormat.PAIN002,
        file_sha256=state.sha256,
        msg_id=state.msg_id,
        end_to_end_id=None if e2e == _NOT_PROVIDED else e2e,
        bank_reference=values.get("AcctSvcrRef") or None,
        account=(values.get("OrgnlTxRef/CdtrAcct/Id/Othr/Id")
                 or values.get("OrgnlTxRef/CdtrAcct/Id/IBAN") or None),
        amount=state.share(amount),
        status=mapped,
        reason_code=state.share(status.reason_code),
        reason_text=status.reason_text,
        booking_date=booking_date,
        record_index=state.tx_count - 1,
    )


def _amount(values: dict[str, str]) -> int | None:
    for path in ("OrgnlTxRef/Amt/InstdAmt", "OrgnlTxRef/IntrBkSttlmAmt"):
        text = values.get(path)
        if text is not None:
            currency = values.get(path + "@Ccy", "VND")
            if currency != "VND":
                raise AmountError(f"currency {currency!r} is not VND")
            return parse_dong(text)
    return None


def _finish(state: _State) -> None:
    """Add whole-file / whole-block records when the report has no transaction detail."""
    if not state.found_report:
        state.errors.append(ParseError(state.filename, "file", "CstmrPmtStsRpt",
                                       "not a pain.002 status report", ParseErrorCode.UNSUPPORTED))
        return
    # A payment block answered only as a whole still needs its record, even when other
    # blocks of the same report carry transaction detail.
    blocks = [block for block in state.pending_blocks if block.code]
    for block in blocks:
        _add_group_record(state, block)
    if state.tx_count or blocks:
        return
    if state.group is None or not state.group.code:
        state.errors.append(ParseError(state.filename, "OrgnlGrpInfAndSts", "GrpSts",
                                       "report has neither a group status nor transactions",
                                       ParseErrorCode.MISSING_FIELD))
        return
    _add_group_record(state, state.group)


def _add_group_record(state: _State, status: _Status) -> None:
    mapped = STATUS_CODES.get(status.code or "")
    if mapped is None:
        state.errors.append(ParseError(state.filename, "OrgnlGrpInfAndSts", "GrpSts",
                                       f"unknown group status {status.code!r}",
                                       ParseErrorCode.UNKNOWN_STATUS))
        return
    state.records.append(ReturnRecord(
        source_format=SourceFormat.PAIN002,
        file_sha256=state.sha256,
        msg_id=state.msg_id,
        end_to_end_id=None,
        bank_reference=None,
        account=None,
        amount=None,
        status=mapped,
        reason_code=status.reason_code,
        reason_text=status.reason_text,
        booking_date=None,
        record_index=state.tx_count + state.group_count,
        group_status=mapped,
    ))
    state.group_count += 1
