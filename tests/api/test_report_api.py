"""The reports API and ``disburse report``: the same figures, access rules, 422 problems."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from werkzeug.test import TestResponse

from disburse.core import users
from disburse.core.uow import unit_of_work
from disburse.core.users import Role, add_user
from disburse.entry.api.reports import report_api
from disburse.entry.cli.main import cli
from disburse.entry.cli.reports import report_group
from disburse.entry.context import services
from tests.conftest import CliRun
from tests.integration.test_metrics_db import Seeded, expected, seed

PASSWORD = "correct horse battery"
USERS = {"prep": Role.PREPARER, "appr": Role.APPROVER, "audi": Role.AUDITOR, "boss": Role.ADMIN}
PROBLEM = "application/problem+json"


@pytest.fixture
def api(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Flask, Seeded]]:
    """The app with the reports blueprint and CLI group, staff users, a bank user, and data."""
    # Passwords are not under test: cheap argon2id hashes keep the file fast.
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                         parallelism=1))
    if "report_api" not in app.blueprints:
        app.register_blueprint(report_api)
    if "report" not in cli.commands:  # until the lead registers it in disburse/entry/cli/main.py
        cli.add_command(report_group)
    with unit_of_work(services(app).session_factory) as session:
        for name, role in USERS.items():
            add_user(session, name, role, PASSWORD, actor="test")
        add_user(session, "bank1", Role.BANK, PASSWORD, actor="test", bank_bin="970436")
        seeded = seed(session)
    yield app, seeded


def get(app: Flask, url: str, user: str | None = "audi") -> TestResponse:
    client: FlaskClient = app.test_client()
    headers = {}
    if user is not None:
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return client.get(url, headers=headers)


def cli_json(app: Flask, *args: str) -> Any:
    result = CliRun(app)("report", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("user", list(USERS))
def test_every_staff_role_reads_the_figures(api: tuple[Flask, Seeded], user: str) -> None:
    app, _ = api
    response = get(app, "/api/v1/reports/cashless?period=2026-11", user)
    assert response.status_code == 200
    assert response.json is not None
    total = response.json["total"]
    assert {k: total[k] for k in expected()} == expected(lambda i: i[2] == "2026-11")


@pytest.mark.parametrize("url,args", [
    ("/api/v1/reports/cashless?period=2026-11&by=programme,province,commune",
     ["cashless", "--period", "2026-11", "--by", "programme,province,commune",
      "--format", "json"]),
    ("/api/v1/reports/cashless?programme=pension&province=01&by=period",
     ["cashless", "--program", "pension", "--province", "01", "--by", "period",
      "--format", "json"]),
    ("/api/v1/reports/cashless/trend?from=2026-09&to=2026-12&by=programme",
     ["cashless", "--from", "2026-09", "--to", "2026-12", "--by", "programme",
      "--format", "json"]),
    ("/api/v1/reports/exceptions", ["exceptions", "--format", "json"]),
    ("/api/v1/reports/exceptions?state=all", ["exceptions", "--state", "all",
                                              "--format", "json"]),
])
def test_api_json_equals_the_cli_json(api: tuple[Flask, Seeded], url: str,
                                      args: list[str]) -> None:
    app, _ = api
    response = get(app, url)
    assert response.status_code == 200, response.json
    from_cli = cli_json(app, *args)
    assert response.json == from_cli
    assert from_cli.get("groups", from_cli.get("items"))  # not two empty answers


def test_batch_report_equals_the_cli(api: tuple[Flask, Seeded]) -> None:
    app, seeded = api
    batch_id = seeded.batches["C"]
    response = get(app, f"/api/v1/reports/batches/{batch_id}")
    assert response.status_code == 200
    assert response.json == cli_json(app, "batch", str(batch_id), "--format", "json")
    assert response.json is not None
    assert response.json["figures"]["rerouted_cash_count"] == 1
    assert [f["msg_id"] for f in response.json["files"]] == ["MSG-C"]
    assert get(app, "/api/v1/reports/batches/999999").status_code == 404


def test_no_credentials_is_401_and_a_bank_user_is_403(api: tuple[Flask, Seeded]) -> None:
    app, _ = api
    for url in ("/api/v1/reports/cashless", "/api/v1/reports/exceptions"):
        anonymous = get(app, url, None)
        assert (anonymous.status_code, anonymous.mimetype) == (401, PROBLEM)
        bank = get(app, url, "bank1")
        assert (bank.status_code, bank.mimetype) == (403, PROBLEM)
    assert get(app, "/api/v1/reports/cashless", "audi").status_code == 200


@pytest.mark.parametrize("query,parameter", [
    ("cashless?period=2026-13", "period"),
    ("cashless?period=november", "period"),
    ("cashless?programme=lottery", "programme"),
    ("cashless?province=1", "province"),
    ("cashless?province=99", "province"),
    ("cashless?commune=abc", "commune"),
    ("cashless?province=01&commune=25747", "commune"),
    ("cashless/trend?from=2026-01&to=2026-02&province=99", "province"),
    ("cashless?by=programme,bank", "by"),
    ("cashless?format=pdf", "format"),
    ("cashless?colour=red", "colour"),
    ("cashless/trend?to=2026-12", "from"),
    ("cashless/trend?from=2026-12&to=2026-01", "to"),
    ("exceptions?state=maybe", "state"),
])
def test_bad_parameters_are_422_naming_them(api: tuple[Flask, Seeded], query: str,
                                            parameter: str) -> None:
    app, _ = api
    response = get(app, f"/api/v1/reports/{query}")
    assert (response.status_code, response.mimetype) == (422, PROBLEM)
    assert response.json is not None
    assert parameter in [e["parameter"] for e in response.json["errors"]]


@pytest.mark.parametrize("query,parameter,known", [
    ("province=99", "province", "79 Thành phố Hồ Chí Minh"),
    ("province=1", "province", "01 Thành phố Hà Nội"),
    ("province=01&commune=99999", "commune", "00004 Phường Ba Đình"),
])
def test_unknown_places_are_422_naming_the_known_codes(api: tuple[Flask, Seeded], query: str,
                                                       parameter: str, known: str) -> None:
    app, _ = api
    response = get(app, f"/api/v1/reports/cashless?{query}")
    assert response.status_code == 422 and response.json is not None
    [error] = [e for e in response.json["errors"] if e["parameter"] == parameter]
    assert any(known in message for message in error["messages"])


@pytest.mark.parametrize("args,known", [
    (["--province", "99"], "79 Thành phố Hồ Chí Minh"),
    (["--province", "1"], "01 Thành phố Hà Nội"),
    (["--province", "01", "--commune", "99999"], "00004 Phường Ba Đình"),
])
def test_cli_unknown_places_exit_1_naming_the_known_codes(api: tuple[Flask, Seeded],
                                                          args: list[str], known: str) -> None:
    app, _ = api
    result = CliRun(app)("report", "cashless", "--period", "2026-11", *args)
    assert result.exit_code == 1
    assert known in result.output and "unknown" in result.output
    assert "Traceback" not in result.output


def test_api_downloads_the_workbook_and_the_chart(api: tuple[Flask, Seeded]) -> None:
    app, _ = api
    xlsx = get(app, "/api/v1/reports/cashless?period=2026-11&format=xlsx")
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.data))
    assert book.sheetnames == ["Tổng hợp", "Theo tỉnh", "Theo xã", "Ngoại lệ và từ chối",
                               "Tệp chi trả"]
    png = get(app, "/api/v1/reports/cashless?format=png")
    assert (png.status_code, png.mimetype, png.data[:4]) == (200, "image/png", b"\x89PNG")


def test_cli_writes_files_and_tables(api: tuple[Flask, Seeded], tmp_path: Path) -> None:
    app, seeded = api
    run = CliRun(app)
    out = tmp_path / "cashless.xlsx"
    result = run("report", "cashless", "--period", "2026-10", "--format", "xlsx",
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    summary = {r[0]: r[1] for r in load_workbook(out)["Tổng hợp"].iter_rows(values_only=True)}
    assert summary["Đã chi trả, số lệnh (Paid, payments)"] == expected(
        lambda i: i[2] == "2026-10")["paid_count"]
    chart = tmp_path / "chart.png"
    assert run("report", "cashless", "--format", "png", "--out", str(chart)).exit_code == 0
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = run("report", "cashless", "--period", "2026-11", "--by", "province")
    assert table.exit_code == 0
    assert "79 - Thành phố Hồ Chí Minh" in table.stdout and "Total" in table.stdout
    csv_out = run("report", "cashless", "--period", "2026-11", "--format", "csv")
    csv_lines = csv_out.stdout.splitlines()
    assert csv_lines[0].startswith("Phạm vi (Scope),")
    assert len(csv_lines) == 2 and csv_lines[1].startswith("Tổng cộng (Total),")
    batch = run("report", "batch", str(seeded.batches["A"]), "--format", "xlsx",
                "--out", str(tmp_path / "batch.xlsx"))
    assert batch.exit_code == 0
    assert "MSG-A" in run("report", "batch", str(seeded.batches["A"])).stdout
    assert "amount_mismatch" in run("report", "exceptions").stdout


@pytest.mark.parametrize("args,message", [
    (["cashless", "--period", "2026-13"], "period must be YYYY-MM"),
    (["cashless", "--by", "bank"], "unknown group key"),
    (["cashless", "--format", "xlsx"], "needs --out"),
    (["cashless", "--period", "2026-11", "--from", "2026-01", "--to", "2026-02"], "not both"),
    (["batch", "999999"], "no batch 999999"),
])
def test_cli_errors_are_one_line(api: tuple[Flask, Seeded], args: list[str],
                                 message: str) -> None:
    app, _ = api
    result = CliRun(app)("report", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
