"""Auditor reports: what they hold (files, exceptions, a batch) and how they are written.

The same data goes out as a text table, JSON, CSV (UTF-8 with BOM), XLSX (sheets Tổng hợp,
Theo xã, Ngoại lệ, Tệp chi trả) or a PNG chart. Headers are Vietnamese first with English in
brackets; text cells that a spreadsheet could run as a formula are neutralised; numbers stay
numbers (money with a thousands format, rates as percentages). The PNG is drawn without
pyplot's global state and carries no software or time metadata, so the same data gives the
same bytes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from beneficiaries.localities import province_names
from beneficiaries.programmes import PROGRAMMES
from disburse.core.cells import neutralize_cell
from disburse.payments.models import Instruction, PaymentFile
from disburse.payments.service import batch_summary
from reconciliation.metrics import CashlessReport, MetricsFilter, cashless_report

#: Exceptions a report lists at most (the queue is small by design; the API pages further).
MAX_EXCEPTIONS: Final = 10_000
MONEY_FORMAT: Final = "#,##0"
RATE_FORMAT: Final = "0.00%"


@dataclass(frozen=True)
class Column:
    """One column of an export: the data key, its headers and how to show the value."""

    key: str
    vi: str
    en: str
    kind: str = "text"  # text | count | money | rate

    @property
    def header(self) -> str:
        """Vietnamese first, English in brackets."""
        return f"{self.vi} ({self.en})"


def _c(key: str, vi: str, en: str, kind: str = "text") -> Column:
    return Column(key, vi, en, kind)


GROUP_COLUMNS: Final = {
    "programme": _c("programme", "Chương trình", "Programme"),
    "province": _c("province", "Tỉnh/thành phố", "Province"),
    "commune": _c("commune", "Xã/phường", "Commune"),
    "period": _c("period", "Kỳ chi trả", "Period"),
}
FIGURE_COLUMNS: Final = (
    _c("active_beneficiaries", "Người thụ hưởng đang hưởng", "Active beneficiaries", "count"),
    _c("with_account", "Có tài khoản", "With an account", "count"),
    _c("account_coverage", "Tỷ lệ có tài khoản", "Account coverage", "rate"),
    _c("instructed_count", "Số lệnh chi", "Instructed, count", "count"),
    _c("instructed_amount", "Số tiền lệnh chi", "Instructed, VND", "money"),
    _c("paid_count", "Đã chi trả", "Paid, count", "count"),
    _c("paid_amount", "Số tiền đã chi trả", "Paid, VND", "money"),
    _c("cashless_count", "Chi trả không dùng tiền mặt", "Paid into accounts, count", "count"),
    _c("cashless_amount", "Số tiền không dùng tiền mặt", "Paid into accounts, VND", "money"),
    _c("cash_count", "Chi trả tiền mặt", "Paid in cash, count", "count"),
    _c("cash_amount", "Số tiền mặt", "Paid in cash, VND", "money"),
    _c("rerouted_cash_count", "Chuyển sang tiền mặt", "Re-routed to cash, count", "count"),
    _c("rejected_count", "Bị từ chối", "Rejected, count", "count"),
    _c("rejected_amount", "Số tiền bị từ chối", "Rejected, VND", "money"),
    _c("returned_count", "Bị hoàn trả", "Returned, count", "count"),
    _c("returned_amount", "Số tiền bị hoàn trả", "Returned, VND", "money"),
    _c("open_count", "Đang xử lý", "Open, count", "count"),
    _c("open_amount", "Số tiền đang xử lý", "Open, VND", "money"),
    _c("cashless_rate_count", "Tỷ lệ chi trả không dùng tiền mặt (số lượng)",
       "Cashless rate, count", "rate"),
    _c("cashless_rate_amount", "Tỷ lệ chi trả không dùng tiền mặt (số tiền)",
       "Cashless rate, amount", "rate"),
    _c("account_holder_cashless_rate", "Tỷ lệ không dùng tiền mặt của người có tài khoản",
       "Cashless rate of account holders", "rate"),
    _c("cash_share_count", "Tỷ lệ tiền mặt", "Cash share, count", "rate"),
    _c("rejected_share_count", "Tỷ lệ bị từ chối", "Rejected share, count", "rate"),
    _c("returned_share_count", "Tỷ lệ bị hoàn trả", "Returned share, count", "rate"),
    _c("open_share_count", "Tỷ lệ đang xử lý", "Open share, count", "rate"),
    _c("target_cashless_rate", "Mục tiêu tỷ lệ không dùng tiền mặt", "Cashless target", "rate"),
    _c("target_met", "Đạt mục tiêu", "Target met"),
)
EXCEPTION_COLUMNS: Final = (
    _c("id", "Mã", "Id", "count"), _c("kind", "Loại", "Kind"), _c("state", "Trạng thái", "State"),
    _c("end_to_end_id", "EndToEndId", "EndToEndId"), _c("msg_id", "MsgId", "MsgId"),
    _c("amount", "Số tiền", "Amount, VND", "money"),
    _c("status", "Trạng thái ngân hàng", "Bank status"),
    _c("reason_code", "Mã lý do", "Reason code"), _c("created_at", "Ngày tạo", "Created"),
    _c("resolution_note", "Ghi chú xử lý", "Resolution note"),
    _c("resolved_by", "Người xử lý", "Resolved by"),
)
FILE_COLUMNS: Final = (
    _c("batch_id", "Đợt chi trả", "Batch", "count"), _c("route", "Kênh", "Route"),
    _c("file_name", "Tệp", "File"), _c("msg_id", "MsgId", "MsgId"),
    _c("nb_of_txs", "Số giao dịch", "NbOfTxs", "count"),
    _c("ctrl_sum", "Tổng số tiền", "CtrlSum, VND", "money"),
    _c("sha256", "SHA-256", "SHA-256"),
)


# --- what the reports hold -------------------------------------------------------------------


def payment_files(session: Session, filters: MetricsFilter) -> list[dict[str, Any]]:
    """Return the payment files of the batches that hold instructions in scope, with hashes."""
    in_scope = select(Instruction.batch_id).distinct()
    given = [(Instruction.programme, filters.programme), (Instruction.province_code,
             filters.province), (Instruction.commune_code, filters.commune),
             (Instruction.period, filters.period), (Instruction.batch_id, filters.batch_id)]
    in_scope = in_scope.where(*[column == value for column, value in given if value is not None])
    if filters.period_from is not None and filters.period_to is not None:
        in_scope = in_scope.where(Instruction.period.between(filters.period_from,
                                                             filters.period_to))
    found = session.execute(select(PaymentFile).where(PaymentFile.batch_id.in_(in_scope))
                            .order_by(PaymentFile.batch_id, PaymentFile.route,
                                      PaymentFile.part_no)).scalars()
    return [{"batch_id": f.batch_id, "route": f.route, "part_no": f.part_no,
             "file_name": f.file_name, "msg_id": f.msg_id, "nb_of_txs": f.nb_of_txs,
             "ctrl_sum": f.ctrl_sum, "sha256": f.sha256, "size": f.size} for f in found]


def open_exceptions(session: Session, *, state: str | None = "open",
                    kind: str | None = None) -> list[dict[str, Any]]:
    """Return the reconciliation exceptions in ``state`` (None: all), oldest first.

    Reads the queue a page at a time through ``reconciliation.exceptions.list_exceptions``
    and stops at ``MAX_EXCEPTIONS``.
    """
    from reconciliation.exceptions import list_exceptions  # imported late: a sibling service

    items: list[dict[str, Any]] = []
    page = 1
    while len(items) < MAX_EXCEPTIONS:
        found = list_exceptions(session, state=state, kind=kind, page=page, per_page=500)
        items.extend(found["items"])
        if page * found["per_page"] >= found["total"]:
            break
        page += 1
    return items[:MAX_EXCEPTIONS]


def batch_report(session: Session, batch_id: int) -> dict[str, Any]:
    """Return a batch's summary, its reconciliation figures, files and open exceptions.

    Raises:
        NotFound: no such batch.
    """
    from reconciliation.exceptions import open_exceptions_for_batch

    summary = batch_summary(session, batch_id)
    scope = MetricsFilter(batch_id=batch_id)
    blocking = set(open_exceptions_for_batch(session, batch_id))
    return {"batch": summary,
            "figures": cashless_report(session, scope).total.to_dict(),
            "files": payment_files(session, scope),
            "exceptions": [e for e in open_exceptions(session) if e["id"] in blocking]}


# --- labels and cells --------------------------------------------------------------------------


def label(key: str, value: Any) -> Any:
    """Return the display form of a group value: programme and province names in Vietnamese."""
    if value is None:
        return ""
    if key == "programme" and value in PROGRAMMES:
        return PROGRAMMES[value].name_vi
    if key == "province":
        name = province_names().get(str(value))
        return f"{value} - {name}" if name else value
    return value


def cell(value: Any) -> Any:
    """Return ``value`` safe for a spreadsheet: text that could run as a formula is quoted."""
    if isinstance(value, str):
        return neutralize_cell(value)
    return value


def _flat(figures: dict[str, Any]) -> dict[str, Any]:
    """A figures mapping with the cashless-rate target pulled up into two columns."""
    target = next((t for t in figures.get("targets", [])
                   if t["rate"] == "cashless_rate_count"), None)
    met = None if target is None or target["met"] is None else target["met"]
    return {**figures, "target_cashless_rate": target["target"] if target else None,
            "target_met": {True: "Đạt (met)", False: "Chưa đạt (not met)", None: ""}[met]}


def cashless_columns(report: CashlessReport) -> list[Column]:
    """Return the export columns of a cashless report: its group keys, then the figures."""
    return [GROUP_COLUMNS[k] for k in report.by] + list(FIGURE_COLUMNS)


def cashless_rows(report: CashlessReport) -> list[dict[str, Any]]:
    """Return the groups and the total as flat rows (the total's group cells say Tổng cộng)."""
    rows = [_flat(g.to_dict()) for g in report.groups]
    total = _flat(report.total.to_dict())
    if report.by:
        total[report.by[0]] = "Tổng cộng (Total)"
    return [*rows, total]


def _display(column: Column, value: Any) -> Any:
    if value == "Tổng cộng (Total)":
        return value
    return label(column.key, value) if column.key in GROUP_COLUMNS else value


# --- table, CSV ------------------------------------------------------------------------------


def _text(column: Column, value: Any) -> str:
    if value is None:
        return "-"
    if column.kind == "rate":
        return f"{100 * value:.2f}%"
    if column.kind in ("count", "money"):
        return f"{value:,}"
    return str(_display(column, value))


def text_table(columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> str:
    """Return a plain-text table with English headers (for a terminal)."""
    cells = [[c.en for c in columns]] + [[_text(c, r.get(c.key)) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.rjust(w) if c.kind != "text" else v.ljust(w)
                               for v, w, c in zip(line, widths, columns, strict=True)).rstrip()
                     for line in cells)


CASHLESS_TABLE_KEYS: Final = ("active_beneficiaries", "account_coverage", "instructed_count",
                              "paid_count", "cashless_rate_count", "cashless_rate_amount",
                              "cash_share_count", "rejected_count", "returned_count",
                              "open_count", "target_met")


def cashless_table(report: CashlessReport) -> str:
    """Return the main figures of a cashless report as a text table."""
    columns = [c for c in cashless_columns(report)
               if c.key in GROUP_COLUMNS or c.key in CASHLESS_TABLE_KEYS]
    return text_table(columns, cashless_rows(report))


def to_csv(columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> bytes:
    """Return CSV in UTF-8 with BOM (as Excel expects): names shown, text cells neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.header for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c.key) is None else cell(_display(c, row.get(c.key)))
                         for c in columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# --- XLSX ------------------------------------------------------------------------------------

_FORMATS: Final = {"count": MONEY_FORMAT, "money": MONEY_FORMAT, "rate": RATE_FORMAT}


def _add_sheet(workbook: Workbook, title: str, columns: Sequence[Column],
               rows: Sequence[dict[str, Any]]) -> None:
    sheet = workbook.create_sheet(title)
    sheet.append([c.header for c in columns])
    for row in rows:
        sheet.append([cell(_display(c, row.get(c.key))) for c in columns])
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = min(max(12, len(column.header) // 2), 40)
        sheet.cell(row=1, column=index).font = Font(bold=True)
        if column.kind in _FORMATS:
            for (found,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                found.number_format = _FORMATS[column.kind]
    sheet.freeze_panes = "A2"


def _summary_rows(report: CashlessReport) -> list[dict[str, Any]]:
    """The total as label/value pairs, then the filters (the Tổng hợp sheet)."""
    total = _flat(report.total.to_dict())
    rows = [{"item": c.header, "value": total.get(c.key), "kind": c.kind}
            for c in FIGURE_COLUMNS]
    rows += [{"item": f"Bộ lọc ({name})", "value": str(value), "kind": "text"}
             for name, value in report.filters.to_dict().items()]
    return rows


def _write_summary(workbook: Workbook, report: CashlessReport) -> None:
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Tổng hợp"
    sheet.append(["Chỉ tiêu (Figure)", "Giá trị (Value)"])
    for row in _summary_rows(report):
        sheet.append([cell(row["item"]), cell(row["value"])])
        if row["kind"] in _FORMATS:
            sheet.cell(row=sheet.max_row, column=2).number_format = _FORMATS[row["kind"]]
    sheet["A1"].font = sheet["B1"].font = Font(bold=True)
    sheet.column_dimensions["A"].width = 60
    sheet.column_dimensions["B"].width = 20


def _workbook_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def cashless_xlsx(summary: CashlessReport, by_commune: CashlessReport,
                  exceptions: Sequence[dict[str, Any]],
                  files: Sequence[dict[str, Any]]) -> bytes:
    """Return the auditors' workbook: Tổng hợp, Theo xã, Ngoại lệ and Tệp chi trả."""
    workbook = Workbook()
    _write_summary(workbook, summary)
    _add_sheet(workbook, "Theo xã", cashless_columns(by_commune), cashless_rows(by_commune))
    _add_sheet(workbook, "Ngoại lệ", EXCEPTION_COLUMNS, exceptions)
    _add_sheet(workbook, "Tệp chi trả", FILE_COLUMNS, files)
    return _workbook_bytes(workbook)


BATCH_COLUMNS: Final = (
    _c("batch_id", "Đợt chi trả", "Batch", "count"), _c("programme", "Chương trình", "Programme"),
    _c("period", "Kỳ chi trả", "Period"), _c("province_code", "Tỉnh/thành phố", "Province"),
    _c("state", "Trạng thái", "State"), _c("preparer", "Người lập", "Preparer"),
    _c("count", "Số lệnh chi", "Count", "count"), _c("total", "Tổng số tiền", "Total, VND",
                                                      "money"),
    _c("content_hash", "Mã băm đợt", "Batch hash"),
)


def batch_xlsx(report: dict[str, Any]) -> bytes:
    """Return a batch's workbook: Tổng hợp (batch and figures), Ngoại lệ, Tệp chi trả."""
    workbook = Workbook()
    workbook.remove(workbook.worksheets[0])
    figures = _flat(report["figures"])
    _add_sheet(workbook, "Tổng hợp", [*BATCH_COLUMNS, *FIGURE_COLUMNS],
               [{**figures, **report["batch"]}])
    _add_sheet(workbook, "Ngoại lệ", EXCEPTION_COLUMNS, report["exceptions"])
    _add_sheet(workbook, "Tệp chi trả", FILE_COLUMNS, report["files"])
    return _workbook_bytes(workbook)


def exceptions_xlsx(exceptions: Sequence[dict[str, Any]]) -> bytes:
    """Return the exceptions queue as a one-sheet workbook (Ngoại lệ)."""
    workbook = Workbook()
    workbook.remove(workbook.worksheets[0])
    _add_sheet(workbook, "Ngoại lệ", EXCEPTION_COLUMNS, exceptions)
    return _workbook_bytes(workbook)


def batch_table(report: dict[str, Any]) -> str:
    """Return a batch report as text: the batch, its figures, files and exceptions."""
    figures = _flat(report["figures"])
    parts = [text_table(BATCH_COLUMNS, [report["batch"]]),
             text_table([c for c in FIGURE_COLUMNS if c.key in CASHLESS_TABLE_KEYS], [figures]),
             text_table(FILE_COLUMNS, report["files"]),
             text_table(EXCEPTION_COLUMNS[:8], report["exceptions"])]
    return "\n\n".join(parts)


# --- PNG -------------------------------------------------------------------------------------


def cashless_png(report: CashlessReport) -> bytes:
    """Return a grouped bar chart of the cashless rate (by count) per province and programme.

    ``report`` should be grouped by programme and province. Groups with nothing paid have no
    bar. The bytes depend only on the figures (no time or software metadata).
    """
    with rc_context({"font.family": "DejaVu Sans"}):  # it has the Vietnamese letters
        return _draw_chart(report)


def _draw_chart(report: CashlessReport) -> bytes:
    groups = [g.row for g in report.groups]
    provinces = sorted({g.province or "" for g in groups})
    programmes = sorted({g.programme or "" for g in groups})
    rates = {(g.programme or "", g.province or ""): f.rates["cashless_rate_count"]
             for g, f in zip(groups, report.groups, strict=True)}
    # horizontal bars: 34 provinces stay readable on a page-wide chart
    bar_rows = max(1, len(provinces)) * max(1, len(programmes))
    figure = Figure(figsize=(11.0, max(4.0, 1.6 + 0.28 * bar_rows)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    height = 0.8 / max(1, len(programmes))
    for n, programme in enumerate(programmes):
        widths = [_percent(rates.get((programme, p))) for p in provinces]
        axes.barh([i + n * height for i in range(len(provinces))], widths, height,
                  label=str(label("programme", programme)) or "-")
    axes.set_yticks([i + height * (len(programmes) - 1) / 2 for i in range(len(provinces))],
                    [_short_province(p) for p in provinces])
    axes.invert_yaxis()  # first province on top
    axes.set_xlim(0, 100)
    axes.set_xlabel("Tỷ lệ không dùng tiền mặt, % (cashless rate)")
    axes.set_ylabel("Tỉnh/thành phố (province)")
    axes.grid(axis="x", alpha=0.3)
    axes.set_title(_chart_title(report.filters))
    if programmes:
        axes.legend(title="Chương trình (programme)", fontsize="small", title_fontsize="small",
                    loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _percent(value: float | None) -> float:
    return float("nan") if value is None else 100 * value


def _short_province(code: str) -> str:
    name = province_names().get(code, "")
    return f"{code} {name.removeprefix('Thành phố ')}".strip() or "-"


def _chart_title(filters: MetricsFilter) -> str:
    names = {"period_from": "từ", "period_to": "đến", "batch_id": "đợt",
             **{k: c.vi.lower() for k, c in GROUP_COLUMNS.items()}}
    scope = ", ".join(f"{names.get(k, k)} {v}" for k, v in filters.to_dict().items())
    return "Tỷ lệ chi trả không dùng tiền mặt theo chương trình và tỉnh" + (
        f"\n{scope}" if scope else "")


#: Writers of a cashless report by format (xlsx and png need more than the report).
CASHLESS_TEXT_WRITERS: Final[dict[str, Callable[[CashlessReport], bytes]]] = {
    "table": lambda r: (cashless_table(r) + "\n").encode("utf-8"),
    "csv": lambda r: to_csv(cashless_columns(r), cashless_rows(r)),
}
