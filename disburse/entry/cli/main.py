"""The ``disburse`` command line: a Flask click group with one sub-group per area.

Each command is an entry point: it opens a unit of work, calls a service and prints; a command
that changes data opens it with ``write=True`` (the write lock is taken up front). A
``DomainError``, or a clash with a concurrent transaction (reported as a concurrent change to
retry), becomes one line on stderr and exit status 1; an unexpected error is logged with its
traceback to the log directory and the user sees one line, exit status 2.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup

from disburse.core.clock import utcnow
from disburse.core.db import contention_conflict
from disburse.core.errors import DomainError
from disburse.core.private_files import restrict_umask
from disburse.entry.app import create_app


class DisburseGroup(FlaskGroup):
    """FlaskGroup that turns errors into one-line messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DomainError as error:
            click.echo(f"Error: {error.one_line()}", err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # output piped into `head` and closed: not an error
            sys.stderr.close()
            ctx.exit(0)
        except Exception as error:
            conflict = contention_conflict(error)
            if conflict is not None:  # a concurrent writer won; nothing of ours was saved
                click.echo(f"Error: {conflict.one_line()}", err=True)
                ctx.exit(1)
            if os.environ.get("DISBURSE_DEBUG"):
                raise
            where = _log_unexpected()
            click.echo(f"Error: internal error; the details were logged to {where}", err=True)
            ctx.exit(2)


def _log_unexpected() -> str:
    from disburse.core.config import Settings

    log_dir = Settings.from_env().log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "errors.log"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"--- {utcnow().isoformat()} {' '.join(sys.argv)}\n")
        handle.write(traceback.format_exc())
    return str(path)


def _make_app() -> Flask:
    return create_app()


cli = DisburseGroup(
    name="disburse",
    create_app=_make_app,
    add_default_commands=True,
    add_version_option=False,
    load_dotenv=False,
    help="disburse: non-cash social-security payments (Đề án 06).",
)


def _register() -> None:
    from disburse.entry.banksim.cli import banksim
    from disburse.entry.cli.bank import banks_group, batch_send, outbox_group
    from disburse.entry.cli.batches import batch_group
    from disburse.entry.cli.beneficiaries import beneficiaries_group
    from disburse.entry.cli.files import batch_files_command, export_public_command, files_group
    from disburse.entry.cli.foundation import audit_group, db_group, keys_group, users_group
    from disburse.entry.cli.reports import report_group
    from disburse.entry.cli.returns import batch_close_command, returns_group
    from disburse.entry.cli.scheduler import scheduler
    from disburse.entry.cli.synth import synth
    from disburse.entry.cli.verification import verify_command, verify_group
    from disburse.entry.popdb.cli import popdb

    keys_group.add_command(export_public_command)
    batch_group.add_command(batch_files_command)
    batch_group.add_command(batch_send)
    batch_group.add_command(batch_close_command)
    groups: list[click.Command] = [
        db_group, users_group, keys_group, audit_group, beneficiaries_group, popdb, synth,
        verify_command, verify_group, batch_group, files_group, banks_group, outbox_group,
        returns_group, report_group, scheduler, banksim,
    ]
    for group in groups:
        cli.add_command(group)


def main() -> None:
    """Console-script entry point."""
    restrict_umask()  # before anything is written: files the CLI creates are owner-only
    logging.basicConfig(level=logging.WARNING)
    cli.main(prog_name="disburse")


_register()

__all__ = ["cli", "main"]
