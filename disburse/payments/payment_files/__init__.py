"""Payment-file writers: pain.001.001.09, bank CSV layouts and the post-office cash list.

Pure writers over plain dataclasses (``model``): they stream, never build a document tree,
check the lines against the approved totals while writing, and return the SHA-256 and size of
the bytes for the manifest and the detached signature (``disburse.core.signing``).

The names below load on first use (PEP 562), so that importing one writer (or ``model``) does
not import openpyxl and lxml for the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from disburse.payments.payment_files.cash_list import write_cash_list
    from disburse.payments.payment_files.csv_layout import write_bank_csv
    from disburse.payments.payment_files.model import (
        BankProfile,
        FileHeader,
        Layout,
        PaymentFileTotalsError,
        PaymentLine,
        WriteResult,
    )
    from disburse.payments.payment_files.pain001 import write_pain001
    from disburse.payments.payment_files.parse import (
        FileHeaderSummary,
        ParsedLine,
        parse_pain001,
        scan_pain001,
        validate_pain001,
    )
    from disburse.payments.payment_files.split import (
        derive_msg_id,
        header_for_part,
        split_lines,
        split_parts,
    )

#: Public name -> the module that defines it.
_HOMES: dict[str, str] = {
    "BankProfile": "disburse.payments.payment_files.model",
    "FileHeader": "disburse.payments.payment_files.model",
    "FileHeaderSummary": "disburse.payments.payment_files.parse",
    "Layout": "disburse.payments.payment_files.model",
    "ParsedLine": "disburse.payments.payment_files.parse",
    "PaymentFileTotalsError": "disburse.payments.payment_files.model",
    "PaymentLine": "disburse.payments.payment_files.model",
    "WriteResult": "disburse.payments.payment_files.model",
    "derive_msg_id": "disburse.payments.payment_files.split",
    "header_for_part": "disburse.payments.payment_files.split",
    "parse_pain001": "disburse.payments.payment_files.parse",
    "scan_pain001": "disburse.payments.payment_files.parse",
    "split_lines": "disburse.payments.payment_files.split",
    "split_parts": "disburse.payments.payment_files.split",
    "validate_pain001": "disburse.payments.payment_files.parse",
    "write_bank_csv": "disburse.payments.payment_files.csv_layout",
    "write_cash_list": "disburse.payments.payment_files.cash_list",
    "write_pain001": "disburse.payments.payment_files.pain001",
}


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` when it is first read."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = [
    "BankProfile",
    "FileHeader",
    "FileHeaderSummary",
    "Layout",
    "ParsedLine",
    "PaymentFileTotalsError",
    "PaymentLine",
    "WriteResult",
    "derive_msg_id",
    "header_for_part",
    "parse_pain001",
    "scan_pain001",
    "split_lines",
    "split_parts",
    "validate_pain001",
    "write_bank_csv",
    "write_cash_list",
    "write_pain001",
]
