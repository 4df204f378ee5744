"""Names, the bank form and holder-name comparison."""

import string
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beneficiaries.rules import (
    Severity,
    bank_form,
    compare_holder_name,
    normalize_name,
    validate_name,
)
from beneficiaries.rules.text import BANK_FORM_PUNCTUATION


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nguyễn Thị Đào", "Nguyễn Thị Đào"),
        ("  Nguyễn   Thị\tĐào  ", "Nguyễn Thị Đào"),
        (nfd("Nguyễn Thị Đào"), "Nguyễn Thị Đào"),
        ("Trần\u00a0Văn\u200bAn", "Trần VănAn"),
        ("Lê\u3000Văn Tám\n", "Lê Văn Tám"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_normalize_name(raw, expected):
    result = normalize_name(raw)
    assert result == expected
    assert unicodedata.is_normalized("NFC", result)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nguyễn Thị Đào", "NGUYEN THI DAO"),
        (nfd("Nguyễn Thị Đào"), "NGUYEN THI DAO"),
        ("đặng đức đông", "DANG DUC DONG"),
        ("ĐỖ ĐÌNH ĐẠT", "DO DINH DAT"),
        ("Ðinh Văn Ðức", "DINH VAN DUC"),  # eth from legacy encodings
        ("  Phạm   Hữu\u00a0Quý ", "PHAM HUU QUY"),
        ("H'Hen Niê", "H'HEN NIE"),
        ("Ｎｇｕｙｅｎ", "NGUYEN"),  # full-width letters
        ("ＮＧＵＹＥＮ Ａｎ", "NGUYEN AN"),  # issue 12: one copy of the rule kept these
        ("Lê Thị Ø", "LE THI O"),  # issue 12: no decomposition, transliterated
        ("Søren Æbeltoft", "SOREN AEBELTOFT"),
        ("Œlle Łukasz", "OELLE LUKASZ"),
        ("H\u2019Hen Niê", "H'HEN NIE"),  # a curly apostrophe is written as ASCII
        ("Nguyễn_Văn&An@x", "NGUYEN VAN AN X"),  # punctuation a bank refuses: a space
        ("Trần (Văn) A.-B, C/D+E?F:G", "TRAN (VAN) A.-B, C/D+E?F:G"),  # what a bank accepts
        ("李 Văn", "VAN"),  # no ASCII form: dropped
        ("ﬁ ß", "FI SS"),
        ("tran\x00van\x1bb", "TRANVANB"),
        ("nguyen van a", "NGUYEN VAN A"),
        ("", ""),
        # the cases of the payment files' former copy of this rule
        ("Trần Thị Đào", "TRAN THI DAO"),
        ("Nguyễn Văn Đức", "NGUYEN VAN DUC"),
        ("Lê  Thị   Ánh  Tuyết", "LE THI ANH TUYET"),
        ("đặng hữu phước", "DANG HUU PHUOC"),
        ("Hoàng Thị Thuỳ Dương", "HOANG THI THUY DUONG"),
        ("Nguye\u0302\u0303n Văn A", "NGUYEN VAN A"),  # decomposed input
    ],
)
def test_bank_form(raw, expected):
    assert bank_form(raw) == expected


@given(st.text())
def test_bank_form_is_always_ascii_upper_case(text):
    result = bank_form(text)
    assert result.isascii()
    assert result == result.upper()
    assert result == result.strip()
    assert "  " not in result
    assert set(result) <= set(string.ascii_uppercase + string.digits + " " + BANK_FORM_PUNCTUATION)


@pytest.mark.parametrize(
    ("raw", "codes"),
    [
        ("Nguyễn Văn An", []),
        ("H'Hen Niê", []),
        ("Nguyễn Văn A.", []),
        ("Hoàng-Long Phạm", []),
        ("", ["name_empty"]),
        ("  \u200b ", ["name_empty"]),
        ("Nguyễn Văn 2", ["name_characters"]),
        ("=cmd|' /C calc'!A0", ["name_characters"]),
        ("Trần_Văn", ["name_characters"]),
        ("A" * 101, ["name_too_long"]),
    ],
)
def test_validate_name(raw, codes):
    name, errors = validate_name(raw)
    assert [error.code for error in errors] == codes
    assert all(error.field == "full_name" for error in errors)
    assert (name is None) == ("name_empty" in codes)


def test_validate_name_reports_its_field_and_the_bad_characters():
    _, errors = validate_name("Lê Văn 7#", field="account_holder")
    assert errors[0].field == "account_holder"
    assert "7" in errors[0].message_en
    assert "#" in errors[0].message_vi


@pytest.mark.parametrize(
    ("full_name", "holder"),
    [
        ("Nguyễn Thị Đào", "NGUYEN THI DAO"),
        ("Nguyễn Thị Đào", nfd("nguyễn thị đào")),
        ("Nguyễn Thị Đào", "  Nguyen  Thi Dao "),
        ("H'Hen Niê", "HHEN NIE"),
        ("Nguyễn Văn A.", "NGUYEN VAN A"),
        ("Nguyễn Văn An", ""),  # no holder given: nothing to compare
    ],
)
def test_compare_holder_name_matches(full_name, holder):
    assert compare_holder_name(full_name, holder) == []


def test_compare_holder_name_token_order_is_a_review():
    (finding,) = compare_holder_name("Nguyễn Thị Đào", "DAO NGUYEN THI")
    assert finding.code == "holder_name_token_order"
    assert finding.severity is Severity.REVIEW
    assert finding.field == "account_holder"


@pytest.mark.parametrize(
    ("full_name", "holder"),
    [
        ("Nguyễn Thị Đào", "NGUYEN THI DAU"),  # one letter off: still an error, never accepted
        ("Nguyễn Thị Đào", "NGUYEN THI"),
        ("Nguyễn Thị Đào", "TRAN VAN BINH"),
        ("Nguyễn Thị Đào", "NGUYEN THI DAO DAO"),
    ],
)
def test_compare_holder_name_mismatch_is_an_error_with_similarity(full_name, holder):
    (finding,) = compare_holder_name(full_name, holder)
    assert finding.code == "holder_name_mismatch"
    assert finding.severity is Severity.ERROR
    assert "%" in finding.message_en
    assert "%" in finding.message_vi
