"""Text cells of files people open in a spreadsheet (CSV and XLSX exports, bank CSV files).

One rule for every export that may be opened in Excel or LibreOffice: the rejected-rows
workbook of a list import, the reconciliation and cashless reports, and a bank's CSV payment
layout. A cell that starts like a formula would run as one (CSV/formula injection, OWASP).
"""

from __future__ import annotations

import re
from typing import Final

#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
#: Control characters that XML 1.0, hence an XLSX worksheet, cannot hold (tab, LF, CR can).
_XML_ILLEGAL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def neutralize_cell(value: str) -> str:
    """Make a text cell safe to open in a spreadsheet (CSV/formula injection).

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with
    an apostrophe so that Excel and LibreOffice show it as text instead of running it. Apply it
    to text cells only: numbers should be written as numbers, not as "-1" text.

    Args:
        value: The text about to be written to an export.

    Returns:
        ``value``, or ``"'" + value`` when it could be read as a formula; a control character
        a worksheet cannot hold is written visibly as ``\\xNN``.
    """
    if not value.isprintable():
        value = _XML_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


__all__ = ["neutralize_cell"]
