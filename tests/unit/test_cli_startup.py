"""The CLI starts light: help and listing import no heavy library; the lazy table stays true.

Each check runs in a fresh interpreter (the test process has imported everything already) and
inspects ``sys.modules``: a check on what is imported, not on wall time (speed is measured in
``benchmarks/bench_startup.py``).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import click
import pytest

from disburse.entry.cli import main as cli_main

HEAVY = ("pandas", "matplotlib", "openpyxl", "lxml")

_PROBE = """
import json, sys
{body}
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))))
"""


def _heavy_after(body: str, tmp_path: object) -> list[str]:
    """Run ``body`` in a fresh interpreter; return the heavy top-level packages it loaded."""
    env = {**os.environ, "DISBURSE_DATA_DIR": str(tmp_path), "DISBURSE_LOG_DIR": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", _PROBE.format(body=body, heavy=HEAVY)],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def _help_body(args: list[str]) -> str:
    return ("from disburse.entry.cli.main import cli\n"
            "import contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            f"    cli.main({args!r}, prog_name='disburse')")


def test_help_imports_no_heavy_library(tmp_path: object) -> None:
    assert _heavy_after(_help_body(["--help"]), tmp_path) == []


@pytest.mark.parametrize("args", [["users", "--help"], ["db", "--help"], ["batch", "--help"],
                                  ["report", "--help"], ["beneficiaries", "--help"]])
def test_a_group_help_loads_neither_pandas_matplotlib_nor_openpyxl(args: list[str],
                                                                   tmp_path: object) -> None:
    # a group loads its own command module (and lxml with the payment-file parser: cheap)
    assert set(_heavy_after(_help_body(args), tmp_path)) <= {"lxml"}


def test_the_app_loads_neither_pandas_matplotlib_nor_openpyxl(tmp_path: object) -> None:
    # Every command runs inside the app, so the app factory must stay light as well (lxml
    # comes with the return parsers the bank API registers; it is cheap).
    body = "from disburse.entry.app import create_app\ncreate_app()"
    assert set(_heavy_after(body, tmp_path)) <= {"lxml"}


def test_listing_the_commands_loads_none_of_them() -> None:
    lazy = cli_main.LazyCommands({}, {"report": ("no.such.module", "nothing", "Reports.")})
    assert "report" in lazy and list(lazy) == ["report"] and len(lazy) == 1
    assert not lazy.is_loaded("report")
    with pytest.raises(ModuleNotFoundError):
        lazy["report"]


def test_help_lines_match_the_commands() -> None:
    # the one-line help in main._COMMANDS is what `disburse --help` shows; it must be the
    # command's own
    for name, (module, attribute, line) in cli_main._COMMANDS.items():
        command = cli_main.cli.commands[name]
        assert isinstance(command, click.Command)
        assert command.get_short_help_str(limit=1000) == line, (name, module, attribute)


def test_every_command_and_extra_subcommand_is_registered() -> None:
    names = set(cli_main.cli.commands)
    assert set(cli_main._COMMANDS) <= names
    assert {"run", "shell", "routes"} <= names  # Flask's own commands stay
    for group, extras in cli_main._EXTRA_SUBCOMMANDS.items():
        command = cli_main.cli.commands[group]
        assert isinstance(command, click.Group)
        for module, attribute in extras:
            extra = getattr(importlib.import_module(module), attribute)
            assert command.commands[extra.name] is extra


def test_a_command_that_serves_no_request_builds_the_app_without_the_api(tmp_path: object
                                                                        ) -> None:
    # `disburse users list` runs inside the app, but registers no blueprint: it would import
    # every domain's API (the return parsers, the reports) for nothing
    body = ("import contextlib, io\n"
            "from disburse.entry.cli.main import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "    cli.main(['users', 'list'], prog_name='disburse')\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('disburse.entry.api')"
            " or m.startswith('reconciliation.parsers'))))")
    env = {**os.environ, "DISBURSE_DATA_DIR": str(tmp_path), "DISBURSE_LOG_DIR": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", "import json, sys\n" + body],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_routes_still_lists_the_api(tmp_path: object) -> None:
    env = {**os.environ, "DISBURSE_DATA_DIR": str(tmp_path), "DISBURSE_LOG_DIR": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", "from disburse.entry.cli.main import main; "
                           "main()", "routes"], capture_output=True, text=True, timeout=120,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "/api/v1/batches" in done.stdout and "/api/v1/bank/returns" in done.stdout
