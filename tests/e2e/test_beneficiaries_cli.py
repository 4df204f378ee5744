"""``disburse beneficiaries``: the real console script, one process per command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from beneficiaries.columns import headers
from disburse.core.db import make_engine
from disburse.core.keyring import Keyring
from disburse.core.users import Role, add_user
from tests.conftest import migrate
from tests.listfiles import cccd, list_row, write_csv

DISBURSE = str(Path(sys.executable).parent / "disburse")
PASSWORD = "mật khẩu đủ dài 123"
COUNTS = re.compile(r"^rows (\d+)  added (\d+)  updated (\d+)  unchanged (\d+)  "
                    r"rejected (\d+)  flagged (\d+)  absent (\d+)  ended (\d+)$", re.MULTILINE)


def run(env: dict[str, str], *args: str, stdin: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    """Run ``disburse ARGS`` as a user would."""
    return subprocess.run([DISBURSE, *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def env(tmp_path: Path, fresh_database_url: str) -> dict[str, str]:
    """Environment of a fresh installation: database migrated, keys made, users added.

    The set-up is done in this process (the foundation tests run those commands as processes
    already); only the commands under test start a ``disburse`` process.
    """
    values = dict(os.environ)
    values.update(DISBURSE_DATABASE_URL=fresh_database_url,
                  DISBURSE_KEY_DIR=str(tmp_path / "keys"),
                  DISBURSE_DATA_DIR=str(tmp_path / "var"),
                  DISBURSE_LOG_DIR=str(tmp_path / "var" / "log"))
    values.pop("DISBURSE_DEBUG", None)
    engine = make_engine(fresh_database_url)
    migrate(engine)
    with Session(engine) as session:
        add_user(session, "lan", Role.PREPARER, PASSWORD, actor="test")
        add_user(session, "an", Role.AUDITOR, PASSWORD, actor="test")
        session.commit()
    engine.dispose()
    Keyring.init(tmp_path / "keys")
    return values


def beneficiary_count(env: dict[str, str]) -> int:
    """Rows in ``beneficiaries`` of the installation's database."""
    engine = make_engine(env["DISBURSE_DATABASE_URL"])
    with engine.connect() as connection:
        count = connection.execute(text("SELECT COUNT(*) FROM beneficiaries")).scalar_one()
    engine.dispose()
    return int(count)


def counts_line(output: str) -> tuple[int, ...]:
    """The numbers of the counts line the import prints."""
    match = COUNTS.search(output)
    assert match is not None, output
    return tuple(int(n) for n in match.groups())


def test_import_applies_a_good_file_and_list_masks_citizen_ids(env: dict[str, str],
                                                               tmp_path: Path) -> None:
    path = write_csv(tmp_path / "pension.csv", [list_row(1), list_row(2)], lang="en")

    result = run(env, "beneficiaries", "import", str(path), "--program", "pension",
                 "--actor", "lan")

    assert result.returncode == 0, result.stderr
    assert "applied" in result.stdout
    assert counts_line(result.stdout) == (2, 2, 0, 0, 0, 0, 0, 0)

    listed = run(env, "beneficiaries", "list", "--program", "pension")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("2 beneficiaries")
    for serial in (1, 2):
        full = cccd(serial)
        assert full not in listed.stdout
        assert f"********{full[-4:]}" in listed.stdout
    assert not re.search(r"\d{12}", listed.stdout)

    again = run(env, "beneficiaries", "import", str(path), "--program", "pension",
                "--actor", "lan", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["outcome"] == "duplicate_file"
    assert report["counts"]["added"] == 0
    assert isinstance(report["previous_import_id"], int)


def test_import_json_prints_the_counts(env: dict[str, str], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "l.csv", [list_row(1), list_row(2, amount="abc"), list_row(3)])

    result = run(env, "beneficiaries", "import", str(path), "--program", "pension",
                 "--actor", "lan", "--accept-valid", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "applied"
    assert {k: report["counts"][k] for k in ("rows", "added", "rejected")} == {
        "rows": 3, "added": 2, "rejected": 1}
    assert [(e["row"], e["column"], e["code"]) for e in report["errors"]] == [
        (3, "Amount", "amount_format")]


def test_rejected_file_exits_1_with_row_errors_and_no_traceback(env: dict[str, str],
                                                                tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [list_row(1), list_row(2, gender="robot")])

    result = run(env, "beneficiaries", "import", str(path), "--program", "pension",
                 "--actor", "lan")

    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "rejected" in result.stdout
    assert "bad.csv: row 3: Gender: [gender_unknown]" in result.stdout
    assert counts_line(result.stdout)[:5] == (2, 0, 0, 0, 1)
    assert beneficiary_count(env) == 0

    path = tmp_path / "legacy.csv"
    path.write_bytes("Citizen ID,Full name\r\n001158000001,Đào Thu Hà\r\n".encode("cp1258"))
    result = run(env, "beneficiaries", "import", str(path), "--program", "pension",
                 "--actor", "lan")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "legacy.csv" in result.stdout + result.stderr


def test_actor_without_the_preparer_role_is_refused(env: dict[str, str],
                                                    tmp_path: Path) -> None:
    path = write_csv(tmp_path / "l.csv", [list_row(1)])
    for actor, status, message in (
            ("an", 1, "user 'an' has role auditor, this needs preparer"),
            ("nobody", 2, "Invalid value for '--actor': no user named 'nobody'")):
        result = run(env, "beneficiaries", "import", str(path), "--program", "pension",
                     "--actor", actor)
        assert result.returncode == status, (actor, result.stdout)
        assert "Traceback" not in result.stdout + result.stderr
        assert message in result.stderr
    assert beneficiary_count(env) == 0


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_template_has_the_list_headers(tmp_path: Path, lang: str) -> None:
    env = {**os.environ, "DISBURSE_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
           "DISBURSE_KEY_DIR": str(tmp_path / "keys"), "DISBURSE_DATA_DIR": str(tmp_path),
           "DISBURSE_LOG_DIR": str(tmp_path / "log")}
    out = tmp_path / f"mau-{lang}.xlsx"
    result = run(env, "beneficiaries", "template", "--lang", lang, "--format", "xlsx",
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    sheet = load_workbook(out).worksheets[0]
    assert [c.value for c in sheet[1]] == headers(lang)
