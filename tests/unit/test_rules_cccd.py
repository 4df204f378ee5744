"""The 12-digit citizen ID: shape, province, century/gender digit and birth year."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beneficiaries.reference import load_cccd_provinces
from beneficiaries.rules import RuleError, cccd_birth_digits, decode_cccd_birth, validate_cccd

WOMAN_1985 = date(1985, 3, 14)


def codes(errors: list[RuleError]) -> list[str]:
    return [error.code for error in errors]


@pytest.mark.parametrize(
    ("dob", "gender", "digits"),
    [
        (date(1985, 3, 14), "male", "085"),
        (date(1985, 3, 14), "female", "185"),
        (date(1900, 1, 1), "male", "000"),
        (date(1999, 12, 31), "female", "199"),
        (date(2000, 1, 1), "male", "200"),
        (date(2007, 6, 1), "female", "307"),
        (date(2105, 1, 1), "male", "405"),
        (date(2199, 1, 1), "female", "599"),
        (date(2230, 1, 1), "male", "630"),
        (date(2230, 1, 1), "female", "730"),
        (date(1899, 5, 5), "male", "899"),
        (date(1845, 5, 5), "female", "945"),
    ],
)
def test_cccd_birth_digits(dob, gender, digits):
    assert cccd_birth_digits(dob, gender) == digits
    assert decode_cccd_birth("079" + digits + "000000") == (dob.year, gender)


@pytest.mark.parametrize(
    ("dob", "gender"), [(date(1799, 1, 1), "male"), (date(2300, 1, 1), "female"),
                        (date(1985, 1, 1), "other")],
)
def test_cccd_birth_digits_refuses_what_cannot_be_encoded(dob, gender):
    with pytest.raises(ValueError, match="cannot encode"):
        cccd_birth_digits(dob, gender)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("079185012345", "079185012345"),
        ("  079185012345  ", "079185012345"),
        ("\u00a0079185012345\t", "079185012345"),
        ("'079185012345", "079185012345"),  # Excel's text mark leaked into a CSV
        ("０７９１８５０１２３４５", "079185012345"),  # full-width digits
        ("001185999999", "001185999999"),
    ],
)
def test_valid_cccd(raw, expected):
    assert validate_cccd(raw, date_of_birth=WOMAN_1985, gender="female") == (expected, [])


def test_valid_cccd_without_row_data_is_only_shape_checked():
    assert validate_cccd("079085012345", date_of_birth=None, gender=None) == ("079085012345", [])


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "cccd_missing"),
        ("   ", "cccd_missing"),
        ("79185012345", "cccd_leading_zero_lost"),
        ("1185012345", "cccd_length"),
        ("0791850123456", "cccd_length"),
        ("123456789", "cccd_length"),
        ("97918501234", "cccd_length"),  # 11 digits but 097 is no province: not a lost zero
        ("1.23e+11", "cccd_excel_number"),
        ("7.91850E+10", "cccd_excel_number"),
        ("7,91850E+10", "cccd_excel_number"),
        ("79185012345.0", "cccd_excel_number"),
        ("079185012345.0", "cccd_excel_number"),
        ("079 185 012 345", "cccd_format"),
        ("07918501234X", "cccd_format"),
        ("=079185012345", "cccd_format"),
        ("٠79185012345", "cccd_format"),  # Arabic-Indic zero is not an ASCII digit
    ],
)
def test_malformed_cccd_is_rejected_never_repaired(raw, code):
    value, errors = validate_cccd(raw, date_of_birth=WOMAN_1985, gender="female")
    assert value is None
    assert codes(errors) == [code]


def test_lost_leading_zero_names_the_likely_province():
    _, (error,) = validate_cccd("79185012345", date_of_birth=None, gender=None)
    assert "079" in error.message_en
    assert "Hồ Chí Minh" in error.message_vi
    assert "0" in error.message_vi


def test_nine_digits_mentions_the_old_identity_card():
    _, (error,) = validate_cccd("123456789", date_of_birth=None, gender=None)
    assert "CMND" in error.message_en
    assert "CMND" in error.message_vi


def test_unknown_province():
    value, errors = validate_cccd("999185012345", date_of_birth=WOMAN_1985, gender="female")
    assert value == "999185012345"
    assert codes(errors) == ["cccd_unknown_province"]
    assert "999" in errors[0].message_en


@pytest.mark.parametrize(
    ("raw", "dob", "gender", "expected"),
    [
        ("079085012345", WOMAN_1985, "female", ["cccd_century_gender_mismatch"]),
        ("079185012345", WOMAN_1985, "male", ["cccd_century_gender_mismatch"]),
        ("079385012345", WOMAN_1985, "female", ["cccd_century_gender_mismatch"]),
        ("079285012345", WOMAN_1985, "male", ["cccd_century_gender_mismatch"]),
        ("079186012345", WOMAN_1985, "female", ["cccd_birth_year_mismatch"]),
        ("079186012345", WOMAN_1985, None, ["cccd_birth_year_mismatch"]),
        ("079085012345", None, "female", ["cccd_century_gender_mismatch"]),
        ("079185012345", None, "female", []),
        ("079185012345", WOMAN_1985, "unknown", []),  # gender errors come from parse_gender
        ("999086012345", WOMAN_1985, "female",
         ["cccd_unknown_province", "cccd_century_gender_mismatch"]),
        ("079900012345", date(1900, 1, 1), "male", ["cccd_century_gender_mismatch"]),
        ("079800012345", date(1800, 1, 1), "male", []),
    ],
)
def test_cross_check_with_date_of_birth_and_gender(raw, dob, gender, expected):
    value, errors = validate_cccd(raw, date_of_birth=dob, gender=gender)
    assert value == raw
    assert codes(errors) == expected


def test_century_gender_message_explains_the_digit():
    _, (error,) = validate_cccd("079085012345", date_of_birth=date(1985, 1, 1), gender="female")
    assert "(0)" in error.message_en
    assert "male" in error.message_en
    assert "nữ" in error.message_vi


@given(
    province=st.sampled_from(sorted(load_cccd_provinces())),
    dob=st.dates(min_value=date(1800, 1, 1), max_value=date(2299, 12, 31)),
    gender=st.sampled_from(["male", "female"]),
    serial=st.integers(min_value=0, max_value=999_999),
)
def test_every_well_built_cccd_is_accepted(province, dob, gender, serial):
    cccd = f"{province}{cccd_birth_digits(dob, gender)}{serial:06d}"
    assert validate_cccd(cccd, date_of_birth=dob, gender=gender) == (cccd, [])
    assert decode_cccd_birth(cccd) == (dob.year, gender)


@given(
    province=st.sampled_from(sorted(load_cccd_provinces())),
    dob=st.dates(min_value=date(1800, 1, 1), max_value=date(2299, 12, 31)),
    gender=st.sampled_from(["male", "female"]),
    serial=st.integers(min_value=0, max_value=999_999),
)
def test_dropping_the_leading_zero_is_always_caught(province, dob, gender, serial):
    cccd = f"{province}{cccd_birth_digits(dob, gender)}{serial:06d}"
    damaged = cccd.lstrip("0")
    value, errors = validate_cccd(damaged, date_of_birth=dob, gender=gender)
    assert value is None
    assert len(errors) == 1
    assert errors[0].code in {"cccd_leading_zero_lost", "cccd_length"}
    if len(damaged) == 11:
        assert errors[0].code == "cccd_leading_zero_lost"
