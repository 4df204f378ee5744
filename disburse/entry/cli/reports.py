"""``disburse report``: cashless figures, the exceptions queue and batch reports for auditors.

Each command reads in one unit of work and prints (table, JSON, CSV) or writes a file
(``--out``; required for XLSX and PNG). Bad figures or parameters print one line, exit 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import click
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from beneficiaries.programmes import PROGRAMMES
from disburse.core.lang import current_lang
from disburse.core.uow import unit_of_work
from disburse.entry.cli.output import echo_json
from disburse.entry.context import services
from disburse.payments.build import parse_period
from reconciliation import reports
from reconciliation.metrics import (
    CashlessReport,
    MetricsFilter,
    cashless_report,
    cashless_trend,
    load_targets,
    parse_by,
)
from reconciliation.worklist import WorklistFilter, worklist, worklist_trend

report_group = AppGroup("report", help="Cashless figures, exceptions and batch reports.")

CASHLESS_FORMATS: Final = ("table", "json", "csv", "xlsx", "png")
EXCEPTION_FORMATS: Final = ("table", "json", "csv", "xlsx")
BATCH_FORMATS: Final = ("table", "json", "xlsx")
WORKLIST_FORMATS: Final = ("json", "csv", "xlsx")
#: How the PNG chart and the Theo xã sheet are grouped, whatever ``--by`` says.
CHART_BY: Final = ("programme", "province")
COMMUNE_BY: Final = ("programme", "province", "commune")
PROVINCE_BY: Final = ("province",)



def _emit(data: bytes, out: Path | None, fmt: str) -> None:
    """Write ``data`` to ``out``, or print it when it is text and no file was named."""
    if out is not None:
        out.write_bytes(data)
        click.echo(f"wrote {out}", err=True)
    elif fmt in ("xlsx", "png"):
        raise click.UsageError(f"--format {fmt} needs --out FILE")
    else:
        click.echo(data.decode("utf-8-sig"), nl=False)


def cashless_filters(period: str | None, period_from: str | None, period_to: str | None,
                     programme: str | None, province: str | None,
                     commune: str | None) -> MetricsFilter:
    """Return the filters of a cashless request (a single period, or a from-to range).

    Raises:
        ValidationFailed: a bad period. click.UsageError: a period mixed with a range.
    """
    if period and (period_from or period_to):
        raise click.UsageError("give either --period or --from/--to, not both")
    if bool(period_from) != bool(period_to):
        raise click.UsageError("a trend needs both --from and --to")
    for value in (period, period_from, period_to):
        if value:
            parse_period(value)
    return MetricsFilter(programme=programme, province=province, commune=commune,
                         period=period, period_from=period_from, period_to=period_to)


def _cashless(session: Session, filters: MetricsFilter, by: tuple[str, ...]) -> CashlessReport:
    targets = load_targets()
    if filters.period_from is not None:
        return cashless_trend(session, filters, by, targets)
    return cashless_report(session, filters, by, targets)


def _cashless_bytes(session: Session, filters: MetricsFilter, by: tuple[str, ...],
                    fmt: str) -> bytes:
    if fmt == "png":
        return reports.cashless_png(cashless_report(session, filters, CHART_BY, load_targets()))
    report = _cashless(session, filters, by)
    if fmt == "xlsx":
        by_commune = cashless_report(session, filters, COMMUNE_BY, load_targets())
        return reports.cashless_xlsx(
            report, by_commune, reports.open_exceptions(session),
            reports.payment_files(session, filters),
            by_province=cashless_report(session, filters, PROVINCE_BY, load_targets()),
            rejections=reports.rejections(session, filters))
    if fmt == "table":
        return (reports.cashless_table(report, current_lang().value) + "\n").encode("utf-8")
    return reports.CASHLESS_TEXT_WRITERS[fmt](report)


@report_group.command("cashless")
@click.option("--period", help="one month, YYYY-MM (default: all periods)")
@click.option("--from", "period_from", help="first month of a trend, YYYY-MM")
@click.option("--to", "period_to", help="last month of a trend, YYYY-MM")
@click.option("--program", "--programme", "programme", type=click.Choice(list(PROGRAMMES)))
@click.option("--province", help="2-digit province code")
@click.option("--commune", help="5-digit commune code")
@click.option("--by", default="", help="group by any of programme,province,commune,period")
@click.option("--format", "fmt", type=click.Choice(CASHLESS_FORMATS), default="table",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
def cashless_command(period: str | None, period_from: str | None, period_to: str | None,
                     programme: str | None, province: str | None, commune: str | None,
                     by: str, fmt: str, out: Path | None) -> None:
    """Cashless rate, account coverage and where every dong went, with targets."""
    filters = cashless_filters(period, period_from, period_to, programme, province, commune)
    groups = parse_by(by)
    with unit_of_work(services().session_factory) as session:
        if fmt == "json":
            echo_json(_cashless(session, filters, groups).to_dict())
            return
        data = _cashless_bytes(session, filters, groups, fmt)
    _emit(data, out, fmt)


@report_group.command("exceptions")
@click.option("--state", type=click.Choice(["open", "resolved", "all"]), default="open",
              show_default=True)
@click.option("--kind", help="only this kind, e.g. amount_mismatch")
@click.option("--format", "fmt", type=click.Choice(EXCEPTION_FORMATS), default="table",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
def exceptions_command(state: str, kind: str | None, fmt: str, out: Path | None) -> None:
    """The reconciliation exceptions queue."""
    with unit_of_work(services().session_factory) as session:
        items = reports.open_exceptions(session, state=None if state == "all" else state,
                                        kind=kind)
    if fmt == "json":
        echo_json({"total": len(items), "items": items})
        return
    columns = reports.EXCEPTION_COLUMNS
    data = {"table": lambda: (reports.text_table(columns, items, current_lang().value) + "\n")
            .encode("utf-8"),
            "csv": lambda: reports.to_csv(columns, items),
            "xlsx": lambda: reports.exceptions_xlsx(items)}[fmt]()
    _emit(data, out, fmt)


@report_group.command("batch")
@click.argument("batch_id", type=int)
@click.option("--format", "fmt", type=click.Choice(BATCH_FORMATS), default="table",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
def batch_command(batch_id: int, fmt: str, out: Path | None) -> None:
    """One batch: its totals, reconciliation figures, payment files and open exceptions."""
    with unit_of_work(services().session_factory) as session:
        report = reports.batch_report(session, batch_id)
    if fmt == "json":
        echo_json(report)
        return
    data = (reports.batch_xlsx(report) if fmt == "xlsx"
            else (reports.batch_table(report, current_lang().value) + "\n").encode("utf-8"))
    _emit(data, out, fmt)


def _worklist_bytes(data: Any, fmt: str, period: str | None) -> bytes:
    trend = isinstance(data, dict)
    if fmt == "csv":
        return reports.trend_csv(data) if trend else reports.worklist_csv(data)
    return reports.trend_xlsx(data) if trend else reports.worklist_xlsx(data, period or "")


@report_group.command("worklist")
@click.option("--period", help="the month, YYYY-MM")
@click.option("--from", "period_from", help="first month of the trend, YYYY-MM")
@click.option("--to", "period_to", help="last month of the trend, YYYY-MM")
@click.option("--province", help="2-digit province code")
@click.option("--commune", help="5-digit commune code")
@click.option("--format", "fmt", type=click.Choice(WORKLIST_FORMATS), default="json",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
def worklist_command(period: str | None, period_from: str | None, period_to: str | None,
                     province: str | None, commune: str | None, fmt: str,
                     out: Path | None) -> None:
    """Who is still paid in cash or by a failed account, per commune, and what is missing.

    With --from/--to: how many people each commune has on the list month by month.
    """
    if period and (period_from or period_to):
        raise click.UsageError("give either --period or --from/--to, not both")
    if not period and not (period_from and period_to):
        raise click.UsageError("give --period YYYY-MM, or --from and --to for the trend")
    filters = WorklistFilter(period=period, province=province, commune=commune,
                             period_from=period_from, period_to=period_to)
    with unit_of_work(services().session_factory) as session:
        data: Any = (worklist(session, services().keyring(), filters) if period
                     else worklist_trend(session, filters))
    if fmt == "json":
        echo_json(data if isinstance(data, dict) else {"period": period, "unit": "people",
                                                       "total": len(data), "items": data})
        return
    _emit(_worklist_bytes(data, fmt, period), out, fmt)
