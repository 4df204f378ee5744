"""pacs.004 payment returns: which MsgId a return names, and what makes a TxInf unreadable."""

from __future__ import annotations

from datetime import date

import pytest

from reconciliation.parsers.detect import detect_format, parse_return_file
from reconciliation.parsers.pacs004 import parse_pacs004
from reconciliation.records import ParseErrorCode, ReturnStatus, SourceFormat

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pacs.004.001.{version}"
HEADER = ("<GrpHdr><MsgId>BANK-OWN-MSG-1</MsgId><CreDtTm>2025-05-02T08:00:00</CreDtTm>"
          "<NbOfTxs>1</NbOfTxs>{date}<SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf></GrpHdr>")
AMOUNT = '<RtrdIntrBkSttlmAmt Ccy="VND">1500000</RtrdIntrBkSttlmAmt>'
REASON = "<RtrRsnInf><Rsn><Cd>AC04</Cd></Rsn></RtrRsnInf>"


def _group(msg_id: str, name: str | None = "pain.001.001.09") -> str:
    named = f"<OrgnlMsgNmId>{name}</OrgnlMsgNmId>" if name else ""
    return f"<OrgnlGrpInf><OrgnlMsgId>{msg_id}</OrgnlMsgId>{named}</OrgnlGrpInf>"


def _tx(body: str = "", *, e2e: str = "PEN01202505000000000001", amount: str = AMOUNT,
        reason: str = REASON) -> str:
    return (f"<TxInf><RtrId>RT-1</RtrId>{body}<OrgnlEndToEndId>{e2e}</OrgnlEndToEndId>"
            f"{amount}{reason}</TxInf>")


def _document(*parts: str, version: str = "09", header_date: str = "") -> bytes:
    settled = f"<IntrBkSttlmDt>{header_date}</IntrBkSttlmDt>" if header_date else ""
    body = HEADER.format(date=settled) + "".join(parts)
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="'
           f'{NAMESPACE.format(version=version)}"><PmtRtr>{body}</PmtRtr></Document>')
    return xml.encode()


def test_a_return_is_a_returned_record_with_its_reason_and_date() -> None:
    data = _document(_group("HN-PEN-202505-0001"), _tx(), header_date="2025-05-02")
    records, errors = parse_pacs004(data, filename="r.xml")
    assert errors == []
    [record] = records
    assert record.source_format is SourceFormat.PACS004
    assert record.status is ReturnStatus.RETURNED
    assert (record.msg_id, record.end_to_end_id, record.amount) == (
        "HN-PEN-202505-0001", "PEN01202505000000000001", 1500000)
    assert (record.reason_code, record.bank_reference) == ("AC04", "RT-1")
    assert record.booking_date == date(2025, 5, 2)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        # the transaction's own original group wins over the message's
        ((_group("FILE-A"), _tx(_group("FILE-B"))), "FILE-B"),
        ((_group("FILE-A"), _tx()), "FILE-A"),
        # the pacs.004's own GrpHdr/MsgId is never taken for the payment file's
        ((_tx(),), None),
        # an original group naming an interbank message is not our payment file
        ((_group("PACS8-MSG", "pacs.008.001.08"), _tx()), None),
        ((_group("FILE-A"), _tx(_group("PACS8-MSG", "pacs.008.001.08"))), None),
        # a name-less original group is taken as the payment file's
        ((_tx(_group("FILE-C", None)),), "FILE-C"),
    ],
)
def test_msg_id_is_the_original_payment_files(parts: tuple[str, ...], expected: str | None
                                               ) -> None:
    records, errors = parse_pacs004(_document(*parts), filename="r.xml")
    assert errors == []
    assert [r.msg_id for r in records] == [expected]


@pytest.mark.parametrize(
    ("tx", "field", "code"),
    [
        (_tx(amount=""), "RtrdIntrBkSttlmAmt", ParseErrorCode.MISSING_FIELD),
        (_tx(amount='<RtrdIntrBkSttlmAmt Ccy="USD">60</RtrdIntrBkSttlmAmt>'),
         "RtrdIntrBkSttlmAmt", ParseErrorCode.INVALID_VALUE),
        (_tx(amount='<RtrdIntrBkSttlmAmt Ccy="VND">1500000.5</RtrdIntrBkSttlmAmt>'),
         "RtrdIntrBkSttlmAmt", ParseErrorCode.FRACTIONAL_AMOUNT),
        (_tx(amount='<RtrdIntrBkSttlmAmt Ccy="VND">-5</RtrdIntrBkSttlmAmt>'),
         "RtrdIntrBkSttlmAmt", ParseErrorCode.INVALID_VALUE),
        (_tx(amount=AMOUNT + "<IntrBkSttlmDt>2025-13-40</IntrBkSttlmDt>"),
         "IntrBkSttlmDt", ParseErrorCode.INVALID_VALUE),
    ],
)
def test_an_unreadable_transaction_is_an_error_with_its_location(
        tx: str, field: str, code: ParseErrorCode) -> None:
    records, errors = parse_pacs004(_document(_group("F"), _tx(), tx), filename="r.xml")
    assert len(records) == 1  # the good transaction is kept
    assert [(e.location, e.field, e.code) for e in errors] == [("TxInf[2]", field, code)]


def test_optional_fields_fall_back() -> None:
    iban = ("<OrgnlTxRef><CdtrAcct><Id><IBAN>VN00TEST0001</IBAN></Id></CdtrAcct></OrgnlTxRef>")
    tx = _tx(e2e="NOTPROVIDED", reason="<RtrRsnInf><Rsn><Prtry>X1</Prtry></Rsn>"
             "<AddtlInf>own code</AddtlInf></RtrRsnInf>" + iban)
    [record], errors = parse_pacs004(_document(_group("F"), tx), filename="r.xml")
    assert errors == []
    assert record.end_to_end_id is None
    assert (record.reason_code, record.reason_text) == ("X1", "own code")
    assert record.account == "VN00TEST0001"
    assert record.booking_date is None


def test_a_return_without_transactions_is_reported() -> None:
    records, errors = parse_pacs004(_document(_group("F")), filename="r.xml")
    assert records == []
    assert [(e.field, e.code) for e in errors] == [("TxInf", ParseErrorCode.MISSING_FIELD)]


def test_another_message_with_txinf_gives_no_return() -> None:
    data = (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.007.001.09">'
            b"<FIToFIPmtRvsl>" + _tx().encode() + b"</FIToFIPmtRvsl></Document>")
    records, errors = parse_pacs004(data, filename="r.xml")
    assert records == []
    assert [e.code for e in errors] == [ParseErrorCode.UNSUPPORTED]


@pytest.mark.parametrize("version", ["09", "10", "11", "12"])
def test_detected_by_namespace_whatever_the_version(version: str) -> None:
    data = _document(_group("F"), _tx(), version=version)
    assert detect_format(data, "return.bin") is SourceFormat.PACS004
    records, errors = parse_return_file(data, "return.bin")
    assert errors == [] and len(records) == 1


def test_detected_by_its_root_element_without_a_known_namespace() -> None:
    data = b"<Document><PmtRtr>" + _tx(_group("F")).encode() + b"</PmtRtr></Document>"
    assert detect_format(data, "return.xml") is SourceFormat.PACS004
    records, errors = parse_return_file(data, "return.xml")
    assert errors == [] and [r.msg_id for r in records] == ["F"]
