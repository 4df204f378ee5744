"""Streaming writer for banks that take a CSV payment file instead of pain.001.

Layout: one header line with the column keys the bank's profile picks (in its order), one row
per transaction, then a trailer ``TOTAL<d><count><d><sum>`` (``<d>`` the profile's delimiter).
UTF-8 without BOM, CRLF line ends (RFC 4180). Text cells that a spreadsheet would run as a
formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) get a leading ``'``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import BinaryIO

from disburse.core.cells import neutralize_cell
from disburse.payments.payment_files.model import (
    BankProfile,
    FileHeader,
    HashingSink,
    PaymentFileTotalsError,
    PaymentLine,
    WriteResult,
)

_CHUNK = 4096

Cell = Callable[[FileHeader, PaymentLine, str], str]

# Each key maps (header, line, name in bank form) to the cell text.
COLUMNS: dict[str, Cell] = {
    "end_to_end_id": lambda h, line, name: line.end_to_end_id,
    "amount": lambda h, line, name: str(line.amount),
    "currency": lambda h, line, name: h.currency,
    "creditor_name": lambda h, line, name: name,
    "creditor_account": lambda h, line, name: line.creditor_account,
    "creditor_bin": lambda h, line, name: line.creditor_bin,
    "creditor_bic": lambda h, line, name: line.creditor_bic or "",
    "purpose": lambda h, line, name: line.purpose,
    "remittance": lambda h, line, name: line.remittance,
    "province_code": lambda h, line, name: line.province_code,
    "commune_code": lambda h, line, name: line.commune_code,
    "phone": lambda h, line, name: line.phone or "",
    "msg_id": lambda h, line, name: h.msg_id,
    "execution_date": lambda h, line, name: h.requested_execution_date.isoformat(),
    "debtor_account": lambda h, line, name: h.debtor_account,
}


def write_bank_csv(
    out: BinaryIO,
    header: FileHeader,
    lines: Iterable[PaymentLine],
    *,
    profile: BankProfile,
    nb_of_txs: int,
    ctrl_sum: int,
) -> WriteResult:
    """Write the bank's CSV layout for ``lines`` and check them against the batch totals.

    Args:
        out: a binary stream opened for writing; it is not closed.
        header: message data (MsgId, execution date, debtor account for those columns).
        lines: the transactions, consumed once, in order.
        profile: a CSV profile giving ``csv_columns`` and ``csv_delimiter``.
        nb_of_txs: the approved number of transactions.
        ctrl_sum: the approved sum in dong.

    Returns:
        The SHA-256 and size of the bytes written, and the count and sum of the lines.

    Raises:
        PaymentFileTotalsError: the lines did not add up to ``nb_of_txs``/``ctrl_sum``; the
            caller must discard the file.
        ValueError: the profile has no columns or the count exceeds its per-file limit.
    """
    if not profile.csv_columns:
        raise ValueError(f"profile {profile.name} has no csv_columns")
    if profile.max_tx_per_file is not None and nb_of_txs > profile.max_tx_per_file:
        raise ValueError(f"{profile.name} accepts at most {profile.max_tx_per_file} rows per file")
    sink = HashingSink(out)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=profile.csv_delimiter, lineterminator="\r\n")
    writer.writerow(profile.csv_columns)
    cells = [COLUMNS[key] for key in profile.csv_columns]
    count = total = 0
    for line in lines:
        count += 1
        total += line.amount
        name = profile.bank_name(line.creditor_name)
        writer.writerow([neutralize_cell(cell(header, line, name)) for cell in cells])
        if count % _CHUNK == 0:
            _flush(buffer, sink)
    writer.writerow(["TOTAL", count, total])
    _flush(buffer, sink)
    if count != nb_of_txs or total != ctrl_sum:
        raise PaymentFileTotalsError(
            expected_count=nb_of_txs, expected_sum=ctrl_sum, count=count, total=total
        )
    return sink.result(count, total)


def _flush(buffer: io.StringIO, sink: HashingSink) -> None:
    sink.write(buffer.getvalue())
    buffer.seek(0)
    buffer.truncate()
