"""pain.001.001.09 and bank CSV writers: schema validity, name forms, totals, splitting, parse."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from disburse.payments.payment_files import (
    BankProfile,
    FileHeader,
    PaymentFileTotalsError,
    PaymentLine,
    derive_msg_id,
    header_for_part,
    parse_pain001,
    scan_pain001,
    split_lines,
    split_parts,
    validate_pain001,
    write_bank_csv,
    write_pain001,
)
from disburse.payments.payment_files.parse import SCHEMA_PATH, prolog_problem

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
PLAIN = BankProfile("plain")
UPPER = BankProfile("upper", ascii_upper_names=True)


def make_header(**changes: object) -> FileHeader:
    header = FileHeader(
        msg_id="DSB-2026-11-79-PENS-0001",
        created_at=datetime(2026, 11, 20, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=7))),
        initiating_party_name="Sở LĐ-TB&XH TP. Hồ Chí Minh",
        initiating_party_id="SLDTBXH79",
        debtor_name="Sở Lao động <Thương binh> & Xã hội",
        debtor_account="0011001234567",
        debtor_bin="970436",
        debtor_bic=None,
        requested_execution_date=date(2026, 11, 25),
        batch_id="B-2026-11-79",
        payment_info_id="PI-2026-11-79",
        category_purpose="PENS",
    )
    return dataclasses.replace(header, **changes)  # type: ignore[arg-type]


def make_line(i: int = 0, **changes: object) -> PaymentLine:
    line = PaymentLine(
        end_to_end_id=f"PENS2611-79-{i:010d}",
        amount=1_500_000 + i,
        creditor_name="Trần Thị Đào",
        creditor_account=f"00{i:08d}",
        creditor_bin="970415",
        creditor_bic=None,
        purpose="PENS",
        remittance="pension 2026-11",
        province_code="79",
        commune_code="26734",
    )
    return dataclasses.replace(line, **changes)  # type: ignore[arg-type]


def write(lines: list[PaymentLine], profile: BankProfile = PLAIN, header: FileHeader | None = None,
          **totals: int) -> bytes:
    out = io.BytesIO()
    write_pain001(out, header or make_header(), lines, profile=profile,
                  nb_of_txs=totals.get("nb_of_txs", len(lines)),
                  ctrl_sum=totals.get("ctrl_sum", sum(line.amount for line in lines)))
    return out.getvalue()


def xpath(data: bytes, path: str) -> list[str]:
    return [str(v) for v in etree.fromstring(data).xpath(path, namespaces=NS)]


# --- schema validity -------------------------------------------------------------------------


def test_schema_copy_is_the_official_file():
    digest = hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest()
    assert digest == "05440a7e84f695e7dbc6677082f43623cd7393881b76a5e8d648ae21d7d728e3"


@pytest.mark.parametrize(("profile", "lines", "header"), [
    (PLAIN, [make_line(0)], make_header()),
    (UPPER, [make_line(i) for i in range(5)], make_header()),
    (PLAIN, [make_line(1, creditor_bic="BFTVVNVX"), make_line(2, creditor_bic="ASCBVNVX123")],
     make_header(debtor_bic="BIDVVNVX", category_purpose="SSBE")),
    (PLAIN, [make_line(3, purpose="BENE", creditor_name="O'Brien & <Sons> \"Ltd\"",
                       remittance="trợ cấp thất nghiệp 11/2026 <kỳ 1> & truy lĩnh")],
     make_header(category_purpose="BENE")),
    (PLAIN, [make_line(4, end_to_end_id="X" * 35, creditor_name="Đ" * 140,
                       remittance="r" * 140, creditor_account="9" * 34, amount=10**17)],
     make_header(msg_id="M" * 35, payment_info_id="P" * 35, category_purpose="GOVT")),
], ids=["one-line", "ascii-upper", "bic", "escaping-bene", "limits"])
def test_written_files_are_valid_against_the_official_xsd(profile, lines, header):
    data = write(lines, profile, header)
    assert validate_pain001(data) == []


@pytest.mark.parametrize(("mutation", "expected"), [
    (lambda d: d.replace(b"<ChrgBr>SLEV</ChrgBr>", b"<ChrgBr>XXXX</ChrgBr>"), "ChrgBr"),
    (lambda d: d.replace(b">1500000<", b">1500000.123456<"), "InstdAmt"),
    (lambda d: d.replace(b"<PmtMtd>TRF</PmtMtd>", b""), "PmtMtd"),
    (lambda d: d.replace(b"<MsgId>", b"<MsgId>" + b"Z" * 40), "MsgId"),
    (lambda d: d.replace(b"</Document>", b""), "Premature end"),
], ids=["bad-code", "too-many-decimals", "missing-element", "too-long", "truncated"])
def test_broken_files_give_schema_errors(mutation, expected):
    data = write([make_line(0)])
    errors = validate_pain001(mutation(data))
    assert errors
    assert any(expected in error for error in errors)


def test_validate_reads_paths_too(tmp_path):
    target = tmp_path / "f.xml"
    target.write_bytes(write([make_line(0)]))
    assert validate_pain001(target) == []


# --- content ---------------------------------------------------------------------------------


def test_group_header_and_payment_info_content():
    lines = [make_line(i) for i in range(3)]
    data = write(lines)
    assert xpath(data, "//p:GrpHdr/p:MsgId/text()") == ["DSB-2026-11-79-PENS-0001"]
    assert xpath(data, "//p:GrpHdr/p:CreDtTm/text()") == ["2026-11-20T01:30:15+00:00"]
    assert xpath(data, "//p:GrpHdr/p:NbOfTxs/text()") == ["3"]
    assert xpath(data, "//p:GrpHdr/p:CtrlSum/text()") == ["4500003"]
    assert xpath(data, "//p:PmtInf/p:CtrlSum/text()") == ["4500003"]
    assert xpath(data, "//p:InitgPty/p:Id/p:OrgId/p:Othr/p:Id/text()") == ["SLDTBXH79"]
    assert xpath(data, "//p:PmtTpInf/p:CtgyPurp/p:Cd/text()") == ["PENS"]
    assert xpath(data, "//p:ReqdExctnDt/p:Dt/text()") == ["2026-11-25"]
    assert xpath(data, "//p:DbtrAgt//p:ClrSysMmbId/p:MmbId/text()") == ["970436"]
    assert xpath(data, "//p:Dbtr/p:Nm/text()") == ["Sở Lao động <Thương binh> & Xã hội"]
    assert xpath(data, "//p:InstdAmt/@Ccy") == ["VND"] * 3
    assert xpath(data, "//p:InstdAmt/text()") == ["1500000", "1500001", "1500002"]
    assert xpath(data, "//p:CdtrAcct/p:Id/p:Othr/p:Id/text()")[0] == "0000000000"


@pytest.mark.parametrize(("bic", "agent_path", "value"), [
    (None, "//p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId/text()", "970415"),
    ("BFTVVNVX", "//p:CdtrAgt/p:FinInstnId/p:BICFI/text()", "BFTVVNVX"),
])
def test_creditor_agent_is_bic_when_known_else_napas_bin(bic, agent_path, value):
    data = write([make_line(0, creditor_bic=bic)])
    assert xpath(data, agent_path) == [value]


def test_ascii_upper_profile_writes_bank_form_of_the_name():
    data = write([make_line(0)], UPPER)
    assert xpath(data, "//p:Cdtr/p:Nm/text()") == ["TRAN THI DAO"]
    # the two names on which the two copies of this rule once disagreed (issue 12)
    data = write([make_line(0, creditor_name="ＮＧＵＹＥＮ Ａｎ"),
                  make_line(1, creditor_name="Lê Thị Ø")], UPPER)
    assert xpath(data, "//p:Cdtr/p:Nm/text()") == ["NGUYEN AN", "LE THI O"]
    assert xpath(write([make_line(0)], PLAIN), "//p:Cdtr/p:Nm/text()") == ["Trần Thị Đào"]


def test_same_input_gives_identical_bytes_and_result():
    lines = [make_line(i) for i in range(50)]
    first, second = io.BytesIO(), io.BytesIO()
    r1 = write_pain001(first, make_header(), lines, profile=UPPER, nb_of_txs=50,
                       ctrl_sum=sum(x.amount for x in lines))
    r2 = write_pain001(second, make_header(), iter(lines), profile=UPPER, nb_of_txs=50,
                       ctrl_sum=sum(x.amount for x in lines))
    assert first.getvalue() == second.getvalue()
    assert r1 == r2
    assert r1.sha256 == hashlib.sha256(first.getvalue()).hexdigest()
    assert r1.size == len(first.getvalue())
    assert (r1.count, r1.total) == (50, sum(x.amount for x in lines))


# --- totals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("nb_of_txs", "ctrl_sum"), [
    (4, 4_500_003),   # one line fewer than announced
    (2, 4_500_003),   # one more
    (3, 4_500_004),   # sum off by one dong
], ids=["too-few", "too-many", "sum-off"])
def test_totals_mismatch_raises(nb_of_txs, ctrl_sum):
    lines = [make_line(i) for i in range(3)]
    with pytest.raises(PaymentFileTotalsError) as caught:
        write(lines, nb_of_txs=nb_of_txs, ctrl_sum=ctrl_sum)
    assert (caught.value.count, caught.value.total) == (3, 4_500_003)
    assert caught.value.expected_count == nb_of_txs
    assert "announces" in caught.value.detail


@pytest.mark.parametrize(("profile", "nb_of_txs", "ctrl_sum", "message"), [
    (PLAIN, 0, 1, "at least one"),
    (BankProfile("small", max_tx_per_file=2), 3, 4_500_003, "at most 2"),
    (PLAIN, 3, 10**18, "outside"),
])
def test_impossible_announced_totals_are_refused_before_writing(profile, nb_of_txs, ctrl_sum,
                                                                 message):
    out = io.BytesIO()
    with pytest.raises(ValueError, match=message):
        write_pain001(out, make_header(), [make_line(i) for i in range(3)], profile=profile,
                      nb_of_txs=nb_of_txs, ctrl_sum=ctrl_sum)
    assert out.getvalue() == b""


# --- model checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "error"), [
    ({"amount": 0}, ValueError),
    ({"amount": -5}, ValueError),
    ({"amount": 1.5}, TypeError),
    ({"amount": True}, TypeError),
    ({"end_to_end_id": "E" * 36}, ValueError),
    ({"end_to_end_id": ""}, ValueError),
    ({"creditor_bin": "97041"}, ValueError),
    ({"creditor_bic": "bftvvnvx"}, ValueError),
    ({"purpose": "SALA"}, ValueError),
    ({"creditor_name": "Tra\u0300n"}, ValueError),  # not NFC
    ({"creditor_name": "Trần\x00"}, ValueError),
    ({"remittance": "line\nbreak"}, ValueError),
    ({"creditor_account": "1" * 35}, ValueError),
])
def test_payment_line_refuses_bad_fields(changes, error):
    with pytest.raises(error):
        make_line(0, **changes)


@pytest.mark.parametrize("changes", [
    {"created_at": datetime(2026, 11, 20, 8, 0)},  # naive
    {"msg_id": "M" * 36},
    {"category_purpose": "SALA"},
    {"currency": "USD"},
    {"debtor_bin": "ABC123"},
])
def test_file_header_refuses_bad_fields(changes):
    with pytest.raises(ValueError):
        make_header(**changes)


def test_profile_refuses_unknown_csv_columns():
    with pytest.raises(ValueError, match="unknown CSV column"):
        BankProfile("x", layout="csv", csv_columns=("amount", "iban"))  # type: ignore[arg-type]


# --- splitting -------------------------------------------------------------------------------


def test_split_keeps_order_and_sizes():
    lines = [make_line(i) for i in range(7)]
    parts = list(split_lines(lines, 3))
    assert [len(part) for part in parts] == [3, 3, 1]
    assert [line for part in parts for line in part] == lines
    assert list(split_lines(lines, None)) == [lines]
    assert list(split_lines([], 3)) == []


def test_split_parts_give_totals_and_valid_files():
    lines = [make_line(i) for i in range(5)]
    for part in split_parts(lines, 2):
        header = header_for_part(make_header(), part.part_no)
        data = write(part.lines, header=header, nb_of_txs=part.nb_of_txs, ctrl_sum=part.ctrl_sum)
        assert validate_pain001(data) == []
        assert xpath(data, "//p:GrpHdr/p:MsgId/text()") == [header.msg_id]


@pytest.mark.parametrize(("base", "part_no", "expected"), [
    ("DSB-2026-11-79", 1, "DSB-2026-11-79-P001"),
    ("DSB-2026-11-79", 12, "DSB-2026-11-79-P012"),
    ("A" * 30, 2, "A" * 30 + "-P002"),
])
def test_derive_msg_id(base, part_no, expected):
    assert derive_msg_id(base, part_no) == expected


def test_derive_msg_id_long_bases_stay_short_and_distinct():
    first = derive_msg_id("B" * 34 + "1", 1)
    second = derive_msg_id("B" * 34 + "2", 1)
    assert len(first) <= 35 and len(second) <= 35
    assert first != second
    assert derive_msg_id("B" * 34 + "1", 1) == first  # deterministic
    assert len(derive_msg_id("C" * 35, 1234)) <= 35


# --- parsing back ----------------------------------------------------------------------------


def test_parse_round_trip():
    lines = [make_line(0), make_line(1, creditor_bic="BFTVVNVX", purpose="BENE")]
    summary, parsed = parse_pain001(write(lines, UPPER))
    assert summary.errors == ()
    assert (summary.msg_id, summary.nb_of_txs, summary.ctrl_sum) == (
        "DSB-2026-11-79-PENS-0001", 2, 3_000_001)
    assert (summary.counted_txs, summary.counted_sum) == (2, 3_000_001)
    assert [(p.end_to_end_id, p.amount, p.creditor_account, p.creditor_bin, p.creditor_bic,
             p.creditor_name, p.purpose, p.currency) for p in parsed] == [
        (lines[0].end_to_end_id, 1_500_000, "0000000000", "970415", None, "TRAN THI DAO", "PENS",
         "VND"),
        (lines[1].end_to_end_id, 1_500_001, "0000000001", None, "BFTVVNVX", "TRAN THI DAO",
         "BENE", "VND"),
    ]


def test_scan_counts_what_is_really_in_the_file():
    data = write([make_line(i) for i in range(3)])
    tampered = data.replace(b">1500001<", b">2500001<")
    summary = scan_pain001(tampered)
    assert summary.ctrl_sum == 4_500_003
    assert summary.counted_sum == 5_500_003
    assert summary.payment_infos[0].counted_sum == 5_500_003


@pytest.mark.parametrize(("data", "code"), [
    (b"<Document><unclosed></Document>", "xml_syntax"),
    (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
     b"<Document><x>&b;</x></Document>", "prolog_refused"),
    (b'<Document xmlns="urn:x"><CstmrCdtTrfInitn><GrpHdr><NbOfTxs>1</NbOfTxs></GrpHdr><PmtInf>'
     b"<CdtTrfTxInf><Amt><InstdAmt>12.5</InstdAmt></Amt></CdtTrfTxInf></PmtInf>"
     b"</CstmrCdtTrfInitn></Document>", "not_whole_number"),
], ids=["malformed", "entities", "fraction"])
def test_parse_reports_problems_as_data(data, code):
    summary, _lines = parse_pain001(data)
    assert code in {error.code for error in summary.errors}


LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE Document [<!ENTITY e0 "ha">'
          + b"".join(b'<!ENTITY e%d "%s">' % (i, b"&e%d;" % (i - 1) * 10) for i in range(1, 10))
          + b']>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">&e9;</Document>')


@pytest.mark.parametrize(("data", "problem"), [
    (b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- made by disburse -->\n<Document/>', None),
    (b"\xef\xbb\xbf<Document/>", None),
    (b"<!DOCTYPE Document><Document/>", "document type"),
    (b'<?xml version="1.0"?><!-- x --> <!DOCTYPE d SYSTEM "file:///etc/passwd"><d/>',
     "document type"),
    (b'<?xml version="1.0" encoding="UTF-16"?><Document/>', "UTF-8"),
    ("<Document/>".encode("utf-16"), "UTF-8"),
    (b"<?xml version='1.0'", "unterminated"),
    (LAUGHS, "document type"),
])
def test_prolog_check(data, problem):
    found = prolog_problem(data)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_validate_refuses_entity_bombs_before_libxml2_sees_them():
    # Fed to the validating parser this input crashes lxml 6.1 / libxml2 2.14 (segfault).
    assert validate_pain001(LAUGHS) == [
        "a document type declaration is not allowed in a payment file"]
    summary, lines = parse_pain001(LAUGHS)
    assert [e.code for e in summary.errors] == ["prolog_refused"] and lines == []


def test_validate_refuses_a_doctype_even_with_harmless_entities():
    data = write([make_line(0)]).replace(
        b"<Document", b'<!DOCTYPE Document [<!ENTITY big "1500000">]>\n<Document', 1)
    assert validate_pain001(data)


def test_validate_and_parse_read_streams_and_paths(tmp_path):
    data = write([make_line(i) for i in range(3)])
    target = tmp_path / "f.xml"
    target.write_bytes(data)
    assert validate_pain001(io.BytesIO(data)) == []
    assert validate_pain001(str(target)) == []
    assert scan_pain001(io.BytesIO(data)).counted_txs == 3
    assert len(parse_pain001(target)[1]) == 3


# --- bank CSV layout -------------------------------------------------------------------------


CSV_PROFILE = BankProfile(
    "csvbank", layout="csv", ascii_upper_names=True,  # type: ignore[arg-type]
    csv_columns=("end_to_end_id", "creditor_account", "creditor_bin", "creditor_name", "amount",
                 "remittance", "execution_date"),
)


def write_csv(lines: list[PaymentLine], profile: BankProfile = CSV_PROFILE, **totals: int) -> bytes:
    out = io.BytesIO()
    write_bank_csv(out, make_header(), lines, profile=profile,
                   nb_of_txs=totals.get("nb_of_txs", len(lines)),
                   ctrl_sum=totals.get("ctrl_sum", sum(line.amount for line in lines)))
    return out.getvalue()


def test_csv_layout_rows_header_and_trailer():
    lines = [make_line(0), make_line(1, creditor_name="Lê Văn Đông")]
    rows = list(csv.reader(io.StringIO(write_csv(lines).decode("utf-8"))))
    assert rows[0] == list(CSV_PROFILE.csv_columns)
    assert rows[1] == [lines[0].end_to_end_id, "0000000000", "970415", "TRAN THI DAO", "1500000",
                       "pension 2026-11", "2026-11-25"]
    assert rows[2][3] == "LE VAN DONG"
    assert rows[-1] == ["TOTAL", "2", "3000001"]
    assert len(rows) == 4


def test_csv_neutralises_formula_cells():
    hostile = make_line(0, creditor_name='=HYPERLINK("http://evil.example","x")',
                        remittance="+cmd|' /C calc'!A0")
    profile = dataclasses.replace(CSV_PROFILE, ascii_upper_names=False)
    rows = list(csv.reader(io.StringIO(write_csv([hostile], profile).decode("utf-8"))))
    assert rows[1][3] == '\'=HYPERLINK("http://evil.example","x")'
    assert rows[1][5] == "'+cmd|' /C calc'!A0"
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in rows[1])


def test_csv_uses_the_profile_delimiter_and_checks_totals():
    profile = dataclasses.replace(CSV_PROFILE, csv_delimiter=";")
    text = write_csv([make_line(0)], profile).decode("utf-8")
    assert text.splitlines()[-1] == "TOTAL;1;1500000"
    with pytest.raises(PaymentFileTotalsError):
        write_csv([make_line(0)], nb_of_txs=1, ctrl_sum=1_500_001)


def test_created_at_is_written_in_utc_without_microseconds():
    header = make_header(created_at=datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC))
    assert xpath(write([make_line(0)], header=header), "//p:CreDtTm/text()") == [
        "2026-01-02T03:04:05+00:00"]
