"""``popdb`` commands: load a population CSV and serve the reference registry over HTTP.

The lead registers the group as ``disburse popdb``; ``python -m disburse.entry.popdb`` runs it
on its own, which is how the end-to-end tests start a real registry process.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click

from disburse.core.serving import exit_cleanly_on_sigterm, serve_forever
from disburse.entry.popdb.app import create_popdb_app
from disburse.entry.popdb.store import LoadReport, load_population

_DATA = click.Path(exists=True, dir_okay=False, path_type=Path)
_DB = click.Path(dir_okay=False, path_type=Path)


@click.group(name="popdb")
def popdb() -> None:
    """Reference population registry (stands in for the national population database)."""


def _load_or_fail(data: Path, db: Path) -> LoadReport:
    """Load the CSV; on bad rows print every error and exit non-zero (no traceback)."""
    report = load_population(data, db)
    if not report.ok:
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
        raise click.ClickException(
            f"{data}: {len(report.errors)} error(s) shown; the load was rejected and "
            "nothing was loaded"
        )
    return report


@popdb.command("load")
@click.option("--data", required=True, type=_DATA, help="Population CSV to load.")
@click.option("--db", required=True, type=_DB, help="SQLite database to create or replace.")
def load_command(data: Path, db: Path) -> None:
    """Load a population CSV into a SQLite database (all rows or none)."""
    report = _load_or_fail(data, db)
    click.echo(f"loaded {report.records} records into {db}")


@popdb.command("serve")
@click.option("--data", required=True, type=_DATA, help="Population CSV to load at start.")
@click.option("--port", required=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--token", required=True, envvar="POPDB_TOKEN", help="Bearer token clients send.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--db", type=_DB, default=None, help="Database file (default: a temporary one).")
@click.option("--max-batch", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--max-body-bytes", default=256 * 1024, show_default=True,
              type=click.IntRange(1024, 64 * 1024 * 1024))
@click.option("--faults", is_flag=True, help="Enable /_faults for tests (never in production).")
@click.option("--access-log", is_flag=True, help="Log every request to stderr.")
def serve_command(
    data: Path, port: int, token: str, host: str, db: Path | None, max_batch: int,
    max_body_bytes: int, faults: bool, access_log: bool,
) -> None:
    """Load the CSV, then serve the registry until interrupted."""
    if not token.strip():
        raise click.BadParameter("must not be empty", param_hint="--token")
    exit_cleanly_on_sigterm()
    workdir = None if db is not None else Path(tempfile.mkdtemp(prefix="popdb-"))
    db_path = db if db is not None else Path(str(workdir)) / "population.sqlite"
    try:
        report = _load_or_fail(data, db_path)
        app = create_popdb_app(db_path, token.strip(), max_batch=max_batch,
                               max_body_bytes=max_body_bytes, faults=faults)
        serve_forever(app, host, port, access_log=access_log,
                      banner=lambda bound: f"popdb listening on http://{host}:{bound} "
                                           f"({report.records} records)")
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
