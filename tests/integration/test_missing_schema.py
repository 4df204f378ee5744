"""A command run before ``disburse db upgrade`` says what to run, on either backend."""

from __future__ import annotations

import pytest

from disburse.core.config import Settings
from disburse.entry.app import create_app
from tests.conftest import CliRun


@pytest.mark.parametrize("args", [["users", "list"], ["batch", "list"],
                                  ["returns", "exceptions"]])
def test_a_database_without_tables_gets_a_one_line_hint(settings: Settings,
                                                        args: list[str]) -> None:
    app = create_app(settings)  # never migrated
    try:
        result = CliRun(app)(*args)
    finally:
        app.extensions["disburse"].engine.dispose()
    assert result.exit_code == 1, result.output
    assert "run `disburse db upgrade`" in result.output
    assert "internal error" not in result.output
