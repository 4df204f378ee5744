"""Dates of birth as lists write them, and age checks.

Day-first is the Vietnamese convention: ``01/02/1980`` is the 1st of February.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Final

from beneficiaries.rules._cells import clean_cell, show
from beneficiaries.rules.errors import RuleError

FIELD: Final = "date_of_birth"
#: Oldest plausible age; older means a typo in the year.
MAX_PLAUSIBLE_AGE: Final = 120

#: dd/mm/yyyy, d/m/yyyy, dd-mm-yyyy, dd.mm.yyyy (the same separator twice).
_DAY_FIRST: Final = re.compile(r"([0-9]{1,2})([/.-])([0-9]{1,2})\2([0-9]{4})")
#: yyyy-mm-dd, optionally with the time pandas adds when it prints a datetime cell as text.
_YEAR_FIRST: Final = re.compile(
    r"([0-9]{4})([/.-])([0-9]{1,2})\2([0-9]{1,2})"
    r"(?:[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
)
#: An Excel serial day number, possibly with a time-of-day fraction ("29221", "29221.5").
_SERIAL: Final = re.compile(r"([0-9]{1,7})(?:\.[0-9]+)?")
#: Excel's 1900 date system counts 1900-02-29, which never existed (serial 60): serials after
#: it are one day ahead, so they count from 1899-12-30 and earlier ones from 1899-12-31.
_EXCEL_EPOCH: Final = date(1899, 12, 30)
_EXCEL_EPOCH_BEFORE_BUG: Final = date(1899, 12, 31)
_EXCEL_FAKE_LEAP_DAY: Final = 60
_EXCEL_MAX_SERIAL: Final = 2_958_465  # 9999-12-31
#: A bare number in this range is a birth year, not a serial (serials 1800-2100 fall in
#: 1904-1905, an implausible birth date for anyone alive).
_YEAR_ONLY: Final = range(1800, 2101)


def parse_date(
    raw: str | date | datetime, *, today: date, field: str = FIELD
) -> tuple[date | None, list[RuleError]]:
    """Read a date from a list cell and refuse dates in the future.

    Accepted: a ``date`` / ``datetime`` (typed Excel cells), ``dd/mm/yyyy``, ``d/m/yyyy``,
    ``dd-mm-yyyy``, ``dd.mm.yyyy``, ``yyyy-mm-dd`` (with an optional time), and an Excel serial
    day number such as ``"29221"`` (1980-01-01), the 1900 leap-year bug handled.

    Args:
        raw: The cell value.
        today: The business date the future check is made against.
        field: The list column, for the findings.

    Returns:
        The date (None unless valid) and the findings: ``date_missing``, ``date_format``
        (unknown layout or impossible day), ``date_year_only``, ``date_in_future``.
    """
    parsed = _to_date(raw, field)
    if isinstance(parsed, RuleError):
        return None, [parsed]
    if parsed > today:
        return None, [RuleError(
            "date_in_future", field,
            f"The date {parsed:%d/%m/%Y} is in the future.",
            f"Ngày {parsed:%d/%m/%Y} nằm trong tương lai.",
        )]
    return parsed, []


def _to_date(raw: str | date | datetime, field: str) -> date | RuleError:
    """Turn any accepted form into a date, or say why it cannot be one."""
    if isinstance(raw, datetime):  # before date: datetime is a subclass of date
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = clean_cell(str(raw))
    if not text:
        return RuleError("date_missing", field, "The date is missing.", "Thiếu ngày.")
    match = _DAY_FIRST.fullmatch(text)
    if match:
        return _build(int(match[4]), int(match[3]), int(match[1]), text, field)
    match = _YEAR_FIRST.fullmatch(text)
    if match:
        return _build(int(match[1]), int(match[3]), int(match[4]), text, field)
    match = _SERIAL.fullmatch(text)
    if match:
        return _from_serial(int(match[1]), text, field)
    return _format_error(text, field)


def _build(year: int, month: int, day: int, text: str, field: str) -> date | RuleError:
    """Make the date, turning 31/02 and month 13 into a finding."""
    try:
        return date(year, month, day)
    except ValueError:
        return _format_error(text, field)


def _from_serial(serial: int, text: str, field: str) -> date | RuleError:
    """Convert an Excel 1900-system serial day number."""
    if serial in _YEAR_ONLY:
        return RuleError(
            "date_year_only", field,
            f"Only a year was given ({show(text)}); the full date dd/mm/yyyy is needed.",
            f"Chỉ có năm ({show(text)}); cần ghi đủ ngày theo dạng dd/mm/yyyy.",
        )
    if serial == 0 or serial == _EXCEL_FAKE_LEAP_DAY or serial > _EXCEL_MAX_SERIAL:
        return _format_error(text, field)
    epoch = _EXCEL_EPOCH_BEFORE_BUG if serial < _EXCEL_FAKE_LEAP_DAY else _EXCEL_EPOCH
    return epoch + timedelta(days=serial)


def _format_error(text: str, field: str) -> RuleError:
    """The finding for text that is not a date in a known layout."""
    return RuleError(
        "date_format", field,
        f"{show(text)} is not a valid date; write it as dd/mm/yyyy.",
        f"{show(text)} không phải là ngày hợp lệ; hãy ghi theo dạng dd/mm/yyyy.",
    )


def age_on(date_of_birth: date, on: date) -> int:
    """Return the age in completed years on a given day (a 29 February birthday counts on 1
    March in common years)."""
    before_birthday = (on.month, on.day) < (date_of_birth.month, date_of_birth.day)
    return on.year - date_of_birth.year - before_birthday


def check_age(
    date_of_birth: date,
    *,
    on: date,
    minimum: int | None,
    maximum: int | None,
    field: str = FIELD,
) -> list[RuleError]:
    """Check that the age on a day is plausible and within a programme's limits.

    Args:
        date_of_birth: The beneficiary's date of birth.
        on: The day the age is taken (e.g. the first day of the payment period).
        minimum: Youngest eligible age in completed years, or None.
        maximum: Oldest eligible age, or None.
        field: The list column, for the findings.

    Returns:
        The findings: ``age_implausible`` (born after ``on`` or older than 120),
        ``age_below_minimum``, ``age_above_maximum``.
    """
    age = age_on(date_of_birth, on)
    if age < 0 or age > MAX_PLAUSIBLE_AGE:
        return [RuleError(
            "age_implausible", field,
            f"A date of birth of {date_of_birth:%d/%m/%Y} gives an implausible age on "
            f"{on:%d/%m/%Y}.",
            f"Ngày sinh {date_of_birth:%d/%m/%Y} cho tuổi không hợp lý vào ngày {on:%d/%m/%Y}.",
        )]
    if minimum is not None and age < minimum:
        return [RuleError(
            "age_below_minimum", field,
            f"Age {age} on {on:%d/%m/%Y} is below the minimum of {minimum}.",
            f"Tuổi {age} vào ngày {on:%d/%m/%Y} thấp hơn mức tối thiểu {minimum}.",
        )]
    if maximum is not None and age > maximum:
        return [RuleError(
            "age_above_maximum", field,
            f"Age {age} on {on:%d/%m/%Y} is above the maximum of {maximum}.",
            f"Tuổi {age} vào ngày {on:%d/%m/%Y} cao hơn mức tối đa {maximum}.",
        )]
    return []
