"""Hostile and broken input: every parser returns (records, errors) and never raises."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.parsers.camt import parse_camt053, parse_camt054
from reconciliation.parsers.detect import parse_return_file
from reconciliation.parsers.mt940 import end_to_end_id_from_narrative, parse_mt940
from reconciliation.parsers.pacs004 import parse_pacs004
from reconciliation.parsers.pain002 import parse_pain002
from reconciliation.parsers.post_office import parse_post_office
from reconciliation.parsers.tabular import TabularProfile, parse_bank_table
from reconciliation.parsers.xml_safety import XmlLimits
from reconciliation.records import (
    AmountError,
    ParseError,
    ParseErrorCode,
    ReturnRecord,
    ReturnStatus,
    parse_dong,
)

GOLDEN = Path(__file__).parent.parent / "golden"
PROFILE = TabularProfile(
    columns={"end_to_end_id": "Ma giao dich", "amount": "So tien", "status": "Trang thai",
             "booking_date": "Ngay hach toan"},
    status_map={"THANH CONG": ReturnStatus.SETTLED, "THAT BAI": ReturnStatus.REJECTED},
    delimiter=";", amount_style="vn_dots",
)
Parser = Callable[[bytes], tuple[list[ReturnRecord], list[ParseError]]]
PARSERS: dict[str, Parser] = {
    "pain002": lambda data: parse_pain002(data, filename="f.xml"),
    "camt054": lambda data: parse_camt054(data, filename="f.xml"),
    "camt053": lambda data: parse_camt053(data, filename="f.xml"),
    "pacs004": lambda data: parse_pacs004(data, filename="f.xml"),
    "mt940": lambda data: parse_mt940(data, filename="f.sta"),
    "bank_csv": lambda data: parse_bank_table(data, filename="f.csv", profile=PROFILE),
    "post_office": lambda data: parse_post_office(data, filename="f.csv"),
    "detect": lambda data: parse_return_file(data, "f.csv", tabular_profile=PROFILE),
}
SAMPLES = {
    "pain002": GOLDEN / "pain002" / "status_mixed_v12.xml",
    "camt054": GOLDEN / "camt054" / "notification_v08.xml",
    "camt053": GOLDEN / "camt053" / "statement_v08.xml",
    "pacs004": GOLDEN / "pacs004" / "return_two_tx_v11.xml",
    "mt940": GOLDEN / "mt940" / "statement_balanced.sta",
    "bank_csv": GOLDEN / "bank_csv" / "vietinbank_returns.csv",
    "post_office": GOLDEN / "post_office" / "paid_list_hanoi.csv",
    "detect": GOLDEN / "pain002" / "status_v10.xml",
}
XML_PARSERS = ("pain002", "camt054", "camt053", "pacs004")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.12"><CstmrPmtStsRpt>
<OrgnlGrpInfAndSts><OrgnlMsgId>&lol4;</OrgnlMsgId><GrpSts>RJCT</GrpSts></OrgnlGrpInfAndSts>
</CstmrPmtStsRpt></Document>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn>
<Ntfctn><Ntry><Amt Ccy="VND">1</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<NtryDtls><TxDtls><Refs><EndToEndId>&xxe;</EndToEndId></Refs></TxDtls></NtryDtls>
</Ntry></Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"""


def _assert_result(result: object) -> tuple[list[ReturnRecord], list[ParseError]]:
    assert isinstance(result, tuple) and len(result) == 2
    records, errors = result
    assert all(isinstance(r, ReturnRecord) for r in records)
    assert all(isinstance(e, ParseError) for e in errors)
    for record in records:
        assert record.amount is None or (isinstance(record.amount, int) and record.amount > 0)
    return records, errors


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_prefix_of_a_sample_is_handled(name: str) -> None:
    data = SAMPLES[name].read_bytes()
    stride = max(1, len(data) // 150)
    for cut in range(0, len(data), stride):
        _, errors = _assert_result(PARSERS[name](data[:cut]))
        if name in XML_PARSERS and cut < len(data) - 20:
            assert errors, f"truncated XML at {cut} bytes gave no error"


@pytest.mark.parametrize("name", XML_PARSERS)
def test_truncated_xml_names_the_problem(name: str) -> None:
    data = SAMPLES[name].read_bytes()
    _, errors = PARSERS[name](data[: len(data) // 2])
    assert errors[-1].code in {ParseErrorCode.MALFORMED, ParseErrorCode.EMPTY}
    assert errors[-1].location.startswith("line")


@pytest.mark.parametrize("name", XML_PARSERS)
def test_billion_laughs_is_refused_before_expansion(name: str) -> None:
    records, errors = _assert_result(PARSERS[name](BILLION_LAUGHS))
    assert records == []
    assert [e.code for e in errors] == [ParseErrorCode.FORBIDDEN_DTD]


@pytest.mark.parametrize("name", XML_PARSERS)
def test_external_entity_is_never_read(name: str) -> None:
    records, errors = _assert_result(PARSERS[name](XXE))
    assert [e.code for e in errors] == [ParseErrorCode.FORBIDDEN_DTD]
    assert not any("root:" in repr(r) for r in records)


def test_entity_declaration_split_across_read_chunks_is_still_found() -> None:
    # The marker straddles the guard's 64 KiB read boundary.
    padding = b"<!--" + b" " * (64 * 1024 - 10) + b"-->"
    data = b'<?xml version="1.0"?>' + padding + b'<!DOCTYPE d [<!ENTITY a "b">]><d/>'
    _, errors = parse_pain002(io.BytesIO(data), filename="f.xml")
    assert [e.code for e in errors] == [ParseErrorCode.FORBIDDEN_DTD]


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_input_over_the_size_limit_is_refused(name: str) -> None:
    data = SAMPLES[name].read_bytes()
    small = len(data) - 1
    parsers: dict[str, Parser] = {
        "pain002": lambda d: parse_pain002(d, filename="f", limits=XmlLimits(max_bytes=small)),
        "camt054": lambda d: parse_camt054(d, filename="f", limits=XmlLimits(max_bytes=small)),
        "camt053": lambda d: parse_camt053(d, filename="f", limits=XmlLimits(max_bytes=small)),
        "pacs004": lambda d: parse_pacs004(d, filename="f", limits=XmlLimits(max_bytes=small)),
        "mt940": lambda d: parse_mt940(d, filename="f", max_bytes=small),
        "bank_csv": lambda d: parse_bank_table(d, filename="f", profile=PROFILE,
                                               max_bytes=small),
        "post_office": lambda d: parse_post_office(d, filename="f", max_bytes=small),
        "detect": lambda d: parse_return_file(d, "f.xml", max_bytes=small),
    }
    records, errors = _assert_result(parsers[name](data))
    assert records == []
    assert [e.code for e in errors] == [ParseErrorCode.OVERSIZED]


def test_oversized_unseekable_stream_stops_reading_at_the_limit() -> None:
    class Endless(io.RawIOBase):
        served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            buffer[:] = b"<" * len(buffer)
            self.served += len(buffer)
            return len(buffer)

    source = Endless()
    _, errors = parse_pain002(io.BufferedReader(source), filename="f",  # type: ignore[type-var]
                              limits=XmlLimits(max_bytes=1_000_000))
    assert [e.code for e in errors] == [ParseErrorCode.OVERSIZED]
    assert source.served < 3_000_000


DEEP = b"<a>" * 100 + b"</a>" * 100
TOO_DEEP = {
    "pain002": b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.12">'
               b"<CstmrPmtStsRpt>" + DEEP + b"</CstmrPmtStsRpt></Document>",
    "pacs004": b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.004.001.09"><PmtRtr>'
               + DEEP + b"</PmtRtr></Document>",
}


@pytest.mark.parametrize("name", sorted(TOO_DEEP))
def test_too_deep_nesting_is_refused(name: str) -> None:
    records, errors = _assert_result(PARSERS[name](TOO_DEEP[name]))
    assert records == []
    assert [e.code for e in errors] == [ParseErrorCode.TOO_DEEP]


@pytest.mark.parametrize("name", XML_PARSERS)
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_xml_in_another_encoding_is_refused(name: str, encoding: str) -> None:
    data = SAMPLES[name].read_text(encoding="utf-8").encode(encoding)
    records, errors = _assert_result(PARSERS[name](data))
    assert records == []
    assert errors[0].code is ParseErrorCode.ENCODING


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_latin1_bytes_in_a_utf8_file_are_reported(name: str) -> None:
    data = SAMPLES[name].read_bytes()
    # Put a Latin-1 "é" (0xE9, invalid as UTF-8 here) inside the first record's text.
    marker = {"pain002": b"Tai khoan", "camt054": b"TRAN THI", "camt053": b"BIDV0131-0001",
              "pacs004": b"does not exist",
              "mt940": b"Chi tra", "bank_csv": b"Sai so", "post_office": b"Nguy",
              "detect": b"HCM-REV"}[name]
    assert marker in data
    broken = data.replace(marker, marker + b"\xe9", 1)
    _, errors = _assert_result(PARSERS[name](broken))
    assert any(e.code is ParseErrorCode.ENCODING for e in errors), errors


def test_declared_latin1_xml_is_refused() -> None:
    data = b'<?xml version="1.0" encoding="ISO-8859-1"?><Document/>'
    _, errors = parse_camt054(data, filename="f.xml")
    assert errors[0].code is ParseErrorCode.ENCODING


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk=st.binary(max_size=2048))
def test_random_bytes_never_raise(name: str, junk: bytes) -> None:
    records, errors = _assert_result(PARSERS[name](junk))
    assert records or errors


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_corruption_of_a_sample_never_raises(name: str, data: st.DataObject) -> None:
    original = bytearray(SAMPLES[name].read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(original) - 1))
        original[position] = data.draw(st.integers(0, 255))
    _assert_result(PARSERS[name](bytes(original)))


def test_empty_inputs_report_an_error() -> None:
    for name, parser in PARSERS.items():
        records, errors = parser(b"")
        assert records == [] and errors, name


def test_xlsx_that_is_not_a_workbook_is_reported() -> None:
    data = b"PK\x03\x04" + b"\x00" * 100
    records, errors = parse_bank_table(data, filename="f.xlsx", profile=PROFILE)
    assert records == [] and errors[0].code is ParseErrorCode.MALFORMED


@pytest.mark.parametrize(
    ("text", "style", "expected"),
    [("1500000", "plain", 1500000), ("1500000.00", "plain", 1500000),
     ("1500000,0", "plain", 1500000), ("1.500.000", "vn_dots", 1500000),
     ("1.500.000,00", "vn_dots", 1500000), ("500000", "vn_dots", 500000),
     (" 2789000 ", "plain", 2789000), ("0100", "plain", 100)],
)
def test_parse_dong_accepts_whole_amounts(text: str, style: str, expected: int) -> None:
    assert parse_dong(text, style=style) == expected


@pytest.mark.parametrize(
    ("text", "style", "fractional"),
    [("1500000.50", "plain", True), ("1.500.000,5", "vn_dots", True), ("0", "plain", False),
     ("-5", "plain", False), ("1,500,000", "plain", False), ("1e6", "plain", False),
     ("1.500.00", "vn_dots", False), ("", "plain", False), ("١٢٣", "plain", False)],
)
def test_parse_dong_rejects_the_rest(text: str, style: str, fractional: bool) -> None:
    with pytest.raises(AmountError) as caught:
        parse_dong(text, style=style)
    assert caught.value.fractional is fractional


@pytest.mark.parametrize(
    ("narrative", "expected"),
    [("/EREF/PEN0001/REMI/text", "PEN0001"), ("EREF+PEN0002 SVWZ+x", "PEN0002"),
     ("EREF+PEN0003SVWZ+x", "PEN0003"), ("/EREF/PEN\n0004", "PEN0004"),
     ("/EREF/NOTPROVIDED/REMI/x", None), ("no reference", None),
     ("/EREF/PEN/2025/01/REMI/x", "PEN/2025/01")],
)
def test_end_to_end_id_from_narrative(narrative: str, expected: str | None) -> None:
    assert end_to_end_id_from_narrative(narrative) == expected
