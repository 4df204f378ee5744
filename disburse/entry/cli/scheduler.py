"""``disburse scheduler run``: the nightly run as a command (the steps are in
``disburse.entry.scheduler``).

Exit status 0 when every step succeeded, 1 when one failed, ``EXIT_BUSY`` (75) when another
run holds the lock.
"""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext

from disburse.core.lang import pick
from disburse.entry.cli.actor import actor_option
from disburse.entry.context import services
from disburse.entry.scheduler import EXIT_BUSY, RunReport, SchedulerBusy, run_nightly


def _print_summary(report: RunReport) -> None:
    for step in report.steps:
        counts = " ".join(f"{k}={v}" for k, v in step.counts.items())
        click.echo(f"{step.name:14} {'ok' if step.ok else 'FAILED':6} {counts}")
        for problem in step.problems:
            click.echo(f"  {step.name}: {problem}", err=True)
    click.echo(f"{'ok' if report.ok else 'failed'}: {report.changed} change(s)")


@click.group("scheduler")
def scheduler() -> None:
    """The nightly run: re-verify, send approved batches, collect and reconcile returns."""


@scheduler.command("run")
@click.option("--once", is_flag=True,
              help="run the steps once and exit (the only mode; cron or a timer repeats it)")
@actor_option(system="nightly")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@with_appcontext
def run_command(once: bool, actor: str, as_json: bool) -> None:
    """Run the nightly steps; exit 1 if a step failed, 75 if another run holds the lock."""
    del once  # one run per invocation: scheduling the next belongs to cron/systemd timers
    try:
        report = run_nightly(services(), actor=actor)
    except SchedulerBusy as busy:
        click.echo(f"{pick('Lỗi', 'Error')}: {busy.one_line()}", err=True)
        sys.exit(EXIT_BUSY)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        _print_summary(report)
    if not report.ok:
        sys.exit(1)


__all__ = ["run_command", "scheduler"]
