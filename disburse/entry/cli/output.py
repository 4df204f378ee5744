"""How commands print: JSON for ``--json`` and machine-readable listings.

Kept apart from ``disburse.entry.cli.main`` (which imports every command module to register
it), so that command modules can import it without importing the whole command tree.
"""

from __future__ import annotations

import json
from typing import Any

import click


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (dates and paths as strings)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


__all__ = ["echo_json"]
