"""Reports as text for a terminal and as CSV (UTF-8 with BOM, as Excel expects)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any, Final

from reconciliation.metrics import CashlessReport
from reconciliation.reports.columns import (
    BATCH_COLUMNS,
    EXCEPTION_COLUMNS,
    FIGURE_COLUMNS,
    FILE_COLUMNS,
    GROUP_COLUMNS,
    SCOPE_COLUMN,
    Column,
    cashless_columns,
    cashless_rows,
    cell,
    display,
    flat_figures,
)


def _text(column: Column, value: Any) -> str:
    if value is None:
        return "-"
    if column.kind == "rate":
        return f"{100 * value:.2f}%"
    if column.kind in ("count", "money"):
        return f"{value:,}"
    return str(display(column, value))


def text_table(columns: Sequence[Column], rows: Sequence[dict[str, Any]],
               lang: str = "en") -> str:
    """Return a plain-text table for a terminal, with a header row in ``lang`` (vi or en)."""
    heads = [c.vi if lang == "vi" else c.en for c in columns]
    cells = [heads] + [[_text(c, r.get(c.key)) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.rjust(w) if c.kind != "text" else v.ljust(w)
                               for v, w, c in zip(line, widths, columns, strict=True)).rstrip()
                     for line in cells)


CASHLESS_TABLE_KEYS: Final = ("active_beneficiaries", "account_coverage", "instructed_count",
                              "paid_count", "cashless_rate_count", "cashless_rate_amount",
                              "cash_share_count", "rejected_count", "returned_count",
                              "open_count", "target_met")


def cashless_table(report: CashlessReport, lang: str = "en") -> str:
    """Return the main figures of a cashless report as a text table (one labelled total row
    when it is not grouped)."""
    columns = [c for c in cashless_columns(report) if c.key in GROUP_COLUMNS
               or c.key == SCOPE_COLUMN.key or c.key in CASHLESS_TABLE_KEYS]
    return text_table(columns, cashless_rows(report), lang)


def to_csv(columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> bytes:
    """Return CSV in UTF-8 with BOM (as Excel expects): names shown, text cells neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.header for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c.key) is None else cell(display(c, row.get(c.key)))
                         for c in columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def batch_table(report: dict[str, Any], lang: str = "en") -> str:
    """Return a batch report as text: the batch, its figures, files and exceptions."""
    figures = flat_figures(report["figures"])
    parts = [text_table(BATCH_COLUMNS, [report["batch"]], lang),
             text_table([c for c in FIGURE_COLUMNS if c.key in CASHLESS_TABLE_KEYS], [figures],
                        lang),
             text_table(FILE_COLUMNS, report["files"], lang),
             text_table(EXCEPTION_COLUMNS[:8], report["exceptions"], lang)]
    return "\n\n".join(parts)


#: Writers of a cashless report by format (xlsx and png need more than the report).
CASHLESS_TEXT_WRITERS: Final[dict[str, Callable[[CashlessReport], bytes]]] = {
    "table": lambda r: (cashless_table(r) + "\n").encode("utf-8"),
    "csv": lambda r: to_csv(cashless_columns(r), cashless_rows(r)),
}
