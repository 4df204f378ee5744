"""The ``disburse`` command line: a Flask click group with one sub-group per area.

Each command is an entry point: it opens a unit of work, calls a service and prints; a command
that changes data opens it with ``write=True`` (the write lock is taken up front). A
``DomainError``, or a clash with a concurrent transaction (reported as a concurrent change to
retry), becomes one line on stderr and exit status 1; an unexpected error is logged with its
traceback to the log directory and the user sees one line, exit status 2.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup

from disburse.app import create_app, services
from disburse.cli_actor import actor_option
from disburse.clock import utcnow
from disburse.db import contention_conflict
from disburse.errors import DomainError
from disburse.private_files import restrict_umask
from disburse.uow import unit_of_work


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
    from disburse.config import Settings

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


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (dates and paths as strings)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _register() -> None:
    from bank_adapters.banksim.cli import banksim
    from bank_adapters.cli import banks_group, batch_send, outbox_group
    from beneficiaries.cli import beneficiaries_group
    from beneficiaries.popdb.cli import popdb
    from beneficiaries.synth.cli import synth
    from beneficiaries.verification.cli import verify_command, verify_group
    from disburse.batches.cli import batch_group
    from disburse.batches.files_cli import batch_files_command, export_public_command, files_group
    from disburse.cli_core import audit_group, db_group, keys_group, users_group
    from disburse.scheduler import scheduler
    from reconciliation.cli import batch_close_command, returns_group
    from reconciliation.report_cli import report_group

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

__all__ = ["actor_option", "cli", "echo_json", "main", "services", "unit_of_work"]
