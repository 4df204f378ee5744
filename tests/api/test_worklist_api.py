"""``GET /api/v1/reports/worklist`` and ``disburse report worklist`` on the hand-made month of
``tests/integration/test_worklist.py``: the same people, in JSON, CSV and XLSX."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask
from openpyxl import load_workbook

from disburse.core import users
from disburse.core.config import Settings
from disburse.core.keyring import Keyring
from disburse.core.uow import unit_of_work
from disburse.core.users import Role, add_user
from disburse.entry.api.reports import report_api
from disburse.entry.cli.main import cli
from disburse.entry.cli.reports import report_group
from disburse.entry.context import services
from tests.api.test_report_api import PASSWORD, get
from tests.conftest import CliRun
from tests.integration.test_worklist import seed_worklist


@pytest.fixture
def wl(app: Flask, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                         parallelism=1))
    if "report_api" not in app.blueprints:
        app.register_blueprint(report_api)
    if "report" not in cli.commands:
        cli.add_command(report_group)
    keyring = Keyring.init(settings.key_dir)
    with unit_of_work(services(app).session_factory) as session:
        add_user(session, "audi", Role.AUDITOR, PASSWORD, actor="test")
        add_user(session, "bank1", Role.BANK, PASSWORD, actor="test", bank_bin="970436")
        seed_worklist(session, keyring)
    yield app


def test_api_worklist_equals_the_cli(wl: Flask, tmp_path: Path) -> None:
    response = get(wl, "/api/v1/reports/worklist?period=2026-10&province=01")
    assert response.status_code == 200 and response.json is not None
    assert [i["gap"] for i in response.json["items"]] == [
        "no_account", "account_problem", "name_mismatch", "account_problem"]
    assert response.json["items"][0]["phone"] == "0912345601"
    result = CliRun(wl)("report", "worklist", "--period", "2026-10", "--province", "01",
                        "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == response.json
    xlsx = get(wl, "/api/v1/reports/worklist?period=2026-10&format=xlsx")
    assert xlsx.status_code == 200
    assert load_workbook(io.BytesIO(xlsx.data)).sheetnames[1] == "00004 Phường Ba Đình"
    out = tmp_path / "worklist.xlsx"
    written = CliRun(wl)("report", "worklist", "--period", "2026-10", "--format", "xlsx",
                         "--out", str(out))
    assert written.exit_code == 0 and out.read_bytes()[:2] == b"PK"
    trend = get(wl, "/api/v1/reports/worklist/trend?from=2026-09&to=2026-10")
    assert trend.json is not None and [c["change"] for c in trend.json["communes"]] == [0, 1]
    csv_trend = CliRun(wl)("report", "worklist", "--from", "2026-09", "--to", "2026-10",
                           "--format", "csv")
    assert csv_trend.exit_code == 0 and csv_trend.stdout.splitlines()[2].endswith(",1,2,1")


@pytest.mark.parametrize("query,parameter", [
    ("worklist?period=2026-10&province=99", "province"),
    ("worklist?period=2026-10&province=01&commune=25747", "commune"),
    ("worklist", "period"),
    ("worklist?period=2026-13", "period"),
    ("worklist?period=2026-10&format=pdf", "format"),
    ("worklist/trend?to=2026-10", "from"),
])
def test_api_worklist_bad_parameters_are_422(wl: Flask, query: str, parameter: str) -> None:
    response = get(wl, f"/api/v1/reports/{query}")
    assert response.status_code == 422 and response.json is not None
    assert parameter in [e["parameter"] for e in response.json["errors"]]


def test_worklist_is_for_staff_only(wl: Flask) -> None:
    assert get(wl, "/api/v1/reports/worklist?period=2026-10", "bank1").status_code == 403
    assert get(wl, "/api/v1/reports/worklist?period=2026-10", None).status_code == 401


def test_cli_worklist_unknown_province_exits_1(wl: Flask) -> None:
    result = CliRun(wl)("report", "worklist", "--period", "2026-10", "--province", "1")
    assert result.exit_code == 1 and "01 Thành phố Hà Nội" in result.output
