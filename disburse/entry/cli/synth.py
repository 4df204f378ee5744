"""``disburse synth``: generate a population, beneficiary lists and a bank account book.

Each command prints one summary line and nothing else on stdout.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from beneficiaries.synth.accounts import write_account_book
from beneficiaries.synth.defects import DefectKind, DefectRates
from beneficiaries.synth.lists import write_lists
from beneficiaries.synth.population import DEFAULT_TODAY, write_population_csv
from disburse.core.periods import is_period

_RATE = click.FloatRange(0.0, 1.0)


@click.group("synth")
def synth() -> None:
    """Generate deterministic synthetic data for the demo, the tests and the benchmarks."""


@synth.command("population")
@click.option("--count", type=click.IntRange(min=0), required=True, help="Number of people.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--deceased-share", type=_RATE, default=0.02, show_default=True)
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=DEFAULT_TODAY.isoformat(),
              show_default=True, help="Reference date for ages and deaths.")
def population_command(
    count: int, out: Path, seed: int, deceased_share: float, today: datetime
) -> None:
    """Write a population registry extract (CSV) of COUNT synthetic people."""
    summary = write_population_csv(
        out, count, seed=seed, deceased_share=deceased_share, today=today.date()
    )
    click.echo(f"population: {summary.rows} people ({summary.deceased} deceased) -> {out}")


def _rate_options(function: click.decorators.FC) -> click.decorators.FC:
    """Add one ``--<kind>-rate`` option per defect kind."""
    for kind in reversed(DefectKind):
        option = click.option(
            f"--{kind.value.replace('_', '-')}-rate", kind.value, type=_RATE,
            default=0.01, show_default=True, help=f"Share of rows with a {kind.value} defect.",
        )
        function = option(function)
    return function


@synth.command("lists")
@click.option("--population", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True)
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@click.option("--period", default="2026-11", show_default=True, help="Payment period YYYY-MM.")
@_rate_options
def lists_command(
    population: Path, out: Path, seed: int, fmt: str, lang: str, period: str,
    **rates: float,
) -> None:
    """Write one beneficiary list per programme and the answer key answer_key.json."""
    if not is_period(period):
        raise click.BadParameter("expected YYYY-MM", param_hint="--period")
    summary = write_lists(
        population, out, seed=seed, fmt=fmt, lang=lang, period=period,
        rates=DefectRates(**rates),
    )
    click.echo(
        f"lists: {len(summary.files)} files, {summary.rows} rows, "
        f"{sum(summary.defects.values())} defective -> {out}"
    )


@synth.command("accounts")
@click.option("--population", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True)
@click.option("--lists", "lists_dir", type=click.Path(exists=True, file_okay=False,
              path_type=Path), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--closed-rate", type=_RATE, default=0.005, show_default=True)
@click.option("--blocked-rate", type=_RATE, default=0.003, show_default=True)
@click.option("--missing-rate", type=_RATE, default=0.005, show_default=True)
def accounts_command(
    population: Path, lists_dir: Path, out: Path, seed: int,
    closed_rate: float, blocked_rate: float, missing_rate: float,
) -> None:
    """Write the bank simulator's account book for the accounts in the lists."""
    summary = write_account_book(
        population, lists_dir, out, seed=seed, closed_rate=closed_rate,
        blocked_rate=blocked_rate, missing_rate=missing_rate,
    )
    click.echo(
        f"accounts: {summary.accounts} in book ({summary.closed} closed, {summary.blocked} "
        f"blocked, {summary.deceased} of deceased holders), {summary.missing} missing -> {out}"
    )
