"""Hostile lists through the real ``disburse beneficiaries import``, in a memory-capped process.

Issue 11, finding 3: an 827 KB XLSX with a huge shared-strings table took the CLI past 2 GB,
a 14.6 MB sheet of 3M rows reached 4.5 GB, a 50 MB CSV used 4 GB. Each file is generated
into ``tmp_path`` and imported by the console script in a child process whose address space is
capped at 1.5 GiB (``RLIMIT_AS``): the import must end with a clear refusal (exit 1, a message
naming the file and the limit, no traceback), write no beneficiary, and peak under 1 GiB of
resident memory (the child's ``ru_maxrss`` from ``wait4``, which covers its validation worker).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from disburse.core.db import make_engine
from disburse.core.keyring import Keyring
from disburse.core.users import Role, add_user
from tests import hostile_files
from tests.conftest import migrate
from tests.listfiles import list_row, write_csv

pytestmark = pytest.mark.e2e

DISBURSE = str(Path(sys.executable).parent / "disburse")
ADDRESS_SPACE_LIMIT = 3 * 512 * 1024 * 1024  # 1.5 GiB
PEAK_RSS_LIMIT = 1024 * 1024 * 1024  # 1 GiB
TIMEOUT_SECONDS = 300
PASSWORD = "mật khẩu đủ dài 123"


@dataclass(frozen=True)
class Outcome:
    """How a capped child process ended."""

    exit_code: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes


def _cap_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def run_capped(env: dict[str, str], out_dir: Path, *args: str, program: str = DISBURSE
               ) -> Outcome:
    """Run ``PROGRAM ARGS`` under the address-space cap; its exit code, output and peak RSS."""
    stdout, stderr = out_dir / "stdout.txt", out_dir / "stderr.txt"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen([program, *args], env=env, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL, preexec_fn=_cap_address_space)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
            pid, status, usage = os.wait4(process.pid, 0)
            pytest.fail(f"disburse {' '.join(args)} ran over {TIMEOUT_SECONDS} s")
        time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Outcome(process.returncode, stdout.read_text(errors="replace"),
                   stderr.read_text(errors="replace"), usage.ru_maxrss * 1024)


@pytest.fixture
def env(tmp_path: Path, fresh_database_url: str) -> dict[str, str]:
    """A fresh installation: migrated database, keyring and a preparer, set up in-process."""
    values = dict(os.environ)
    values.update(DISBURSE_DATABASE_URL=fresh_database_url,
                  DISBURSE_KEY_DIR=str(tmp_path / "keys"),
                  DISBURSE_DATA_DIR=str(tmp_path / "var"),
                  DISBURSE_LOG_DIR=str(tmp_path / "var" / "log"))
    for name in ("DISBURSE_DEBUG", "DISBURSE_MAX_UPLOAD_MB"):
        values.pop(name, None)
    engine = make_engine(fresh_database_url)
    migrate(engine)
    with Session(engine) as session:
        add_user(session, "lan", Role.PREPARER, PASSWORD, actor="test")
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


def import_file(env: dict[str, str], path: Path) -> Outcome:
    """``disburse beneficiaries import PATH --program pension --actor lan``, capped."""
    return run_capped(env, path.parent, "beneficiaries", "import", str(path),
                      "--program", "pension", "--actor", "lan")


HOSTILE: dict[str, tuple[str, Callable[[Path], Path], str]] = {
    # name: (file name, generator, what the refusal must mention)
    "shared_strings": ("strings.xlsx", hostile_files.shared_strings_bomb,
                       "shared-strings table holds more than 4,000,000 strings"),
    "tiny_rows": ("rows.xlsx", hostile_files.tiny_rows, "more than 2,000,000 rows"),
    "zip_bomb": ("bomb.xlsx", hostile_files.zip_bomb, "as a zip bomb does"),
    "giant_field": ("field.csv", hostile_files.giant_field_csv,
                    "longer than 100,000 characters"),
    "many_rows": ("rows.csv", hostile_files.many_rows_csv, "more than 2,000,000 rows"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_list_is_refused_within_bounded_memory(env: dict[str, str], tmp_path: Path,
                                                         case: str) -> None:
    file_name, generate, reason = HOSTILE[case]
    path = generate(tmp_path / file_name)

    outcome = import_file(env, path)

    output = outcome.stdout + outcome.stderr
    assert outcome.exit_code == 1, output
    assert "Traceback" not in output
    assert f"{file_name}: file refused: " in output
    assert reason in output
    assert str(tmp_path) not in output
    assert beneficiary_count(env) == 0
    assert outcome.peak_rss < PEAK_RSS_LIMIT, f"peak RSS {outcome.peak_rss / 2**20:.0f} MiB"


def test_a_file_over_the_upload_limit_is_refused_before_reading(env: dict[str, str],
                                                                tmp_path: Path) -> None:
    path = hostile_files.many_rows_csv(tmp_path / "big.csv", megabytes=3)
    env["DISBURSE_MAX_UPLOAD_MB"] = "2"

    outcome = import_file(env, path)

    assert outcome.exit_code == 1, outcome.stdout + outcome.stderr
    assert "big.csv: the file is 3.0 MiB; the upload limit is 2 MiB" in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert beneficiary_count(env) == 0


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_a_valid_list_still_imports_under_the_same_cap(env: dict[str, str], tmp_path: Path,
                                                       suffix: str) -> None:
    rows = 3_000
    if suffix == "xlsx":
        path = hostile_files.write_xlsx(tmp_path / "good.xlsx",
                                        hostile_files.header_and_rows(rows))
    else:
        path = write_csv(tmp_path / "good.csv", [list_row(n) for n in range(1, rows + 1)])

    outcome = import_file(env, path)

    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    assert f"rows {rows}  added {rows}" in outcome.stdout
    assert beneficiary_count(env) == rows
    assert outcome.peak_rss < PEAK_RSS_LIMIT


#: The web side: the app in a capped child process, the upload posted through its test client
#: (the request is handled by the same process, so its peak is what a server worker would see).
_WEB_CHILD = """
import io, json, sys
from pathlib import Path
from disburse.entry.app import create_app
path = Path(sys.argv[1])
client = create_app().test_client()
response = client.post("/api/v1/imports", auth=("lan", sys.argv[2]),
                       content_type="multipart/form-data",
                       data={"programme": "pension", "file": (path.open("rb"), path.name)})
print(json.dumps({"status": response.status_code, "mimetype": response.mimetype,
                  "body": response.get_json()}))
"""


def post_capped(env: dict[str, str], path: Path) -> tuple[Outcome, dict[str, Any]]:
    """POST ``path`` to ``/api/v1/imports`` as the preparer in a capped child process."""
    outcome = run_capped(env, path.parent, "-c", _WEB_CHILD, str(path), PASSWORD,
                         program=sys.executable)
    assert outcome.exit_code == 0, outcome.stderr
    answer: dict[str, Any] = json.loads(outcome.stdout.strip().splitlines()[-1])
    return outcome, answer


@pytest.mark.parametrize("case", ["shared_strings", "tiny_rows", "zip_bomb", "giant_field"])
def test_the_import_api_answers_a_hostile_upload_with_422(env: dict[str, str], tmp_path: Path,
                                                          case: str) -> None:
    file_name, generate, reason = HOSTILE[case]
    path = generate(tmp_path / file_name)

    outcome, answer = post_capped(env, path)

    assert answer["status"] == 422, answer
    assert answer["mimetype"] == "application/problem+json"
    assert answer["body"]["detail"].startswith(f"{file_name}: file refused: ")
    assert reason in answer["body"]["detail"]
    assert str(tmp_path) not in json.dumps(answer)
    assert beneficiary_count(env) == 0
    assert outcome.peak_rss < PEAK_RSS_LIMIT, f"peak RSS {outcome.peak_rss / 2**20:.0f} MiB"


def test_the_import_api_answers_an_upload_over_the_limit_with_413(env: dict[str, str],
                                                                  tmp_path: Path) -> None:
    path = hostile_files.many_rows_csv(tmp_path / "big.csv", megabytes=3)
    env["DISBURSE_MAX_UPLOAD_MB"] = "2"

    _, answer = post_capped(env, path)

    assert answer["status"] == 413, answer
    assert answer["mimetype"] == "application/problem+json"
    assert beneficiary_count(env) == 0
