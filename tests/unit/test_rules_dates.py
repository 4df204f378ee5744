"""Dates of birth from text, typed Excel cells and Excel serials; age checks."""

from datetime import date, datetime

import pytest

from beneficiaries.rules import RuleError, age_on, check_age, parse_date

TODAY = date(2025, 6, 15)


def codes(errors: list[RuleError]) -> list[str]:
    return [error.code for error in errors]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("14/03/1985", date(1985, 3, 14)),
        ("4/3/1985", date(1985, 3, 4)),
        ("01/02/1985", date(1985, 2, 1)),  # day first, the Vietnamese way
        ("14-03-1985", date(1985, 3, 14)),
        ("14.03.1985", date(1985, 3, 14)),
        ("1985-03-14", date(1985, 3, 14)),
        ("1985-03-14 00:00:00", date(1985, 3, 14)),  # pandas' text form of a datetime
        ("1985-03-14T08:30", date(1985, 3, 14)),
        ("1985/03/14", date(1985, 3, 14)),
        ("  14/03/1985 ", date(1985, 3, 14)),
        ("29/02/1984", date(1984, 2, 29)),
        ("15/06/2025", TODAY),
        (date(1985, 3, 14), date(1985, 3, 14)),
        (datetime(1985, 3, 14, 0, 0), date(1985, 3, 14)),
        (datetime(1985, 3, 14, 23, 59), date(1985, 3, 14)),
        # Excel serials, 1900 date system
        ("29221", date(1980, 1, 1)),
        ("29221.0", date(1980, 1, 1)),
        ("29221.75", date(1980, 1, 1)),
        ("31120", date(1985, 3, 14)),
        ("1", date(1900, 1, 1)),
        ("59", date(1900, 2, 28)),
        ("61", date(1900, 3, 1)),  # after Excel's fictitious 1900-02-29
        ("9000", date(1924, 8, 21)),
        ("45823", TODAY),
    ],
)
def test_parse_date_accepts(raw, expected):
    assert parse_date(raw, today=TODAY) == (expected, [])


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "date_missing"),
        ("  ", "date_missing"),
        ("31/02/1985", "date_format"),
        ("29/02/1985", "date_format"),
        ("14/13/1985", "date_format"),
        ("03/14/1985", "date_format"),  # month first is not a Vietnamese date
        ("14/03/85", "date_format"),  # two-digit year: century unknown
        ("14/03-1985", "date_format"),
        ("1985-02-30", "date_format"),
        ("14 tháng 3 năm 1985", "date_format"),
        ("0", "date_format"),
        ("60", "date_format"),  # 1900-02-29 never existed
        ("2958466", "date_format"),
        ("12345678", "date_format"),
        ("-29221", "date_format"),
        ("=TODAY()", "date_format"),
        ("1985", "date_year_only"),
        ("1945", "date_year_only"),
        ("16/06/2025", "date_in_future"),
        ("2099-01-01", "date_in_future"),
        ("45824", "date_in_future"),
        (date(2030, 1, 1), "date_in_future"),
    ],
)
def test_parse_date_rejects(raw, code):
    value, errors = parse_date(raw, today=TODAY)
    assert value is None
    assert codes(errors) == [code]
    assert errors[0].field == "date_of_birth"


def test_parse_date_names_the_bad_value():
    _, (error,) = parse_date("31/02/1985", today=TODAY, field="paid_on")
    assert error.field == "paid_on"
    assert "31/02/1985" in error.message_en
    assert "31/02/1985" in error.message_vi


@pytest.mark.parametrize(
    ("dob", "on", "age"),
    [
        (date(1985, 3, 14), date(2025, 3, 13), 39),
        (date(1985, 3, 14), date(2025, 3, 14), 40),
        (date(1984, 2, 29), date(2025, 2, 28), 40),
        (date(1984, 2, 29), date(2025, 3, 1), 41),
        (date(2025, 1, 1), date(2025, 1, 1), 0),
    ],
)
def test_age_on(dob, on, age):
    assert age_on(dob, on) == age


@pytest.mark.parametrize(
    ("dob", "minimum", "maximum", "expected"),
    [
        (date(1945, 1, 1), 80, None, []),
        (date(1945, 6, 15), 80, None, []),  # 80th birthday today
        (date(1945, 6, 16), 80, None, ["age_below_minimum"]),
        (date(2010, 1, 1), None, 15, []),
        (date(2009, 6, 15), None, 15, ["age_above_maximum"]),
        (date(1985, 1, 1), None, None, []),
        (date(1900, 1, 1), None, None, ["age_implausible"]),
        (date(2026, 1, 1), None, None, ["age_implausible"]),
        (date(1800, 1, 1), 60, 200, ["age_implausible"]),
    ],
)
def test_check_age(dob, minimum, maximum, expected):
    errors = check_age(dob, on=TODAY, minimum=minimum, maximum=maximum)
    assert codes(errors) == expected
    assert all(error.field == "date_of_birth" for error in errors)
