"""pacs.004 payment returns (.001.09, .10, .11 and later, by local names).

Many banks report money that came back after settlement (account closed, holder deceased)
only as a pacs.004 ``PmtRtr``. Each ``TxInf`` becomes one ``returned`` record, the same
kind of record a camt.054 return entry gives, so matching and the state machine treat it
as a return of money after settlement:

* the amount is ``RtrdIntrBkSttlmAmt`` (VND, whole dong), the reason ``RtrRsnInf/Rsn``
  (``Cd`` or ``Prtry``, kept even when unknown) with ``RtrRsnInf/AddtlInf`` as its text;
* the date is the transaction's ``IntrBkSttlmDt``, else the group header's;
* the account is the original creditor account (``OrgnlTxRef/CdtrAcct``), when given;
* the bank's reference is the return's own ``RtrId``.

``msg_id`` is the MsgId of *our* payment file: ``OrgnlGrpInf/OrgnlMsgId`` of the
transaction, else of the message. The pacs.004's own ``GrpHdr/MsgId`` is never used, and
neither is an ``OrgnlMsgId`` whose ``OrgnlMsgNmId`` names another message than a pain.001
(an interbank pacs.008, say): the service refuses a record naming a MsgId the payment was
not sent in, so such a record is matched by its EndToEndId alone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
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

_NOT_PROVIDED = "NOTPROVIDED"
_ORIGINAL_PAYMENT_MESSAGE = "pain.001"
_AMOUNT = "RtrdIntrBkSttlmAmt"

_ORIGINAL_GROUP: Spec = {"OrgnlMsgId": None, "OrgnlMsgNmId": None}
_ACCOUNT: Spec = {"Id": {"IBAN": None, "Othr": {"Id": None}}}
_HEADER_SPEC = CompiledSpec({"IntrBkSttlmDt": None})  # never GrpHdr/MsgId: see above
_GROUP_SPEC = CompiledSpec(_ORIGINAL_GROUP)
_TX_SPEC = CompiledSpec({
    "RtrId": None,
    "OrgnlGrpInf": _ORIGINAL_GROUP,
    "OrgnlEndToEndId": None,
    f"{_AMOUNT}@": None,
    "IntrBkSttlmDt": None,
    "RtrRsnInf": {"Rsn": {"Cd": None, "Prtry": None}, "AddtlInf": None},
    "OrgnlTxRef": {"CdtrAcct": _ACCOUNT},
})
_TAGS = ("PmtRtr", "GrpHdr", "OrgnlGrpInf", "TxInf")
_ROOT = "PmtRtr"


@dataclass
class _State:
    """What the streaming parse has learnt so far about the return message."""

    filename: str
    sha256: str
    header_date: str | None = None
    group_msg_id: str | None = None
    found_root: bool = False
    tx_count: int = 0
    records: list[ReturnRecord] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)
    share: ValueSharer = field(default_factory=ValueSharer)


def parse_pacs004(
    data: bytes | BinaryIO,
    *,
    filename: str,
    limits: XmlLimits = DEFAULT_LIMITS,
) -> ParseResult:
    """Parse a pacs.004 payment return into ``returned`` records, one per ``TxInf``.

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
                       on_element=functools.partial(_dispatch, state), errors=state.errors):
        _finish(state)
    return state.records, state.errors


def _dispatch(state: _State, element: etree._Element) -> None:
    _HANDLERS[local_name(element.tag)](state, element)


def _parent_name(element: etree._Element) -> str:
    parent = element.getparent()
    return local_name(parent.tag) if parent is not None else ""


def _on_root(state: _State, _element: etree._Element) -> None:
    state.found_root = True


def _on_header(state: _State, element: etree._Element) -> None:
    if _parent_name(element) != _ROOT:
        return
    state.header_date = extract(element, _HEADER_SPEC).get("IntrBkSttlmDt") or None
    release(element)


def _on_original_group(state: _State, element: etree._Element) -> None:
    # A transaction's own OrgnlGrpInf is read with its TxInf: leave it in place.
    if _parent_name(element) != _ROOT:
        return
    state.group_msg_id = _payment_msg_id(extract(element, _GROUP_SPEC), "")
    release(element)


def _on_transaction(state: _State, element: etree._Element) -> None:
    if _parent_name(element) != _ROOT:
        return  # a TxInf of another message (a pacs.007 reversal...) is no return of ours
    state.tx_count += 1
    values = extract(element, _TX_SPEC)
    release(element)
    record = _build_record(state, values, f"TxInf[{state.tx_count}]")
    if isinstance(record, ParseError):
        state.errors.append(record)
    else:
        state.records.append(record)


def _payment_msg_id(values: dict[str, str], prefix: str) -> str | None:
    """The original MsgId when it names a payment file of ours (pain.001), else None."""
    msg_id = values.get(f"{prefix}OrgnlMsgId") or None
    message_name = values.get(f"{prefix}OrgnlMsgNmId") or ""
    if message_name and not message_name.lower().startswith(_ORIGINAL_PAYMENT_MESSAGE):
        return None
    return msg_id


def _build_record(
    state: _State, values: dict[str, str], location: str
) -> ReturnRecord | ParseError:
    try:
        amount = _returned_amount(values)
        settled = _settlement_date(state, values)
    except AmountError as exc:
        code = ParseErrorCode.FRACTIONAL_AMOUNT if exc.fractional else ParseErrorCode.INVALID_VALUE
        return ParseError(state.filename, location, _AMOUNT, str(exc), code)
    except ValueError as exc:
        return ParseError(state.filename, location, "IntrBkSttlmDt", f"bad date: {exc}")
    if amount is None:
        return ParseError(state.filename, location, _AMOUNT, "a return without an amount",
                          ParseErrorCode.MISSING_FIELD)
    e2e = values.get("OrgnlEndToEndId") or None
    own_group = "OrgnlGrpInf/OrgnlMsgId" in values or "OrgnlGrpInf/OrgnlMsgNmId" in values
    msg_id = _payment_msg_id(values, "OrgnlGrpInf/") if own_group else state.group_msg_id
    return ReturnRecord(
        source_format=SourceFormat.PACS004,
        file_sha256=state.sha256,
        msg_id=state.share(msg_id),
        end_to_end_id=None if e2e == _NOT_PROVIDED else e2e,
        bank_reference=values.get("RtrId") or None,
        account=(values.get("OrgnlTxRef/CdtrAcct/Id/Othr/Id")
                 or values.get("OrgnlTxRef/CdtrAcct/Id/IBAN") or None),
        amount=state.share(amount),
        status=ReturnStatus.RETURNED,
        reason_code=state.share(values.get("RtrRsnInf/Rsn/Cd")
                                or values.get("RtrRsnInf/Rsn/Prtry") or None),
        reason_text=values.get("RtrRsnInf/AddtlInf") or None,
        booking_date=settled,
        record_index=state.tx_count - 1,
    )


def _returned_amount(values: dict[str, str]) -> int | None:
    text = values.get(_AMOUNT)
    if text is None:
        return None
    currency = values.get(f"{_AMOUNT}@Ccy", "VND")
    if currency != "VND":
        raise AmountError(f"currency {currency!r} is not VND")
    return parse_dong(text)


def _settlement_date(state: _State, values: dict[str, str]) -> date | None:
    settled = values.get("IntrBkSttlmDt") or state.header_date
    return parse_iso_date(settled) if settled else None


def _finish(state: _State) -> None:
    if not state.found_root:
        state.errors.append(ParseError(state.filename, "file", _ROOT,
                                       "not a pacs.004 payment return",
                                       ParseErrorCode.UNSUPPORTED))
    elif state.tx_count == 0:
        state.errors.append(ParseError(state.filename, _ROOT, "TxInf",
                                       "payment return has no transaction (TxInf)",
                                       ParseErrorCode.MISSING_FIELD))


_HANDLERS = {
    "PmtRtr": _on_root,
    "GrpHdr": _on_header,
    "OrgnlGrpInf": _on_original_group,
    "TxInf": _on_transaction,
}
