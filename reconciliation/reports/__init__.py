"""Auditor reports: what they hold (files, exceptions, a batch) and how they are written.

The same data goes out as a text table, JSON, CSV (UTF-8 with BOM), XLSX (sheets Tổng hợp,
Theo tỉnh, Theo xã, Ngoại lệ và từ chối, Tệp chi trả) or a PNG chart:

- :mod:`.columns`: the columns, their Vietnamese and English headers, and safe cells;
- :mod:`.queries`: what a report holds (payment files, exceptions, a batch);
- :mod:`.tables`: text tables and CSV;
- :mod:`.xlsx`: workbooks (openpyxl loads only when one is written);
- :mod:`.worklist`: the conversion worklist (one sheet per commune) and its trend;
- :mod:`.chart`: the PNG chart (matplotlib loads only when one is drawn).

The names are re-exported here, so callers keep using ``reconciliation.reports.<name>``.
"""

from reconciliation.reports.chart import cashless_png
from reconciliation.reports.columns import (
    BATCH_COLUMNS,
    EXCEPTION_COLUMNS,
    FIGURE_COLUMNS,
    FILE_COLUMNS,
    GROUP_COLUMNS,
    ISSUE_COLUMNS,
    MONEY_FORMAT,
    RATE_FORMAT,
    Column,
    cashless_columns,
    cashless_rows,
    cell,
    label,
)
from reconciliation.reports.queries import (
    MAX_EXCEPTIONS,
    batch_report,
    explain,
    open_exceptions,
    payment_files,
    rejections,
)
from reconciliation.reports.tables import (
    CASHLESS_TABLE_KEYS,
    CASHLESS_TEXT_WRITERS,
    batch_table,
    cashless_table,
    text_table,
    to_csv,
)
from reconciliation.reports.worklist import (
    WORKLIST_COLUMNS,
    trend_csv,
    trend_xlsx,
    worklist_csv,
    worklist_xlsx,
)
from reconciliation.reports.xlsx import batch_xlsx, cashless_xlsx, exceptions_xlsx

__all__ = [
    "BATCH_COLUMNS",
    "CASHLESS_TABLE_KEYS",
    "CASHLESS_TEXT_WRITERS",
    "EXCEPTION_COLUMNS",
    "FIGURE_COLUMNS",
    "FILE_COLUMNS",
    "GROUP_COLUMNS",
    "ISSUE_COLUMNS",
    "MAX_EXCEPTIONS",
    "MONEY_FORMAT",
    "RATE_FORMAT",
    "WORKLIST_COLUMNS",
    "Column",
    "batch_report",
    "batch_table",
    "batch_xlsx",
    "cashless_columns",
    "cashless_png",
    "cashless_rows",
    "cashless_table",
    "cashless_xlsx",
    "cell",
    "exceptions_xlsx",
    "explain",
    "label",
    "open_exceptions",
    "payment_files",
    "rejections",
    "text_table",
    "to_csv",
    "trend_csv",
    "trend_xlsx",
    "worklist_csv",
    "worklist_xlsx",
]
