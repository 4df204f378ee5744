"""``disburse batch`` end to end: a list imported, a batch built against the real registry
process (``disburse.entry.popdb`` on 127.0.0.1), submitted, refused to its own preparer,
approved by a second person and shown."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import Result

from beneficiaries.synth.population import POPULATION_COLUMNS
from disburse.core.config import Settings
from disburse.entry.cli.batches import batch_group
from disburse.entry.cli.main import cli
from tests.conftest import CliRun
from tests.e2e.conftest import PopdbLauncher, PopdbProcess
from tests.listfiles import Row, list_row, write_csv

# Until the lead registers the group in ``disburse.entry.cli.main._register``.
if "batch" not in cli.commands:
    cli.add_command(batch_group)

PASSWORD = "mật khẩu đủ dài 123"
AMOUNT = 3_500_000
#: serial -> how the population registry knows the person.
PEOPLE = {1: "alive", 2: "alive", 3: "alive", 4: "renamed", 5: "deceased"}


def _rows() -> dict[int, Row]:
    return {serial: list_row(serial) for serial in PEOPLE}


@pytest.fixture
def popdb(tmp_path: Path, popdb_launcher: PopdbLauncher) -> PopdbProcess:
    """A registry process knowing the people of the list (one renamed, one dead)."""
    path = tmp_path / "population.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(POPULATION_COLUMNS)
        for serial, row in _rows().items():
            kind = PEOPLE[serial]
            writer.writerow([
                row["citizen_id"], "Trần Văn Nam" if kind == "renamed" else row["full_name"],
                row["date_of_birth"], row["gender"], row["province_code"], row["commune_code"],
                "deceased" if kind == "deceased" else "alive",
                "2026-08-30" if kind == "deceased" else ""])
    return popdb_launcher.start(path, faults=False)


@pytest.fixture
def settings(tmp_path: Path, fresh_database_url: str, popdb: PopdbProcess) -> Settings:
    """The conftest settings, pointed at the registry process."""
    return Settings(database_url=fresh_database_url, data_dir=tmp_path / "var",
                    key_dir=tmp_path / "keys", log_dir=tmp_path / "var" / "log",
                    registry_url=popdb.base_url, registry_token=popdb.token, testing=True)


def ok(result: Result) -> Result:
    """Assert the command succeeded and return its result."""
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture
def prepared(run_cli: CliRun, tmp_path: Path) -> CliRun:
    """Keys, a preparer (lan), an approver (minh) and the imported pension list."""
    ok(run_cli("keys", "init"))
    for name, role in (("lan", "preparer"), ("minh", "approver")):
        ok(run_cli("users", "add", name, "--role", role, "--password-stdin",
                   input=PASSWORD + "\n"))
    path = write_csv(tmp_path / "pension.csv", list(_rows().values()))
    ok(run_cli("beneficiaries", "import", str(path), "--program", "pension", "--actor", "lan"))
    return run_cli


def test_create_submit_approve_show(prepared: CliRun) -> None:
    run = prepared
    created = json.loads(ok(run("batch", "create", "--program", "pension", "--period",
                                "2026-11", "--actor", "lan", "--json")).stdout)
    batch_id = str(created["batch_id"])
    assert (created["count"], created["total"], created["state"]) == (3, 3 * AMOUNT, "draft")
    assert {reason: e["count"] for reason, e in created["exclusions"].items()} == {
        "name_mismatch": 1, "deceased": 1}
    assert created["by_route"] == [{"route": "vcb", "count": 3, "total": 3 * AMOUNT}]

    submitted = ok(run("batch", "submit", batch_id, "--actor", "lan")).stdout
    assert f"batch {batch_id} is pending_approval" in submitted

    own = run("batch", "approve", batch_id, "--actor", "lan")
    assert own.exit_code == 1
    lines = own.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Not allowed: ")
    assert "cannot approve" in lines[0]

    approved = ok(run("batch", "approve", batch_id, "--actor", "minh")).stdout
    assert f"batch {batch_id} approved by minh: 3 instructions" in approved

    shown = json.loads(ok(run("batch", "show", batch_id, "--json")).stdout)
    assert shown["state"] == "approved"
    assert shown["approval"]["approver"] == "minh"
    assert shown["approval"]["batch_hash"] == shown["content_hash"] == created["content_hash"]
    text = ok(run("batch", "show", batch_id)).stdout
    assert "[approved] prepared by lan" in text and "approved by minh" in text
    assert "excluded deceased: 1" in text
    listed = ok(run("batch", "list")).stdout.splitlines()
    assert listed[0].split("\t")[:5] == ["id", "programme", "period", "province", "state"]
    assert listed[1].split("\t")[:5] == [batch_id, "pension", "2026-11", "-", "approved"]


def test_errors_are_one_line_with_exit_1(prepared: CliRun) -> None:
    run = prepared
    bad = run("batch", "create", "--program", "pension", "--period", "2026-13",
              "--actor", "lan")
    assert bad.exit_code == 1
    assert bad.stderr.strip().splitlines() == [
        "Error: Validation failed: period must be YYYY-MM (e.g. 2026-11), got '2026-13'"]
    created = json.loads(ok(run("batch", "create", "--program", "pension", "--period",
                                "2026-11", "--actor", "lan", "--json")).stdout)
    again = run("batch", "create", "--program", "pension", "--period", "2026-11",
                "--actor", "lan")
    assert again.exit_code == 1
    assert "nothing to pay for pension 2026-11: 3 already instructed" in again.stderr
    reject = run("batch", "reject", str(created["batch_id"]), "--actor", "minh",
                 "--reason", "no")
    assert reject.exit_code == 1 and "reason of at least 5" in reject.stderr
    cancelled = ok(run("batch", "cancel", str(created["batch_id"]), "--actor", "lan",
                       "--reason", "built too early"))
    assert "cancelled (3 instructions" in cancelled.stdout
