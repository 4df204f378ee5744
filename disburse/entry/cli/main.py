"""The ``disburse`` command line: a Flask click group with one sub-group per area.

Each command is an entry point: it opens a unit of work, calls a service and prints; a command
that changes data opens it with ``write=True`` (the write lock is taken up front). A
``DomainError``, or a clash with a concurrent transaction (reported as a concurrent change to
retry), becomes one line on stderr (in the language of ``DISBURSE_LANG``, Vietnamese by
default) and exit status 1; an unexpected error is logged with its
traceback to the log directory and the user sees one line, exit status 2.

Start-up stays light: each command family's module is imported only when one of its commands
runs (``_COMMANDS``), and ``disburse --help`` lists them from one-line descriptions kept here,
so neither lists nor help load pandas, matplotlib, openpyxl, lxml or the simulators.
``tests/unit/test_cli_startup.py`` keeps the descriptions equal to the commands' own help.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

import click
from flask.cli import FlaskGroup

from disburse.core.clock import utcnow
from disburse.core.errors import DomainError
from disburse.core.lang import pick
from disburse.core.private_files import restrict_umask

if TYPE_CHECKING:
    from flask import Flask

#: Top-level commands: name -> (module, attribute, the one-line help ``--help`` shows).
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "db": ("disburse.entry.cli.foundation", "db_group",
           "Database schema migrations (Alembic)."),
    "users": ("disburse.entry.cli.foundation", "users_group", "Users and their roles."),
    "keys": ("disburse.entry.cli.foundation", "keys_group",
             "Encryption keys for personal data at rest."),
    "audit": ("disburse.entry.cli.foundation", "audit_group", "The hash-chained audit trail."),
    "beneficiaries": ("disburse.entry.cli.beneficiaries", "beneficiaries_group",
                      "Beneficiary registry and list imports."),
    "popdb": ("disburse.entry.popdb.cli", "popdb",
              "Reference population registry (stands in for the national population "
              "database)."),
    "synth": ("disburse.entry.cli.synth", "synth",
              "Generate deterministic synthetic data for the demo, the tests and the "
              "benchmarks."),
    "verify": ("disburse.entry.cli.verification", "verify_command",
               "Verify beneficiaries against the population registry and print counts per "
               "outcome."),
    "verification": ("disburse.entry.cli.verification", "verify_group",
                     "Verification outcomes and overrides."),
    "batch": ("disburse.entry.cli.batches", "batch_group",
              "Monthly payment batches and their approval."),
    "files": ("disburse.entry.cli.files", "files_group", "Signed payment files: verification."),
    "banks": ("disburse.entry.cli.bank", "banks_group", "Registered banks and their API tokens."),
    "outbox": ("disburse.entry.cli.bank", "outbox_group",
               "Submissions of payment files to banks."),
    "returns": ("disburse.entry.cli.returns", "returns_group",
                "Bank return files and the reconciliation queue."),
    "report": ("disburse.entry.cli.reports", "report_group",
               "Cashless figures, exceptions and batch reports."),
    "scheduler": ("disburse.entry.cli.scheduler", "scheduler",
                  "The nightly run: re-verify, send approved batches, collect and reconcile "
                  "returns."),
    "banksim": ("disburse.entry.banksim.cli", "banksim",
                "Bank simulator: a separate bank service to test payment files against."),
}
#: Sub-commands that live in another family's module: group -> (module, attribute).
_EXTRA_SUBCOMMANDS: dict[str, tuple[tuple[str, str], ...]] = {
    "keys": (("disburse.entry.cli.files", "export_public_command"),),
    "batch": (("disburse.entry.cli.files", "batch_files_command"),
              ("disburse.entry.cli.bank", "batch_send"),
              ("disburse.entry.cli.returns", "batch_close_command")),
}


def _load_command(name: str, module: str, attribute: str) -> click.Command:
    command: click.Command = getattr(importlib.import_module(module), attribute)
    for extra_module, extra in _EXTRA_SUBCOMMANDS.get(name, ()):
        assert isinstance(command, click.Group)
        command.add_command(getattr(importlib.import_module(extra_module), extra))
    return command


class LazyCommands(MutableMapping[str, click.Command]):
    """The group's commands: every name is listed, a command's module loads on first access.

    Membership and iteration see all names without importing anything, so code that asks
    ``"report" in cli.commands`` or lists the names stays cheap; reading an entry imports it.
    """

    def __init__(self, loaded: MutableMapping[str, click.Command],
                 lazy: dict[str, tuple[str, str, str]]) -> None:
        """Keep the ``loaded`` commands; hold ``lazy`` (name -> module, attribute, help)."""
        self._loaded: dict[str, click.Command] = dict(loaded)
        self._lazy = {name: spec for name, spec in lazy.items() if name not in loaded}

    def is_loaded(self, name: str) -> bool:
        """Whether ``name`` is a command object already (not a name waiting to load)."""
        return name in self._loaded

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded and name in self._lazy:
            module, attribute, _ = self._lazy[name]
            self._loaded[name] = _load_command(name, module, attribute)
            del self._lazy[name]
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._lazy.pop(name, None)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if self._lazy.pop(name, None) is None:
            del self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        yield from self._loaded
        yield from self._lazy

    def __len__(self) -> int:
        return len(self._loaded) + len(self._lazy)


class DisburseGroup(FlaskGroup):
    """FlaskGroup that turns errors into one-line messages and exit codes.

    Listing and finding commands never loads the app (it registers no commands of its own):
    a command loads it when it runs, through its app context.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(self.commands)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        self._load_plugin_commands()
        return self.commands.get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands with their one-line help, without importing unloaded ones."""
        commands = self.commands
        loaded = commands.is_loaded if isinstance(commands, LazyCommands) else (
            lambda name: True)
        shown: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            command = commands[name] if loaded(name) else click.Command(
                name, help=_COMMANDS[name][2])
            if not command.hidden:
                shown.append((name, command))
        if shown:
            limit = formatter.width - 6 - max(len(name) for name, _ in shown)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit))
                                    for name, command in shown])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DomainError as error:
            click.echo(f"{_error_word()}: {error.one_line()}", err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # output piped into `head` and closed: not an error
            sys.stderr.close()
            ctx.exit(0)
        except Exception as error:
            from disburse.core.db import contention_conflict, missing_schema

            # a concurrent writer won (nothing of ours was saved), or the schema is missing
            known = contention_conflict(error) or missing_schema(error)
            if known is not None:
                click.echo(f"{_error_word()}: {known.one_line()}", err=True)
                ctx.exit(1)
            if os.environ.get("DISBURSE_DEBUG"):
                raise
            where = _log_unexpected()
            click.echo(pick(f"Lỗi: lỗi nội bộ; chi tiết đã được ghi vào {where}",
                            f"Error: internal error; the details were logged to {where}"),
                       err=True)
            ctx.exit(2)


def _error_word() -> str:
    """The word that starts a one-line error, in the language of ``DISBURSE_LANG``."""
    return pick("Lỗi", "Error")


def _log_unexpected() -> str:
    from disburse.core.config import Settings

    log_dir = Settings.from_env().log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "errors.log"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"--- {utcnow().isoformat()} {' '.join(sys.argv)}\n")
        handle.write(traceback.format_exc())
    return str(path)


#: Flask's own commands that serve or list requests: only they need the API blueprints.
_WEB_COMMANDS = frozenset({"run", "routes", "shell"})


def _make_app() -> Flask:
    from disburse.entry.app import create_app

    return create_app(web=_top_command() in _WEB_COMMANDS)


def _top_command() -> str | None:
    """The name of the top-level command being run (``users`` in ``disburse users list``)."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None and ctx.parent is not None and ctx.parent.parent is not None:
        ctx = ctx.parent
    return ctx.info_name if ctx is not None and ctx.parent is not None else None


cli = DisburseGroup(
    name="disburse",
    create_app=_make_app,
    add_default_commands=True,
    add_version_option=False,
    load_dotenv=False,
    help="disburse: non-cash social-security payments (Đề án 06).",
)


cli.commands = LazyCommands(cli.commands, _COMMANDS)


def main() -> None:
    """Console-script entry point."""
    restrict_umask()  # before anything is written: files the CLI creates are owner-only
    logging.basicConfig(level=logging.WARNING)
    cli.main(prog_name="disburse")


__all__ = ["cli", "main"]
