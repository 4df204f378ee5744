"""The 12-digit citizen identity number (CCCD / số định danh cá nhân).

Layout: 3 digits birth-registration province (the old 63-province table, not renumbered by the
2025 merger) + 1 digit century and gender + 2 digits birth year + 6 random digits. There is no
check digit, so the cross-check against date of birth and gender is the only content check.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from beneficiaries.reference import load_cccd_provinces
from beneficiaries.rules._cells import DIGITS, clean_cell, looks_like_excel_number
from beneficiaries.rules.errors import RuleError

FIELD: Final = "citizen_id"
CCCD_LENGTH: Final = 12
#: The old 9-digit identity card (CMND), replaced by the CCCD.
_CMND_LENGTH: Final = 9

#: Even 4th digit -> first year of the century; the odd digit after it is the same century,
#: female (0/1 = 1900s, 2/3 = 2000s, 4/5 = 2100s, 6/7 = 2200s, 8/9 = 1800s).
_CENTURY_BY_DIGIT: Final = {0: 1900, 2: 2000, 4: 2100, 6: 2200, 8: 1800}
_DIGIT_BY_CENTURY: Final = {century: digit for digit, century in _CENTURY_BY_DIGIT.items()}
_GENDER_OFFSET: Final = {"male": 0, "female": 1}
_GENDER_BY_OFFSET: Final = ("male", "female")
_GENDER_VI: Final = {"male": "nam", "female": "nữ"}


def cccd_birth_digits(date_of_birth: date, gender: str) -> str:
    """Return the 4th-6th digits a CCCD must have for this birth date and gender.

    Args:
        date_of_birth: The holder's date of birth (year 1800-2299).
        gender: ``"male"`` or ``"female"``.

    Returns:
        Three digits, e.g. ``"185"`` for a woman born in 1985.

    Raises:
        ValueError: The year or gender cannot be encoded (a programming error, not bad data).
    """
    century = date_of_birth.year // 100 * 100
    if century not in _DIGIT_BY_CENTURY or gender not in _GENDER_OFFSET:
        raise ValueError(f"cannot encode {date_of_birth.year} / {gender!r} in a CCCD")
    return f"{_DIGIT_BY_CENTURY[century] + _GENDER_OFFSET[gender]}{date_of_birth.year % 100:02d}"


def decode_cccd_birth(cccd: str) -> tuple[int, str]:
    """Return the birth year and gender encoded in a well-formed 12-digit CCCD.

    Args:
        cccd: Twelve ASCII digits.

    Returns:
        ``(year, gender)``, e.g. ``(1985, "female")`` for ``"079185012345"``.
    """
    digit = int(cccd[3])
    century = _CENTURY_BY_DIGIT[digit - digit % 2]
    return century + int(cccd[4:6]), _GENDER_BY_OFFSET[digit % 2]


def validate_cccd(
    raw: str, *, date_of_birth: date | None, gender: str | None
) -> tuple[str | None, list[RuleError]]:
    """Check a citizen ID and cross-check it with the row's date of birth and gender.

    Surrounding spaces, no-break spaces, full-width digits and a leading apostrophe (Excel's
    "this is text" mark, leaked into a CSV) are accepted. A number damaged by Excel is reported,
    never repaired: an 11-digit value is not silently given back its leading zero.

    Args:
        raw: The cell value.
        date_of_birth: The row's parsed date of birth, or None if it is missing or invalid.
        gender: ``"male"`` / ``"female"`` from ``parse_gender``, or None.

    Returns:
        The 12 digits whenever the input has that shape (even if a cross-check failed, so a
        report can show it) else None, and the findings: ``cccd_missing``, ``cccd_excel_number``,
        ``cccd_format``, ``cccd_leading_zero_lost``, ``cccd_length``, ``cccd_unknown_province``,
        ``cccd_century_gender_mismatch``, ``cccd_birth_year_mismatch``.
    """
    value = clean_cell(raw).removeprefix("'")
    shape_error = _shape_error(value)
    if shape_error is not None:
        return None, [shape_error]
    errors = _province_errors(value[:3])
    errors.extend(_birth_errors(value, date_of_birth, gender))
    return value, errors


def _shape_error(value: str) -> RuleError | None:
    """The single finding for a value that is not 12 digits, or None if it is."""
    if len(value) == CCCD_LENGTH and DIGITS.fullmatch(value):  # the common case first
        return None
    if not value:
        return RuleError("cccd_missing", FIELD, "The citizen ID is missing.", "Thiếu số CCCD.")
    if looks_like_excel_number(value):
        return RuleError(
            "cccd_excel_number", FIELD,
            "Excel stored the citizen ID as a number, which loses leading zeros or final "
            "digits. Format the column as Text and type the 12 digits again.",
            "Excel đã lưu số CCCD dưới dạng số nên mất số 0 ở đầu hoặc các chữ số cuối. "
            "Hãy định dạng cột là Văn bản (Text) và nhập lại đủ 12 chữ số.",
        )
    if not DIGITS.fullmatch(value):
        return RuleError(
            "cccd_format", FIELD,
            "The citizen ID must contain digits only.",
            "Số CCCD chỉ được chứa chữ số.",
        )
    return _length_error(value)


def _length_error(value: str) -> RuleError:
    """Explain a wrong number of digits, spotting the leading zero Excel drops."""
    provinces = load_cccd_provinces()
    padded_province = "0" + value[:2]
    if len(value) == CCCD_LENGTH - 1 and padded_province in provinces:
        name = provinces[padded_province]
        return RuleError(
            "cccd_leading_zero_lost", FIELD,
            "The citizen ID has 11 digits: its leading 0 was probably lost (Excel drops it). "
            f"The intended value is likely the same digits with a 0 in front (province "
            f"{padded_province}, {name}). Format the column as Text and correct it.",
            "Số CCCD chỉ có 11 chữ số: có lẽ đã mất số 0 ở đầu (Excel tự bỏ số 0). Giá trị "
            f"đúng có thể là chính các chữ số này thêm số 0 ở đầu (mã tỉnh {padded_province}, "
            f"{name}). Hãy định dạng cột là Văn bản (Text) và sửa lại.",
        )
    hint_en, hint_vi = "", ""
    if len(value) == _CMND_LENGTH:
        hint_en = " A 9-digit old identity card (CMND) number is not accepted."
        hint_vi = " Không dùng số CMND cũ 9 chữ số."
    return RuleError(
        "cccd_length", FIELD,
        f"The citizen ID has {len(value)} digits; it must have 12.{hint_en}",
        f"Số CCCD có {len(value)} chữ số; phải có đúng 12 chữ số.{hint_vi}",
    )


def _province_errors(code: str) -> list[RuleError]:
    """Findings for the three province digits."""
    if code in load_cccd_provinces():
        return []
    return [RuleError(
        "cccd_unknown_province", FIELD,
        f"The first three digits of the citizen ID ({code}) are not a province code.",
        f"Ba chữ số đầu của số CCCD ({code}) không phải là mã tỉnh.",
    )]


def _birth_errors(cccd: str, date_of_birth: date | None, gender: str | None) -> list[RuleError]:
    """Cross-check the century/gender digit and the year digits with the row."""
    year, card_gender = decode_cccd_birth(cccd)
    wrong_century = date_of_birth is not None and date_of_birth.year // 100 != year // 100
    wrong_gender = gender in _GENDER_OFFSET and gender != card_gender
    if wrong_century or wrong_gender:
        return [_century_gender_error(cccd, year, card_gender, date_of_birth, gender)]
    if date_of_birth is not None and date_of_birth.year != year:
        return [RuleError(
            "cccd_birth_year_mismatch", FIELD,
            f"Digits 5-6 of the citizen ID say born in {year}, but the date of birth is in "
            f"{date_of_birth.year}.",
            f"Chữ số thứ 5-6 của số CCCD cho biết năm sinh {year}, nhưng ngày sinh là năm "
            f"{date_of_birth.year}.",
        )]
    return []


def _century_gender_error(
    cccd: str, year: int, card_gender: str, date_of_birth: date | None, gender: str | None
) -> RuleError:
    """The finding for a 4th digit that disagrees with the row's century or gender."""
    century = year // 100 * 100
    row_en = [gender] if gender in _GENDER_OFFSET else []
    row_vi = [_GENDER_VI[gender]] if gender in _GENDER_OFFSET else []
    if date_of_birth is not None:
        row_en.append(f"born {date_of_birth.year}")
        row_vi.append(f"sinh năm {date_of_birth.year}")
    return RuleError(
        "cccd_century_gender_mismatch", FIELD,
        f"The 4th digit of the citizen ID ({cccd[3]}) means {card_gender}, born in the "
        f"{century}s, but the row says {', '.join(row_en)}.",
        f"Chữ số thứ 4 của số CCCD ({cccd[3]}) nghĩa là giới tính {_GENDER_VI[card_gender]}, "
        f"sinh trong thế kỷ {century}-{century + 99}, nhưng dòng này ghi {', '.join(row_vi)}.",
    )
