"""Payment-file writers: pain.001.001.09, bank CSV layouts and the post-office cash list.

Pure writers over plain dataclasses (``model``): they stream, never build a document tree,
check the lines against the approved totals while writing, and return the SHA-256 and size of
the bytes for the manifest and the detached signature (``disburse.core.signing``).
"""

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
