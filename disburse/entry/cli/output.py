"""How commands print: JSON for ``--json``, and tables with a header row for people.

Kept apart from ``disburse.entry.cli.main`` (which imports every command module to register
it), so that command modules can import it without importing the whole command tree. Text
is in the language of ``DISBURSE_LANG`` (``disburse.core.lang``); JSON never changes with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click

from disburse.core.lang import pick

#: One column of a printed table: (Vietnamese header, English header).
Column = tuple[str, str]


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (dates and paths as strings)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def echo_table(columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> None:
    """Print a tab-separated table: a header row in the current language, then ``rows``.

    Tabs keep the output easy to cut and sort; ``None`` prints as ``-``.
    """
    click.echo("\t".join(pick(vi, en) for vi, en in columns))
    for row in rows:
        click.echo("\t".join("-" if cell is None else str(cell) for cell in row))


def say(vi: str, en: str, *, err: bool = False) -> None:
    """Print one message in the current language."""
    click.echo(pick(vi, en), err=err)


__all__ = ["Column", "echo_json", "echo_table", "say"]
