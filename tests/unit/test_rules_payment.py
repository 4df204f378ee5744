"""Gender and channel words, phone numbers and the bank / e-wallet / cash payment target."""

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beneficiaries.columns import CHANNEL_WORDS, GENDER_WORDS
from beneficiaries.rules import (
    CHANNELS,
    RuleError,
    normalize_phone,
    parse_channel,
    parse_gender,
    validate_payment_target,
)


def codes(errors: list[RuleError]) -> list[str]:
    return [error.code for error in errors]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nam", "male"),
        ("NAM", "male"),
        (" nam ", "male"),
        ("M", "male"),
        ("male", "male"),
        ("Nữ", "female"),
        ("NỮ", "female"),
        (unicodedata.normalize("NFD", "Nữ"), "female"),
        ("nu", "female"),
        ("F", "female"),
        ("Female", "female"),
    ],
)
def test_parse_gender_accepts(raw, expected):
    assert parse_gender(raw) == (expected, [])


@pytest.mark.parametrize("word", sorted(GENDER_WORDS))
def test_parse_gender_knows_every_template_word(word):
    assert parse_gender(word.upper()) == (GENDER_WORDS[word], [])


@pytest.mark.parametrize(
    ("raw", "code"),
    [("", "gender_missing"), (None, "gender_missing"), ("  ", "gender_missing"),
     ("x", "gender_unknown"), ("nam nữ", "gender_unknown"), ("=1+1", "gender_unknown")],
)
def test_parse_gender_rejects(raw, code):
    value, errors = parse_gender(raw)
    assert value is None
    assert codes(errors) == [code]
    assert errors[0].field == "gender"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Chuyển khoản", "bank"),
        ("CHUYỂN KHOẢN", "bank"),
        (unicodedata.normalize("NFD", "chuyển khoản"), "bank"),
        ("chuyen  khoan", "bank"),
        ("Tài khoản", "bank"),
        ("tai khoan", "bank"),  # without diacritics, not in the template table itself
        ("bank", "bank"),
        ("Ví điện tử", "ewallet"),
        ("Vi Dien Tu", "ewallet"),
        ("ewallet", "ewallet"),
        ("Tiền mặt", "cash"),
        ("tien mat", "cash"),
        ("CASH", "cash"),
    ],
)
def test_parse_channel_accepts(raw, expected):
    assert parse_channel(raw) == (expected, [])


@pytest.mark.parametrize("word", sorted(CHANNEL_WORDS))
def test_parse_channel_knows_every_template_word(word):
    assert parse_channel(word.upper()) == (CHANNEL_WORDS[word], [])
    assert CHANNEL_WORDS[word] in CHANNELS


@pytest.mark.parametrize(
    ("raw", "code"),
    [("", "channel_missing"), (None, "channel_missing"), ("séc", "channel_unknown"),
     ("@SUM(A1)", "channel_unknown")],
)
def test_parse_channel_rejects(raw, code):
    value, errors = parse_channel(raw)
    assert value is None
    assert codes(errors) == [code]
    assert errors[0].field == "channel"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912345678", "0912345678"),
        ("0912 345 678", "0912345678"),
        ("0912.345.678", "0912345678"),
        ("0912-345-678", "0912345678"),
        ("(091) 234 5678", "0912345678"),
        ("+84912345678", "0912345678"),
        ("+84 912 345 678", "0912345678"),
        ("+84 0912 345 678", "0912345678"),
        ("0084912345678", "0912345678"),
        ("84912345678", "0912345678"),
        ("'0912345678", "0912345678"),
        ("0321234567", "0321234567"),
        ("0561234567", "0561234567"),
        ("0701234567", "0701234567"),
        ("0861234567", "0861234567"),
    ],
)
def test_normalize_phone_accepts(raw, expected):
    assert normalize_phone(raw) == (expected, [])


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_blank_phone_is_not_a_finding(raw):
    assert normalize_phone(raw) == (None, [])


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("912345678", "phone_leading_zero_lost"),
        ("091234567", "phone_shape"),
        ("09123456789", "phone_shape"),
        ("0212345678", "phone_shape"),  # 02x is a landline prefix
        ("02438123456", "phone_shape"),
        ("0112345678", "phone_shape"),
        ("+1 415 555 0100", "phone_shape"),
        ("9.12346E+08", "phone_shape"),
        ("091234567a", "phone_shape"),
    ],
)
def test_normalize_phone_rejects(raw, code):
    value, errors = normalize_phone(raw)
    assert value is None
    assert codes(errors) == [code]
    assert errors[0].field == "phone"


@given(st.sampled_from("35789"), st.integers(min_value=0, max_value=99_999_999))
def test_every_mobile_number_survives_any_usual_writing(second, rest):
    number = f"0{second}{rest:08d}"
    for written in (number, "+84" + number[1:], "84" + number[1:],
                    f"{number[:4]} {number[4:7]} {number[7:]}"):
        assert normalize_phone(written) == (number, [])


@pytest.mark.parametrize(
    ("channel", "bank_bin", "account", "expected"),
    [
        ("bank", "970436", "0123456789", ("970436", "0123456789")),
        ("bank", " 970436 ", "0011 2233 4455", ("970436", "001122334455")),
        ("bank", "970418", "123-456-789", ("970418", "123456789")),
        ("bank", "970405", "123456", ("970405", "123456")),
        ("bank", "970405", "1234567890123456789", ("970405", "1234567890123456789")),
        ("bank", "970405", "'000123456", ("970405", "000123456")),
        ("bank", "VCB", "0123456789", ("970436", "0123456789")),
        ("bank", "Vietcombank", "0123456789", ("970436", "0123456789")),
        ("bank", "mb bank", "0123456789", ("970422", "0123456789")),
        ("bank", "999888", "0123456789", ("999888", "0123456789")),
        ("ewallet", "971025", "0912345678", ("971025", "0912345678")),
        ("ewallet", "MoMo", "+84 912 345 678", ("971025", "0912345678")),
        ("ewallet", "971005", "84987654321", ("971005", "0987654321")),
        ("cash", None, None, (None, None)),
        ("cash", "", "", (None, None)),
        ("cash", "970436", "0123456789", (None, None)),  # ignored for cash
    ],
)
def test_validate_payment_target_accepts(channel, bank_bin, account, expected):
    assert validate_payment_target(channel, bank_bin, account) == (*expected, [])


@pytest.mark.parametrize(
    ("channel", "bank_bin", "account", "expected"),
    [
        ("bank", None, "0123456789", ["bin_missing"]),
        ("bank", "  ", "0123456789", ["bin_missing"]),
        ("bank", "970499", "0123456789", ["bin_unknown"]),
        ("bank", "97043", "0123456789", ["bin_unknown"]),
        ("bank", "Ngân hàng Ma", "0123456789", ["bin_unknown"]),
        ("bank", "970406", "0123456789", []),  # reused BIN: the current bank (Vikki)
        ("bank", "971025", "0123456789", ["bin_wrong_channel"]),
        ("ewallet", "970436", "0912345678", ["bin_wrong_channel"]),
        ("bank", "970436", None, ["account_missing"]),
        ("bank", "970436", "", ["account_missing"]),
        ("bank", "970436", "12345", ["account_shape"]),
        ("bank", "970436", "12345678901234567890", ["account_shape"]),
        ("bank", "970436", "0123.456.789", ["account_shape"]),
        ("bank", "970436", "1.23457E+13", ["account_shape"]),
        ("bank", "970436", "=HYPERLINK(1)", ["account_shape"]),
        ("ewallet", "971025", None, ["account_missing"]),
        ("ewallet", "971025", "912345678", ["wallet_shape"]),
        ("ewallet", "971025", "0212345678", ["wallet_shape"]),
        ("ewallet", "971025", "momo-user-1", ["wallet_shape"]),
        ("bank", None, None, ["bin_missing", "account_missing"]),
        ("ewallet", "970436", "abc", ["bin_wrong_channel", "wallet_shape"]),
        ("post", "970436", "0123456789", ["channel_unknown"]),
    ],
)
def test_validate_payment_target_rejects(channel, bank_bin, account, expected):
    bin_value, number, errors = validate_payment_target(channel, bank_bin, account)
    assert codes(errors) == expected
    if "bin" in " ".join(expected) or "channel" in " ".join(expected):
        assert bin_value is None
    if "account" in " ".join(expected) or "wallet" in " ".join(expected):
        assert number is None


def test_wrong_channel_names_the_bank_and_excel_damage_is_explained():
    _, _, (error,) = validate_payment_target("bank", "971025", "0123456789")
    assert "MoMo" in error.message_en and "ví điện tử" in error.message_vi
    _, _, (error,) = validate_payment_target("bank", "970436", "1.23457E+13")
    assert "Excel" in error.message_en and "Excel" in error.message_vi
    _, _, (error,) = validate_payment_target("ewallet", "971025", "912345678")
    assert "0" in error.message_en and "Excel" in error.message_vi
