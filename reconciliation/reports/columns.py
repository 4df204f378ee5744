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
from reconciliation.metrics import CashlessReport

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
    """Return the export columns of a cashless report: its group keys, then the figures."""
    return [GROUP_COLUMNS[k] for k in report.by] + list(FIGURE_COLUMNS)


def cashless_rows(report: CashlessReport) -> list[dict[str, Any]]:
    """Return the groups and the total as flat rows (the total's group cells say Tổng cộng)."""
    rows = [flat_figures(g.to_dict()) for g in report.groups]
    total = flat_figures(report.total.to_dict())
    if report.by:
        total[report.by[0]] = "Tổng cộng (Total)"
    return [*rows, total]


def display(column: Column, value: Any) -> Any:
    if value == "Tổng cộng (Total)":
        return value
    return label(column.key, value) if column.key in GROUP_COLUMNS else value
