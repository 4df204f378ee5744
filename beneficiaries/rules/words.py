"""Gender and payment channel words, in Vietnamese (with or without diacritics) and English."""

from __future__ import annotations

import unicodedata
from typing import Final

from beneficiaries.columns import CHANNEL_WORDS, GENDER_WORDS
from beneficiaries.rules._cells import show
from beneficiaries.rules.errors import RuleError
from beneficiaries.rules.text import bank_form


def _lookup_table(words: dict[str, str]) -> dict[str, str]:
    """Index the words by their NFC lower-case form and by their form without diacritics.

    The folded form lets "NỮ", "nữ" typed in NFD and "Tien mat" all match; a folded key that
    would point at two different values is left out rather than guessed.
    """
    table = {unicodedata.normalize("NFC", word).casefold(): value for word, value in words.items()}
    folded: dict[str, str | None] = {}
    for word, value in table.items():
        key = bank_form(word).casefold()
        folded[key] = value if folded.get(key, value) == value else None
    for key, folded_value in folded.items():
        if folded_value is not None:
            table.setdefault(key, folded_value)
    return table


_GENDERS: Final = _lookup_table(GENDER_WORDS)
_CHANNELS: Final = _lookup_table(CHANNEL_WORDS)
#: The normalised channel codes.
CHANNELS: Final = frozenset(CHANNEL_WORDS.values())


def _word_key(raw: str) -> str:
    """NFC, case-folded, single-spaced form of a cell."""
    if not raw.isascii():
        raw = unicodedata.normalize("NFC", raw)
    return " ".join(raw.casefold().split())


#: Cells already read successfully, by table: a list repeats a handful of spellings.
_FOUND: Final[dict[int, dict[str, tuple[str, str]]]] = {}
_FOUND_MAX: Final = 4096


def _lookup(raw: str | None, table: dict[str, str]) -> tuple[str | None, str]:
    """Return (value, key) for a cell; value is None when the word is not in the table."""
    found = _FOUND.setdefault(id(table), {})
    if raw is not None:
        hit = found.get(raw)
        if hit is not None:
            return hit
    key = _word_key(raw or "")
    value = table.get(key)
    if value is None and key and not key.isascii():
        value = table.get(bank_form(key).casefold())
    if value is not None and raw is not None and len(found) < _FOUND_MAX:
        found[raw] = (value, key)
    return value, key


def parse_gender(raw: str | None) -> tuple[str | None, list[RuleError]]:
    """Read a gender cell ("Nam", "Nữ", "nu", "M", "female" ...).

    Args:
        raw: The cell value.

    Returns:
        ``"male"`` / ``"female"`` (None unless known) and the findings: ``gender_missing``,
        ``gender_unknown``.
    """
    value, key = _lookup(raw, _GENDERS)
    if value is not None:
        return value, []
    if not key:
        return None, [RuleError(
            "gender_missing", "gender", "The gender is missing.", "Thiếu giới tính.")]
    return None, [RuleError(
        "gender_unknown", "gender",
        f"Unknown gender {show(key)}; write Nam or Nữ (male or female).",
        f"Giới tính {show(key)} không hợp lệ; hãy ghi Nam hoặc Nữ.",
    )]


def parse_channel(raw: str | None) -> tuple[str | None, list[RuleError]]:
    """Read a payment channel cell ("Chuyển khoản", "ví điện tử", "Tiền mặt", "bank" ...).

    Args:
        raw: The cell value.

    Returns:
        ``"bank"`` / ``"ewallet"`` / ``"cash"`` (None unless known) and the findings:
        ``channel_missing``, ``channel_unknown``.
    """
    value, key = _lookup(raw, _CHANNELS)
    if value is not None:
        return value, []
    if not key:
        return None, [RuleError(
            "channel_missing", "channel",
            "The payment channel is missing.", "Thiếu hình thức nhận tiền.")]
    return None, [RuleError(
        "channel_unknown", "channel",
        f"Unknown payment channel {show(key)}; write bank transfer, e-wallet or cash.",
        f"Hình thức nhận {show(key)} không hợp lệ; hãy ghi Chuyển khoản, Ví điện tử hoặc "
        "Tiền mặt.",
    )]
