"""The cashless-rate chart as PNG, drawn without pyplot's global state.

The PNG carries no software or time metadata, so the same data gives the same bytes.
matplotlib is imported when a chart is drawn, so that importing the reports does not load it.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Final

from beneficiaries.localities import province_names
from reconciliation.metrics import CashlessReport, MetricsFilter
from reconciliation.reports.columns import GROUP_COLUMNS, label

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


#: The chart's measure, named in its title and axis.
MEASURE: Final = "theo số lệnh chi trả (by number of payments)"


def cashless_png(report: CashlessReport) -> bytes:
    """Return a bar chart of the cashless rate by payments per province and programme.

    ``report`` should be grouped by programme and province, with targets (``cashless_report``
    given ``load_targets()``). Each bar carries its value; a rate of 0 % is a bar of zero
    with a visible marker and "0%"; a group with nothing paid says so instead of a bar; each
    province's cashless target is a dashed line across its bars. The bytes depend only on
    the figures (no time or software metadata).
    """
    from matplotlib import rc_context

    with rc_context({"font.family": "DejaVu Sans"}):  # it has the Vietnamese letters
        figure = chart_figure(report)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
        return buffer.getvalue()


def _province_targets(report: CashlessReport) -> dict[str, float]:
    """The cashless-rate (by payments) target of each province, in percent."""
    found: dict[str, float] = {}
    for group in report.groups:
        for target in group.targets:
            if target["rate"] == "cashless_rate_count":
                found[group.row.province or ""] = 100 * target["target"]
    return found


def chart_figure(report: CashlessReport) -> Figure:
    """Return the chart as a matplotlib Figure (what ``cashless_png`` renders)."""
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
        ys = [i + n * height for i in range(len(provinces))]
        values = [rates.get((programme, p)) for p in provinces]
        bars = axes.barh(ys, [_percent(v) for v in values], height,
                         label=str(label("programme", programme)) or "-")
        colour = bars.patches[0].get_facecolor() if bars.patches else None
        _label_bars(axes, ys, values, colour)
    _target_lines(axes, provinces, _province_targets(report), height * len(programmes))
    axes.set_yticks([i + height * (len(programmes) - 1) / 2 for i in range(len(provinces))],
                    [_short_province(p) for p in provinces])
    axes.invert_yaxis()  # first province on top
    axes.set_xlim(0, 112)  # room for the value labels beyond 100 %
    axes.set_xticks(range(0, 101, 20))
    axes.set_xlabel(f"Tỷ lệ không dùng tiền mặt, %, {MEASURE}")
    axes.set_ylabel("Tỉnh/thành phố (province)")
    axes.grid(axis="x", alpha=0.3)
    axes.set_title(_chart_title(report.filters))
    if programmes:
        axes.legend(title="Chương trình (programme)", fontsize="small", title_fontsize="small",
                    loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    return figure


def _label_bars(axes: Axes, ys: list[float], values: list[float | None],
                colour: Any) -> None:
    """Write each bar's value beside it; mark a zero so it is not taken for missing data."""
    for y, value in zip(ys, values, strict=True):
        if value is None:
            axes.text(1, y, "không có chi trả (nothing paid)", va="center", fontsize="x-small",
                      color="grey", style="italic")
            continue
        if value == 0:
            axes.plot([0], [y], marker="D", markersize=5, color=colour, clip_on=False)
        axes.text(100 * value + 1.2, y, f"{100 * value:.1f}%", va="center", fontsize="x-small")


def _target_lines(axes: Axes, provinces: list[str], targets: dict[str, float],
                  band: float) -> None:
    """Draw each province's target as a dashed line across its band of bars."""
    drawn = False
    for i, province in enumerate(provinces):
        if province not in targets:
            continue
        axes.plot([targets[province]] * 2, [i - 0.1, i + band - 0.1], color="black",
                  linestyle="--", linewidth=1.2, label=None if drawn else "Mục tiêu (target)")
        drawn = True


def _percent(value: float | None) -> float:
    return 0.0 if value is None else 100 * value


def _short_province(code: str) -> str:
    name = province_names().get(code, "")
    return f"{code} {name.removeprefix('Thành phố ')}".strip() or "-"


def _chart_title(filters: MetricsFilter) -> str:
    names = {"period_from": "từ", "period_to": "đến", "batch_id": "đợt",
             **{k: c.vi.lower() for k, c in GROUP_COLUMNS.items()}}
    scope = ", ".join(f"{names.get(k, k)} {v}" for k, v in filters.to_dict().items())
    return ("Tỷ lệ chi trả không dùng tiền mặt " + MEASURE + "\ntheo chương trình và tỉnh"
            + (f", {scope}" if scope else ""))
