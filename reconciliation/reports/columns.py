"""The columns of the auditor reports and how a value becomes a cell.

Headers are Vietnamese first with English in brackets; group values are shown by name
(programme, province); text that a spreadsheet could run as a formula is neutralised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from beneficiaries.localities import province_names
from beneficiaries.programmes import PROGRAMMES
from disburse.core.cells import neutralize_cell
from reconciliation.metrics import TOTAL_LABEL, CashlessReport
from reconciliation.places import commune_names

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
#: Every figure says what it counts: số lệnh / payments, đồng / VND, người / people, or for a
#: rate what it divides (theo số lệnh / share of payments, theo số tiền / share of money).
FIGURE_COLUMNS: Final = (
    _c("active_beneficiaries", "Người đang hưởng cuối kỳ, số người",
       "Active beneficiaries at period end, people", "count"),
    _c("with_account", "Có tài khoản, số người", "With an account, people", "count"),
    _c("account_coverage", "Tỷ lệ có tài khoản, theo số người", "Account coverage, of people",
       "rate"),
    _c("instructed_count", "Lệnh chi, số lệnh", "Instructed, payments", "count"),
    _c("instructed_amount", "Lệnh chi, đồng", "Instructed, VND", "money"),
    _c("paid_count", "Đã chi trả, số lệnh", "Paid, payments", "count"),
    _c("paid_amount", "Đã chi trả, đồng", "Paid, VND", "money"),
    _c("cashless_count", "Chi vào tài khoản, số lệnh", "Paid into accounts, payments", "count"),
    _c("cashless_amount", "Chi vào tài khoản, đồng", "Paid into accounts, VND", "money"),
    _c("cash_count", "Chi tiền mặt, số lệnh", "Paid in cash, payments", "count"),
    _c("cash_amount", "Chi tiền mặt, đồng", "Paid in cash, VND", "money"),
    _c("rerouted_cash_count", "Chuyển sang tiền mặt, số lệnh", "Re-routed to cash, payments",
       "count"),
    _c("rejected_count", "Bị từ chối, số lệnh", "Rejected, payments", "count"),
    _c("rejected_amount", "Bị từ chối, đồng", "Rejected, VND", "money"),
    _c("returned_count", "Bị hoàn trả, số lệnh", "Returned, payments", "count"),
    _c("returned_amount", "Bị hoàn trả, đồng", "Returned, VND", "money"),
    _c("open_count", "Đang xử lý, số lệnh", "Open, payments", "count"),
    _c("open_amount", "Đang xử lý, đồng", "Open, VND", "money"),
    _c("cashless_rate_count", "Tỷ lệ không dùng tiền mặt, theo số lệnh",
       "Cashless rate, of payments", "rate"),
    _c("cashless_rate_amount", "Tỷ lệ không dùng tiền mặt, theo số tiền",
       "Cashless rate, of money", "rate"),
    _c("account_holder_cashless_rate", "Tỷ lệ không dùng tiền mặt của người có tài khoản, "
       "theo số lệnh", "Cashless rate of account holders, of payments", "rate"),
    _c("cash_share_count", "Tỷ lệ tiền mặt, theo số lệnh", "Cash share, of payments", "rate"),
    _c("rejected_share_count", "Tỷ lệ bị từ chối, theo số lệnh", "Rejected share, of payments",
       "rate"),
    _c("returned_share_count", "Tỷ lệ bị hoàn trả, theo số lệnh",
       "Returned share, of payments", "rate"),
    _c("open_share_count", "Tỷ lệ đang xử lý, theo số lệnh", "Open share, of payments", "rate"),
    _c("target_cashless_rate", "Mục tiêu tỷ lệ không dùng tiền mặt, theo số lệnh",
       "Cashless target, of payments", "rate"),
    _c("target_met", "Đạt mục tiêu", "Target met"),
)
#: The first column of a report with no grouping: it labels its one row as the total.
SCOPE_COLUMN: Final = _c("scope", "Phạm vi", "Scope")
EXCEPTION_COLUMNS: Final = (
    _c("id", "Mã", "Id", "count"), _c("kind", "Loại", "Kind"), _c("state", "Trạng thái", "State"),
    _c("end_to_end_id", "EndToEndId", "EndToEndId"), _c("msg_id", "MsgId", "MsgId"),
    _c("amount", "Số tiền", "Amount, VND", "money"),
    _c("status", "Trạng thái ngân hàng", "Bank status"),
    _c("reason_code", "Mã lý do", "Reason code"),
    _c("reason_vi", "Giải thích", "Explanation"), _c("created_at", "Ngày tạo", "Created"),
    _c("resolution_note", "Ghi chú xử lý", "Resolution note"),
    _c("resolved_by", "Người xử lý", "Resolved by"),
)
#: The exceptions-and-rejections sheet: open exceptions of the queue, then the payments
#: banks rejected or returned, each with the bank's reason and what it means in Vietnamese.
ISSUE_COLUMNS: Final = (
    _c("source", "Loại dòng", "Row kind"), _c("id", "Mã", "Id", "count"),
    _c("kind", "Loại", "Kind"), _c("state", "Trạng thái", "State"),
    _c("batch_id", "Đợt chi trả", "Batch", "count"),
    _c("end_to_end_id", "EndToEndId", "EndToEndId"),
    _c("programme", "Chương trình", "Programme"), _c("period", "Kỳ chi trả", "Period"),
    _c("province", "Tỉnh/thành phố", "Province"), _c("commune", "Xã/phường", "Commune"),
    _c("amount", "Số tiền, đồng", "Amount, VND", "money"),
    _c("reason_code", "Mã lý do", "Reason code"),
    _c("reason_vi", "Giải thích", "Explanation"), _c("action_vi", "Việc cần làm", "Next step"),
    _c("created_at", "Ngày tạo", "Created"),
    _c("resolution_note", "Ghi chú xử lý", "Resolution note"),
)
#: What each row kind of ``ISSUE_COLUMNS`` is called.
SOURCE_LABELS: Final = {"exception": "Ngoại lệ (exception)", "rejected": "Bị từ chối (rejected)",
                        "returned": "Bị hoàn trả (returned)"}
FILE_COLUMNS: Final = (
    _c("batch_id", "Đợt chi trả", "Batch", "count"), _c("route", "Kênh", "Route"),
    _c("file_name", "Tệp", "File"), _c("msg_id", "MsgId", "MsgId"),
    _c("nb_of_txs", "Số giao dịch", "NbOfTxs", "count"),
    _c("ctrl_sum", "Tổng số tiền", "CtrlSum, VND", "money"),
    _c("sha256", "SHA-256", "SHA-256"),
)
BATCH_COLUMNS: Final = (
    _c("batch_id", "Đợt chi trả", "Batch", "count"), _c("programme", "Chương trình", "Programme"),
    _c("period", "Kỳ chi trả", "Period"), _c("province_code", "Tỉnh/thành phố", "Province"),
    _c("state", "Trạng thái", "State"), _c("preparer", "Người lập", "Preparer"),
    _c("count", "Số lệnh chi", "Count", "count"), _c("total", "Tổng số tiền", "Total, VND",
                                                      "money"),
    _c("content_hash", "Mã băm đợt", "Batch hash"),
)


def label(key: str, value: Any) -> Any:
    """Return the display form of a group value: programme and province names in Vietnamese."""
    if value is None:
        return ""
    if key == "programme" and value in PROGRAMMES:
        return PROGRAMMES[value].name_vi
    if key == "province":
        name = province_names().get(str(value))
        return f"{value} - {name}" if name else value
    if key == "source":
        return SOURCE_LABELS.get(str(value), value)
    if key == "commune":
        name = commune_names().get(str(value))
        return f"{value} - {name}" if name else value
    return value


def cell(value: Any) -> Any:
    """Return ``value`` safe for a spreadsheet: text that could run as a formula is quoted."""
    if isinstance(value, str):
        return neutralize_cell(value)
    return value


def flat_figures(figures: dict[str, Any]) -> dict[str, Any]:
    """A figures mapping with the cashless-rate target pulled up into two columns."""
    target = next((t for t in figures.get("targets", [])
                   if t["rate"] == "cashless_rate_count"), None)
    met = None if target is None or target["met"] is None else target["met"]
    return {**figures, "target_cashless_rate": target["target"] if target else None,
            "target_met": {True: "Đạt (met)", False: "Chưa đạt (not met)", None: ""}[met]}


def cashless_columns(report: CashlessReport) -> list[Column]:
    """Return the export columns of a cashless report: its group keys (or the scope column
    when it is not grouped), then the figures."""
    keys = [GROUP_COLUMNS[k] for k in report.by] or [SCOPE_COLUMN]
    return keys + list(FIGURE_COLUMNS)


def cashless_rows(report: CashlessReport) -> list[dict[str, Any]]:
    """Return the groups and the labelled total as flat rows.

    Without grouping the one group is the total itself: only the labelled total is returned.
    """
    total = flat_figures(report.total.to_dict())
    total[report.by[0] if report.by else SCOPE_COLUMN.key] = TOTAL_LABEL
    if not report.by:
        return [total]
    return [*[flat_figures(g.to_dict()) for g in report.groups], total]


def display(column: Column, value: Any) -> Any:
    """Return the shown form of a cell: names beside codes, the total label as it is."""
    if value == TOTAL_LABEL:
        return value
    return label(column.key, value) if column.key in (*GROUP_COLUMNS, "source") else value
