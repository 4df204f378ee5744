"""The cashless chart: the measure in the title, value labels, zero as zero, target lines."""

from __future__ import annotations

from reconciliation.metrics import (
    CashlessFigures,
    CashlessReport,
    CashlessRow,
    MetricsFilter,
    figures_of,
    load_targets,
    sum_rows,
)
from reconciliation.reports import cashless_png
from reconciliation.reports.chart import chart_figure


def _figures(row: CashlessRow) -> CashlessFigures:
    done = figures_of(row, load_targets())
    assert isinstance(done, CashlessFigures)
    return done


def _report() -> CashlessReport:
    """Hà Nội: 2 paid, both in cash (0 %); Hồ Chí Minh: 4 paid, 3 into accounts (75 %);
    Đà Nẵng (48): nothing paid (no rate)."""
    rows = [
        CashlessRow(programme="pension", province="01", instructed_count=2,
                    instructed_amount=2_000, paid_count=2, paid_amount=2_000, cash_count=2,
                    cash_amount=2_000),
        CashlessRow(programme="pension", province="79", instructed_count=4,
                    instructed_amount=4_000, paid_count=4, paid_amount=4_000,
                    cashless_count=3, cashless_amount=3_000, cash_count=1, cash_amount=1_000),
        CashlessRow(programme="pension", province="48"),
    ]
    return CashlessReport(MetricsFilter(period="2026-10"), ("programme", "province"),
                          [_figures(r) for r in rows], _figures(sum_rows(rows)))


def test_chart_names_the_measure_labels_values_and_shows_zero() -> None:
    figure = chart_figure(_report())
    [axes] = figure.axes
    assert "số lệnh" in axes.get_title() and "payments" in axes.get_title()
    texts = [t.get_text() for t in axes.texts]
    # provinces sorted 01, 48, 79: 0 %, nothing paid, 75 %
    assert texts == ["0.0%", "không có chi trả (nothing paid)", "75.0%"]
    zero_markers = [line for line in axes.lines if line.get_marker() == "D"]
    assert len(zero_markers) == 1 and list(zero_markers[0].get_xdata()) == [0]


def test_chart_draws_each_province_target() -> None:
    figure = chart_figure(_report())
    [axes] = figure.axes
    targets = load_targets()
    dashed = [line for line in axes.lines if line.get_linestyle() == "--"]
    want = [targets.for_province(p)["cashless_rate_count"] for p in ("01", "48", "79")]
    assert want[0] == 90.0  # Hà Nội's own target (percent)
    assert [float(line.get_xdata()[0]) for line in dashed] == want
    assert "Mục tiêu (target)" in [t.get_text() for t in axes.get_legend().get_texts()]


def test_png_bytes_are_stable() -> None:
    first = cashless_png(_report())
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and first == cashless_png(_report())
