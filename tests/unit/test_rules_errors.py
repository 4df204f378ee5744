"""The contract every finding keeps: stable codes, known fields, two languages, no exceptions."""

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beneficiaries.columns import LIST_COLUMNS
from beneficiaries.rules import (
    RuleError,
    Severity,
    check_age,
    check_amount_bounds,
    compare_holder_name,
    has_blocking,
    normalize_phone,
    parse_channel,
    parse_date,
    parse_gender,
    parse_vnd,
    validate_cccd,
    validate_name,
    validate_payment_target,
)

TODAY = date(2025, 6, 15)
SNAKE = re.compile(r"[a-z]+(?:_[a-z0-9]+)*")
#: Letters only Vietnamese uses: each Vietnamese message should carry at least one.
VIETNAMESE = re.compile(r"[ăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ]",
                        re.IGNORECASE)


def sample_findings() -> list[RuleError]:
    findings: list[RuleError] = []
    findings += validate_cccd("79185012345", date_of_birth=None, gender=None)[1]
    findings += validate_cccd("123", date_of_birth=None, gender=None)[1]
    findings += validate_cccd("1.2E+11", date_of_birth=None, gender=None)[1]
    findings += validate_cccd("07918501234x", date_of_birth=None, gender=None)[1]
    findings += validate_cccd("", date_of_birth=None, gender=None)[1]
    findings += validate_cccd("999085012345", date_of_birth=date(1986, 1, 1), gender="female")[1]
    findings += validate_cccd("079185012345", date_of_birth=date(1986, 1, 1), gender="female")[1]
    for raw in ("", "1,5", "1500000.50", "0", "9" * 20):
        findings += parse_vnd(raw)[1]
    findings += check_amount_bounds(1, 2, 3)
    for raw in ("", "31/02/2000", "1980", "01/01/2099"):
        findings += parse_date(raw, today=TODAY)[1]
    findings += check_age(date(1800, 1, 1), on=TODAY, minimum=None, maximum=None)
    findings += check_age(date(2000, 1, 1), on=TODAY, minimum=60, maximum=None)
    findings += check_age(date(1900, 6, 16), on=TODAY, minimum=None, maximum=100)
    findings += validate_name("")[1] + validate_name("A1" * 60)[1]
    findings += compare_holder_name("Nguyễn Văn An", "AN VAN NGUYEN")
    findings += compare_holder_name("Nguyễn Văn An", "TRAN THI BINH")
    findings += parse_gender("")[1] + parse_gender("?")[1]
    findings += parse_channel("")[1] + parse_channel("?")[1]
    findings += normalize_phone("912345678")[1] + normalize_phone("1")[1]
    findings += validate_payment_target("post", None, None)[2]
    findings += validate_payment_target("bank", None, None)[2]
    findings += validate_payment_target("bank", "1", "1")[2]
    findings += validate_payment_target("ewallet", "970436", "1")[2]
    return findings


FINDINGS = sample_findings()


def test_the_sample_covers_many_codes():
    assert len({finding.code for finding in FINDINGS}) >= 35


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda finding: finding.code)
def test_finding_contract(finding):
    assert isinstance(finding, RuleError)
    assert SNAKE.fullmatch(finding.code)
    assert finding.field in LIST_COLUMNS
    assert finding.message_en.strip() and finding.message_vi.strip()
    assert finding.message_en != finding.message_vi
    assert VIETNAMESE.search(finding.message_vi), finding.message_vi
    assert finding.severity in (Severity.ERROR, Severity.REVIEW)


def test_findings_are_immutable_values():
    finding = FINDINGS[0]
    with pytest.raises(AttributeError):
        finding.code = "other"  # type: ignore[misc]
    assert finding == RuleError(finding.code, finding.field, finding.message_en,
                                finding.message_vi, finding.severity)


def test_review_findings_do_not_block():
    review = compare_holder_name("Nguyễn Văn An", "AN VAN NGUYEN")
    error = compare_holder_name("Nguyễn Văn An", "TRAN THI BINH")
    assert not has_blocking(review) and not review[0].blocking
    assert has_blocking(error) and error[0].blocking
    assert not has_blocking([])


@given(st.text(max_size=60))
def test_no_rule_raises_on_any_text(text):
    validate_cccd(text, date_of_birth=TODAY, gender="male")
    parse_vnd(text)
    parse_date(text, today=TODAY)
    validate_name(text)
    compare_holder_name(text, text[::-1])
    parse_gender(text)
    parse_channel(text)
    normalize_phone(text)
    validate_payment_target("bank", text, text)
    validate_payment_target("ewallet", text, text)
