"""Whole-dong amounts as lists write them, and programme bounds."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beneficiaries.rules import RuleError, check_amount_bounds, parse_vnd


def codes(errors: list[RuleError]) -> list[str]:
    return [error.code for error in errors]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.500.000", 1_500_000),
        ("1,500,000", 1_500_000),
        ("1500000", 1_500_000),
        ("1 500 000", 1_500_000),
        ("1\u00a0500\u00a0000", 1_500_000),  # no-break spaces from a formatted cell
        ("1\u202f500\u202f000", 1_500_000),  # narrow no-break spaces
        ("  1.500.000  ", 1_500_000),
        ("1.500.000đ", 1_500_000),
        ("1.500.000 đ", 1_500_000),
        ("1.500.000 ₫", 1_500_000),
        ("1,500,000 VND", 1_500_000),
        ("1500000vnd", 1_500_000),
        ("1.500.000 VNĐ", 1_500_000),
        ("1.500.000 đồng", 1_500_000),
        ("VND 1,500,000", 1_500_000),
        ("1.500", 1_500),  # Vietnamese thousands dot, not one and a half
        ("1,500", 1_500),
        ("500.000", 500_000),
        ("2.789.000", 2_789_000),
        ("1", 1),
        ("999", 999),
        ("+1.500.000", 1_500_000),
        ("1.500.000,00", 1_500_000),  # zero fraction is still whole dong
        ("1,500,000.00", 1_500_000),
        ("1500000.0", 1_500_000),
        ("１.５００.０００", 1_500_000),  # full-width digits
        (1_500_000, 1_500_000),
    ],
)
def test_parse_vnd_accepts(raw, expected):
    assert parse_vnd(raw) == (expected, [])


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "amount_missing"),
        ("   ", "amount_missing"),
        ("1500000.50", "amount_decimal"),
        ("1.500.000,50", "amount_decimal"),
        ("1,500,000.5", "amount_decimal"),
        ("1500,05", "amount_decimal"),
        ("1.50.000", "amount_format"),
        ("1,5", "amount_format"),  # decimal 1.5 or a typo for 1,500: ambiguous
        ("12.50", "amount_format"),
        ("1,500.000", "amount_format"),  # mixed separators with three-digit tail
        ("1.500,000", "amount_format"),
        ("1.500.0000", "amount_format"),
        ("15.00.000", "amount_format"),
        ("1.500,000.00", "amount_format"),
        ("1..500", "amount_format"),
        ("1.500.", "amount_format"),
        (".500", "amount_format"),
        ("0.500", "amount_format"),
        ("1  500", "amount_format"),
        ("1'500'000", "amount_format"),
        ("1.5E+6", "amount_format"),
        ("1,5 triệu", "amount_format"),
        ("abc", "amount_format"),
        ("đ", "amount_format"),
        ("=1500000", "amount_format"),
        ("1500000.123", "amount_format"),
        ("0", "amount_not_positive"),
        ("000", "amount_not_positive"),
        ("-1.500.000", "amount_not_positive"),
        ("−1.500.000", "amount_not_positive"),  # U+2212 minus sign
        ("(1.500.000)", "amount_not_positive"),
        ("- 500", "amount_not_positive"),
        (0, "amount_not_positive"),
        (-5, "amount_not_positive"),
        ("9" * 16, "amount_out_of_bounds"),
        ("9" * 5000, "amount_out_of_bounds"),  # must not hit int()'s digit limit
        (True, "amount_format"),
    ],
)
def test_parse_vnd_rejects(raw, code):
    value, errors = parse_vnd(raw)
    assert value is None
    assert codes(errors) == [code]
    assert errors[0].field == "amount"


def test_parse_vnd_names_the_value_and_takes_a_field():
    _, (error,) = parse_vnd("1.500.000,50", field="coefficient")
    assert error.field == "coefficient"
    assert "1.500.000,50" in error.message_en
    assert "1.500.000,50" in error.message_vi


def test_parse_vnd_never_returns_a_float():
    value, _ = parse_vnd("1.500.000")
    assert type(value) is int


def test_hostile_text_is_cut_short_in_messages():
    _, (error,) = parse_vnd("x" * 10_000)
    assert len(error.message_en) < 200


amounts = st.integers(min_value=1, max_value=10**15 - 1)


@given(amounts)
def test_parse_vnd_round_trips_dot_grouping(amount):
    assert parse_vnd(f"{amount:,}".replace(",", ".")) == (amount, [])


@given(amounts)
def test_parse_vnd_round_trips_comma_grouping(amount):
    assert parse_vnd(f"{amount:,}") == (amount, [])


@given(amounts)
def test_parse_vnd_round_trips_plain_and_space_grouping(amount):
    assert parse_vnd(str(amount)) == (amount, [])
    assert parse_vnd(f"{amount:,}".replace(",", " ") + " đ") == (amount, [])


@given(amounts, st.integers(min_value=1, max_value=99))
def test_parse_vnd_never_accepts_a_real_fraction(amount, cents):
    grouped = f"{amount:,}".replace(",", ".")
    value, errors = parse_vnd(f"{grouped},{cents:02d}")
    assert value is None
    assert codes(errors) in (["amount_decimal"], ["amount_format"])


@pytest.mark.parametrize(
    ("amount", "minimum", "maximum", "expected"),
    [
        (500_000, 500_000, 5_000_000, []),
        (5_000_000, 500_000, 5_000_000, []),
        (1_500_000, 500_000, 5_000_000, []),
        (499_999, 500_000, 5_000_000, ["amount_out_of_bounds"]),
        (5_000_001, 500_000, 5_000_000, ["amount_out_of_bounds"]),
    ],
)
def test_check_amount_bounds(amount, minimum, maximum, expected):
    assert codes(check_amount_bounds(amount, minimum, maximum)) == expected


def test_bounds_message_formats_amounts_per_language():
    (error,) = check_amount_bounds(6_000_000, 500_000, 5_000_000)
    assert "6,000,000" in error.message_en
    assert "6.000.000" in error.message_vi
    assert "500.000-5.000.000" in error.message_vi
