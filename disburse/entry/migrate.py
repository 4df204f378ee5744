"""The Alembic configuration of the schema migrations in the top-level ``migrations`` folder.

The migrations import the models (through ``disburse.entry.models``); this side only names
their folder, found without importing it, so the two never import each other.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic.config import Config


def migrations_dir() -> Path:
    """Return the folder of the ``migrations`` package (Alembic's script location)."""
    spec = importlib.util.find_spec("migrations")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the migrations package is not installed beside disburse")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def alembic_config(database_url: str) -> Config:
    """Return an Alembic config for ``database_url`` without needing an alembic.ini file."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


__all__ = ["alembic_config", "migrations_dir"]
