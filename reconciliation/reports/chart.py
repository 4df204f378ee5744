"""The cashless-rate chart as PNG, drawn without pyplot's global state.

The PNG carries no software or time metadata, so the same data gives the same bytes.
matplotlib is imported when a chart is drawn, so that importing the reports does not load it.
"""

from __future__ import annotations

import io

from beneficiaries.localities import province_names
from reconciliation.metrics import CashlessReport, MetricsFilter
from reconciliation.reports.columns import GROUP_COLUMNS, label


def cashless_png(report: CashlessReport) -> bytes:
    """Return a grouped bar chart of the cashless rate (by count) per province and programme.

    ``report`` should be grouped by programme and province. Groups with nothing paid have no
    bar. The bytes depend only on the figures (no time or software metadata).
    """
    from matplotlib import rc_context

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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

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
