"""The real ``disburse`` console script, run as a user would: a process per command."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from disburse.core.db import make_engine

DISBURSE = str(Path(sys.executable).parent / "disburse")
PASSWORD = "mật khẩu đủ dài 123"


@pytest.fixture
def env(tmp_path: Path, fresh_database_url: str) -> dict[str, str]:
    values = dict(os.environ)
    values.update(DISBURSE_DATABASE_URL=fresh_database_url,
                  DISBURSE_KEY_DIR=str(tmp_path / "keys"),
                  DISBURSE_DATA_DIR=str(tmp_path / "var"),
                  DISBURSE_LOG_DIR=str(tmp_path / "var" / "log"))
    values.pop("DISBURSE_DEBUG", None)
    return values


def run(env: dict[str, str], *args: str, stdin: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DISBURSE, *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=120, check=False)


def test_help_lists_every_command_group(env: dict[str, str]) -> None:
    result = run(env, "--help")
    assert result.returncode == 0, result.stderr
    for group in ("db", "users", "keys", "audit"):
        assert f"  {group} " in result.stdout


def test_full_foundation_flow(env: dict[str, str], tmp_path: Path) -> None:
    assert run(env, "db", "upgrade").returncode == 0
    current = run(env, "db", "current")
    assert "(head)" in current.stdout
    keys = run(env, "keys", "init")  # first: the audit trail is keyed with the keyring
    assert keys.returncode == 0, keys.stderr
    assert stat.S_IMODE((tmp_path / "keys" / "index.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys" / "audit.key").stat().st_mode) == 0o600

    added = run(env, "users", "add", "lan", "--role", "preparer", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "added user lan (preparer)" in added.stdout
    listed = run(env, "users", "list")
    assert "lan\tpreparer\tactive" in listed.stdout

    assert run(env, "users", "disable", "lan").returncode == 0
    assert "lan\tpreparer\tdisabled" in run(env, "users", "list").stdout

    rotated = run(env, "keys", "rotate")
    assert "key version 2 is current" in rotated.stdout

    verified = run(env, "audit", "verify")
    assert verified.returncode == 0
    assert "intact: 3 entries" in verified.stdout  # user.add, user.disable, keys.rotate


def test_audit_verify_fails_on_tampering(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    run(env, "keys", "init")
    for name in ("an", "binh", "chi"):
        run(env, "users", "add", name, "--role", "auditor", stdin=PASSWORD + "\n")
    engine = make_engine(env["DISBURSE_DATABASE_URL"])
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_entries_no_update"))
        conn.execute(text("UPDATE audit_entries SET object_id = 'eve' WHERE seq = 2"))
    engine.dispose()
    result = run(env, "audit", "verify")
    assert result.returncode == 1
    assert "BROKEN at entry 2" in result.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("users", "add", "lan", "--role", "preparer"), "short\n", "at least 12 characters"),
        (("users", "disable", "nobody"), None, "Not found: no user named 'nobody'"),
        (("keys", "rotate"), None, "run `disburse keys init`"),
    ],
)
def test_errors_are_one_line_without_traceback(
    env: dict[str, str], args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    run(env, "db", "upgrade")
    result = run(env, *args, stdin=stdin)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_unexpected_error_is_logged_not_shown(env: dict[str, str], tmp_path: Path) -> None:
    env["DISBURSE_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = run(env, "users", "list")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "details were logged" in result.stderr
    assert "Traceback" in (tmp_path / "var" / "log" / "errors.log").read_text()
