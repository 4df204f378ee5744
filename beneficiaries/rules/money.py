"""Amounts in whole dong, as people write them in Vietnamese and English lists.

VND has no minor unit. ``1.500.000`` (Vietnamese thousands dot), ``1,500,000`` (English comma),
``1 500 000`` and ``1500000`` are all one million five hundred thousand dong; ``1.500`` and
``1,500`` are both 1500 because a group after a separator is always exactly three digits.
Parsing works on the digits as text and never goes through float.
"""

from __future__ import annotations

import re
from typing import Final

from beneficiaries.rules._cells import clean_cell, group_thousands, show
from beneficiaries.rules.errors import RuleError

FIELD: Final = "amount"
#: More digits than this cannot be a benefit (10^15 dong); refusing them early also keeps
#: ``int()`` away from hostile thousand-digit strings.
MAX_DIGITS: Final = 15

#: Currency written after (or before) the number, compared in lower case after NFKC.
_CURRENCY: Final = re.compile(r"^(?:vnđ|vnd)\s*|\s*(?:vnđ|vnd|đồng|dong|đ|₫)\.?$")
#: Thousands grouped with one separator used throughout: 1.500.000, 1,500,000, 1 500 000.
_GROUPED: Final = re.compile(r"[1-9][0-9]{0,2}(?P<g>[., ])[0-9]{3}(?:(?P=g)[0-9]{3})*")
#: ASCII digits only, or ``_GROUPED``: the common, unambiguous forms.
_PLAIN: Final = re.compile(r"[0-9]+|[1-9][0-9]{0,2}(?P<g>[., ])[0-9]{3}(?:(?P=g)[0-9]{3})*")
#: A plain or grouped whole part, then one decimal separator and a fraction.
_WITH_FRACTION: Final = re.compile(
    r"(?P<whole>[0-9]+|[1-9][0-9]{0,2}(?P<g>[., ])[0-9]{3}(?:(?P=g)[0-9]{3})*)"
    r"(?P<d>[.,])(?P<frac>[0-9]+)"
)
#: Longest fraction read as a decimal: three digits after a separator would be a group.
_MAX_FRACTION: Final = 2
#: A whole part this short could itself be the first group of a mistyped grouping ("1,5").
_AMBIGUOUS_WHOLE: Final = 3


def parse_vnd(raw: str | int, *, field: str = FIELD) -> tuple[int | None, list[RuleError]]:
    """Read a whole-dong amount.

    Accepted: ``1.500.000``, ``1,500,000``, ``1 500 000``, ``1500000``, with an optional
    ``đ`` / ``₫`` / ``VND`` / ``đồng``; a fraction of zeros (``1.500.000,00``) is accepted too.

    Args:
        raw: The cell value (an ``int`` from a typed source is taken as is).
        field: The list column, for the findings.

    Returns:
        The amount (None unless valid) and the findings: ``amount_missing``,
        ``amount_decimal`` (a real fraction: ``1500000.50``, ``1.500.000,50``),
        ``amount_format`` (mixed or ambiguous grouping: ``1.50.000``, ``1,5``, ``1,500.000``),
        ``amount_not_positive``, ``amount_out_of_bounds`` (more than 15 digits).
    """
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        return None, [_format_error(str(raw), field)]
    if isinstance(raw, int):
        return _positive(raw, field)
    if raw.isascii():
        # Digits, or thousands grouped by one separator, and nothing else: what the slow path
        # below would find after removing nothing (no currency, no sign, no fraction).
        plain = _PLAIN.fullmatch(raw.strip())
        if plain is not None:
            text = plain[0]
            amount = _to_int(text.replace(plain["g"], "") if plain["g"] else text, text, field)
            if isinstance(amount, RuleError):
                return None, [amount]
            return _positive(amount, field)
    text = clean_cell(raw).lower()
    if not text:
        return None, [RuleError(
            "amount_missing", field, "The amount is missing.", "Thiếu số tiền.")]
    body, negative = _strip_sign(_CURRENCY.sub("", text))
    amount = _parse_body(body.strip(), raw.strip(), field)
    if isinstance(amount, RuleError):
        return None, [amount]
    return _positive(-amount if negative else amount, field)


def _strip_sign(text: str) -> tuple[str, bool]:
    """Split off a sign: ``-``, the minus sign ``−``, ``+`` or accounting parentheses."""
    if text[:1] in ("-", "−"):
        return text[1:].lstrip(), True
    if text.startswith("(") and text.endswith(")"):
        return text[1:-1].strip(), True
    return text.removeprefix("+").lstrip(), False


def _parse_body(body: str, raw: str, field: str) -> int | RuleError:
    """Turn the unsigned number into an int, or say why it is not a whole amount."""
    if body.isascii() and body.isdigit():
        return _to_int(body, raw, field)
    match = _GROUPED.fullmatch(body)
    if match:
        return _to_int(body.replace(match["g"], ""), raw, field)
    match = _WITH_FRACTION.fullmatch(body)
    if match is None or match["g"] == match["d"] or len(match["frac"]) > _MAX_FRACTION:
        return _format_error(raw, field)
    whole = match["whole"]
    if match["g"] is None and len(whole) <= _AMBIGUOUS_WHOLE:
        return _format_error(raw, field)
    if match["frac"].strip("0"):
        return RuleError(
            "amount_decimal", field,
            f"The amount {show(raw)} has a fractional part; amounts are whole dong.",
            f"Số tiền {show(raw)} có phần lẻ thập phân; số tiền phải là số đồng nguyên.",
        )
    return _to_int(whole.replace(match["g"] or "", ""), raw, field)


def _to_int(digits: str, raw: str, field: str) -> int | RuleError:
    """Convert ASCII digits, refusing absurdly long numbers before ``int`` sees them."""
    if len(digits.lstrip("0")) > MAX_DIGITS:
        return RuleError(
            "amount_out_of_bounds", field,
            f"The amount {show(raw)} is far too large.",
            f"Số tiền {show(raw)} quá lớn.",
        )
    return int(digits)


def _format_error(raw: str, field: str) -> RuleError:
    """The finding for text that is not an amount written in a known way."""
    return RuleError(
        "amount_format", field,
        f"{show(raw)} is not an amount in whole dong; write for example 1.500.000 or 1500000.",
        f"{show(raw)} không phải là số tiền hợp lệ; hãy viết ví dụ 1.500.000 hoặc 1500000.",
    )


def _positive(amount: int, field: str) -> tuple[int | None, list[RuleError]]:
    """Pass a positive amount through; zero and negative amounts are findings."""
    if amount > 0:
        return amount, []
    return None, [RuleError(
        "amount_not_positive", field,
        f"The amount must be greater than zero (got {group_thousands(amount, ',')}).",
        f"Số tiền phải lớn hơn 0 (nhận được {group_thousands(amount, '.')}).",
    )]


def check_amount_bounds(
    amount: int, minimum: int, maximum: int, *, field: str = FIELD
) -> list[RuleError]:
    """Check an amount against a programme's limits, both inclusive.

    Args:
        amount: Whole dong.
        minimum: Smallest acceptable amount.
        maximum: Largest acceptable amount.
        field: The list column, for the finding.

    Returns:
        No finding, or ``amount_out_of_bounds`` naming the amount and the range.
    """
    if minimum <= amount <= maximum:
        return []
    return [RuleError(
        "amount_out_of_bounds", field,
        f"The amount {group_thousands(amount, ',')} VND is outside "
        f"{group_thousands(minimum, ',')}-{group_thousands(maximum, ',')} VND.",
        f"Số tiền {group_thousands(amount, '.')} đ nằm ngoài khoảng "
        f"{group_thousands(minimum, '.')}-{group_thousands(maximum, '.')} đ.",
    )]
