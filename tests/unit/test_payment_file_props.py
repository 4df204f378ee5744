"""Property tests: what a payment file says equals what it holds, splits lose nothing, and a
file parsed back gives the instructions that were written."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from datetime import UTC, date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beneficiaries.rules import bank_form
from disburse.payments.payment_files import (
    BankProfile,
    FileHeader,
    PaymentLine,
    header_for_part,
    parse_pain001,
    split_parts,
    validate_pain001,
    write_bank_csv,
    write_pain001,
)

SETTINGS = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

VIETNAMESE_LETTERS = (
    "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụ"
    "ưừứửữựvxyỳýỷỹỵ"
)
LETTERS = VIETNAMESE_LETTERS + VIETNAMESE_LETTERS.upper()
HEADER = FileHeader(
    msg_id="PROP-2026-11", created_at=datetime(2026, 11, 20, 1, 0, tzinfo=UTC),
    initiating_party_name="Sở LĐ-TB&XH", initiating_party_id="SLD01", debtor_name="Sở LĐ-TB&XH",
    debtor_account="0011001234567", debtor_bin="970436", debtor_bic=None,
    requested_execution_date=date(2026, 11, 25), batch_id="B-1", payment_info_id="PI-1",
)

words = st.text(alphabet=LETTERS, min_size=1, max_size=8)
names = st.lists(words, min_size=1, max_size=4).map(
    lambda parts: unicodedata.normalize("NFC", " ".join(parts))).filter(lambda n: len(n) <= 140)
hostile_names = st.sampled_from(["O'Neil & <Co>", 'A "quoted" > name', "=cmd|' /C calc'!A0"])


@st.composite
def payment_lines(draw: st.DrawFn, max_size: int = 200) -> list[PaymentLine]:
    count = draw(st.integers(min_value=1, max_value=max_size))
    lines = []
    for i in range(count):
        lines.append(PaymentLine(
            end_to_end_id=f"E2E-{i:06d}-{draw(st.text('ABCXYZ0123456789', max_size=8))}",
            amount=draw(st.integers(min_value=1, max_value=10**12)),
            creditor_name=draw(st.one_of(names, hostile_names)),
            creditor_account=draw(st.text("0123456789", min_size=1, max_size=34)),
            creditor_bin=draw(st.sampled_from(["970436", "970415", "970418", "970405"])),
            creditor_bic=draw(st.sampled_from([None, None, "BFTVVNVX", "ASCBVNVX123"])),
            purpose=draw(st.sampled_from(["PENS", "BENE"])),
            remittance=draw(st.sampled_from(["pension 2026-11", "trợ cấp 11/2026 & <truy lĩnh>"])),
            province_code="79",
            commune_code=draw(st.sampled_from(["26734", "26737"])),
        ))
    return lines


profiles = st.builds(BankProfile, name=st.just("p"), ascii_upper_names=st.booleans())


def write(lines: list[PaymentLine], profile: BankProfile, header: FileHeader = HEADER) -> bytes:
    out = io.BytesIO()
    write_pain001(out, header, lines, profile=profile, nb_of_txs=len(lines),
                  ctrl_sum=sum(line.amount for line in lines))
    return out.getvalue()


@SETTINGS
@given(lines=payment_lines(), profile=profiles)
def test_header_totals_equal_the_lines_and_file_is_valid(lines, profile):
    data = write(lines, profile)
    summary, parsed = parse_pain001(data)
    assert summary.errors == ()
    assert summary.nb_of_txs == summary.counted_txs == len(lines) == len(parsed)
    assert summary.ctrl_sum == summary.counted_sum == sum(line.amount for line in lines)
    assert summary.payment_infos[0].nb_of_txs == len(lines)
    assert validate_pain001(data) == []


@SETTINGS
@given(lines=payment_lines(), profile=profiles)
def test_parsed_back_instructions_equal_the_written_ones(lines, profile):
    _summary, parsed = parse_pain001(write(lines, profile))
    expected = [
        (line.end_to_end_id, line.amount, line.creditor_account,
         None if line.creditor_bic else line.creditor_bin, line.creditor_bic,
         profile.bank_name(line.creditor_name), line.purpose, line.remittance, "VND")
        for line in lines
    ]
    assert [(p.end_to_end_id, p.amount, p.creditor_account, p.creditor_bin, p.creditor_bic,
             p.creditor_name, p.purpose, p.remittance, p.currency) for p in parsed] == expected


@SETTINGS
@given(lines=payment_lines(), max_per_file=st.integers(min_value=1, max_value=60))
def test_split_loses_and_duplicates_nothing(lines, max_per_file):
    seen: list[str] = []
    total = 0
    msg_ids = set()
    for part in split_parts(lines, max_per_file):
        assert 1 <= part.nb_of_txs <= max_per_file
        header = header_for_part(HEADER, part.part_no)
        msg_ids.add(header.msg_id)
        _summary, parsed = parse_pain001(write(part.lines, BankProfile("p"), header))
        assert _summary.ctrl_sum == part.ctrl_sum == sum(p.amount or 0 for p in parsed)
        seen += [p.end_to_end_id or "" for p in parsed]
        total += part.ctrl_sum
    assert seen == [line.end_to_end_id for line in lines]
    assert len(set(seen)) == len(seen)
    assert total == sum(line.amount for line in lines)
    assert len(msg_ids) == -(-len(lines) // max_per_file)  # one distinct MsgId per part


@SETTINGS
@given(lines=payment_lines(max_size=50), upper=st.booleans())
def test_csv_rows_equal_the_lines(lines, upper):
    profile = BankProfile("csv", layout="csv", ascii_upper_names=upper,  # type: ignore[arg-type]
                          csv_columns=("end_to_end_id", "creditor_account", "amount",
                                       "creditor_name"))
    out = io.BytesIO()
    result = write_bank_csv(out, HEADER, lines, profile=profile, nb_of_txs=len(lines),
                            ctrl_sum=sum(line.amount for line in lines))
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8"))))
    assert rows[-1] == ["TOTAL", str(len(lines)), str(result.total)]
    for row, line in zip(rows[1:-1], lines, strict=True):
        name = profile.bank_name(line.creditor_name)
        assert row[:3] == [line.end_to_end_id, line.creditor_account, str(line.amount)]
        assert row[3] in {name, "'" + name}


@SETTINGS
@given(name=names)
def test_bank_form_is_upper_ascii_and_idempotent(name):
    form = bank_form(name)
    assert form.isascii()
    assert form == form.upper()
    assert bank_form(form) == form
    assert len(form.split()) == len(name.split())


#: What a name may hold in a file for a bank profile with ``ascii_upper_names``: upper-case
#: ASCII letters, digits, single spaces and the SWIFT/EPC punctuation banks accept in pain.001.
BANK_NAME = re.compile(r"[A-Z0-9'\-.,()/+?:]+( [A-Z0-9'\-.,()/+?:]+)*")
ASCII_UPPER = BankProfile("upper", ascii_upper_names=True)


@settings(max_examples=500, deadline=None)
@given(name=st.text())
def test_any_unicode_name_gets_a_pure_upper_case_ascii_bank_name(name):
    form = ASCII_UPPER.bank_name(name)
    assert form == "" or BANK_NAME.fullmatch(form), form
    assert bank_form(form) == form
