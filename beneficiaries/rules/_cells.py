"""Small helpers shared by the rules: cleaning a raw cell and spotting Excel damage."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

#: Invisible characters pasted in from web pages and Word; never meaningful in a cell.
#: (A regex, not ``str.translate``: translate with a dict costs a Python call per character.)
INVISIBLE: Final = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")

#: A whole number Excel wrote back as a float ("79123456789.0").
EXCEL_FLOAT: Final = re.compile(r"[0-9]+\.0+")
#: Excel's scientific notation, with a dot or a Vietnamese decimal comma ("7,91235E+10").
EXCEL_SCIENTIFIC: Final = re.compile(r"[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+")
#: ASCII digits only (``str.isdigit`` also accepts superscripts, which ``int`` rejects).
DIGITS: Final = re.compile(r"[0-9]+")

#: How much of a hostile or garbled value is echoed back in a message.
_SHOW_LIMIT: Final = 40


def clean_cell(raw: str) -> str:
    """Return ``raw`` stripped, with compatibility forms folded and invisible marks removed.

    NFKC turns full-width digits and no-break spaces into their plain forms, which is right for
    numbers and codes (not for names: those are stored NFC, see ``normalize_name``). ASCII input,
    the common case, skips the normalisation.
    """
    if not raw.isascii():
        raw = INVISIBLE.sub("", unicodedata.normalize("NFKC", raw))
    return raw.strip()


def looks_like_excel_number(value: str) -> bool:
    """Return True when ``value`` is a number Excel re-formatted (float or scientific)."""
    return bool(EXCEL_FLOAT.fullmatch(value) or EXCEL_SCIENTIFIC.fullmatch(value))


def show(value: str) -> str:
    """Quote a user value for a message, cut short so a hostile cell cannot flood a report."""
    if len(value) > _SHOW_LIMIT:
        value = value[: _SHOW_LIMIT - 1] + "…"
    return f"“{value}”"


def group_thousands(amount: int, separator: str) -> str:
    """Format a whole number with ``separator`` between groups of three digits."""
    return f"{amount:,}".replace(",", separator)
