"""HTTP hardening: security headers on every answer, ``WWW-Authenticate`` on 401, numbers
beyond what a database row can carry answered 404/422 naming the parameter (never 500), and an
uploaded file name cut to the column that stores it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from bank_adapters import banks
from bank_adapters.models import ReceivedReturnFile
from disburse.core import signing, users
from disburse.core.keyring import Keyring
from disburse.core.params import MAX_ID, MAX_PAGE, column_length, cut_file_name
from disburse.core.uow import unit_of_work
from disburse.core.users import Role
from disburse.entry.context import PROBLEM_JSON, services

PASSWORD = "mật khẩu đủ dài 123"
BANK_BIN = "970418"
#: One of each role; every route is tried with each so at least one gets past the role check.
USERS = {"prep": Role.PREPARER, "appr": Role.APPROVER, "audi": Role.AUDITOR,
         "boss": Role.ADMIN}
TOO_BIG = MAX_ID + 1
HUGE = "99999999999999999999"


@dataclass
class World:
    client: FlaskClient
    token: str


@pytest.fixture
def world(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The app with a user of every role and one bank with an API token."""
    # Production argon2 costs ~0.4 s a check; passwords are not under test here.
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                         parallelism=1))
    svc = services(app)
    Keyring.init(svc.settings.key_dir)
    bank_key = signing.generate_ed25519()
    with unit_of_work(svc.session_factory, write=True) as session:
        for name, role in USERS.items():
            users.add_user(session, name, role, PASSWORD, actor="test")
        pem = signing.public_key_pem(bank_key.public_key()).decode("ascii")
        banks.add_bank(session, bank_bin=BANK_BIN, name="BIDV", route="bidv",
                       public_key_pem=pem, actor="test")
        token = banks.issue_token(session, BANK_BIN, actor="test")
    yield World(app.test_client(), token)


def int_routes(app: Flask) -> list[tuple[str, str, list[str]]]:
    """Every (method, rule, int parameters) of the app whose path holds an ``<int:...>``."""
    found = []
    for rule in app.url_map.iter_rules():
        ints = [name for name, conv in rule._converters.items()
                if type(conv).__name__ == "BoundedIntConverter"]
        if ints:
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((method, rule.rule, ints))
    return found


def fill(rule: str, values: dict[str, str]) -> str:
    """Put ``values`` into the ``<...>`` parts of ``rule`` (``any(...)`` takes its first)."""
    def one(match: re.Match[str]) -> str:
        spec = match.group(1)
        name = spec.split(":")[-1]
        if name in values:
            return values[name]
        choices = re.search(r"any\(([^)]*)\)", spec)
        return choices.group(1).split(",")[0].strip() if choices else "1"
    return re.sub(r"<([^>]+)>", one, rule)


def send(world: World, method: str, path: str, who: str | None) -> TestResponse:
    """Send as ``who``: a user name, "bank" (the bearer token) or None (no credentials)."""
    if who == "bank":
        return world.client.open(path, method=method, json={},
                                 headers={"Authorization": f"Bearer {world.token}"})
    return world.client.open(path, method=method, json={},
                             auth=(who, PASSWORD) if who else None)


def problem(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_data())
    assert response.mimetype == PROBLEM_JSON
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    return body


# --- headers --------------------------------------------------------------------------------


def assert_security_headers(response: TestResponse) -> None:
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("method", "path", "who", "status"), [
    ("GET", "/health", None, 200),
    ("GET", "/api/v1/beneficiaries", "audi", 200),
    ("GET", "/api/v1/batches/", "audi", 200),
    ("GET", "/api/v1/reports/exceptions", "audi", 200),
    ("GET", "/api/v1/verifications", "audi", 200),
    ("GET", "/api/v1/bank/payment-files", "bank", 200),
    ("GET", "/api/v1/batches/12345", "audi", 404),
    ("POST", "/api/v1/batches/", "audi", 403),
    ("GET", "/api/v1/batches/", None, 401),
    ("GET", "/no/such/page", None, 404),
    ("DELETE", "/api/v1/beneficiaries", "audi", 405),
], ids=lambda value: str(value))
def test_every_answer_carries_the_security_headers(world: World, method: str, path: str,
                                                   who: str | None, status: int) -> None:
    response = send(world, method, path, who)
    assert response.status_code == status, response.get_data()
    assert_security_headers(response)


def test_a_download_is_not_cached_either(world: World) -> None:
    response = world.client.get("/api/v1/templates/vi.csv", auth=("audi", PASSWORD))
    assert response.status_code == 200
    assert_security_headers(response)


@pytest.mark.parametrize("path", ["/api/v1/batches/", "/api/v1/beneficiaries",
                                  "/api/v1/reports/exceptions", "/api/v1/verifications"])
@pytest.mark.parametrize("credentials", [None, ("audi", "wrong password"),
                                         ("nobody", PASSWORD)], ids=["none", "wrong", "unknown"])
def test_401_names_the_basic_scheme(world: World, path: str,
                                    credentials: tuple[str, str] | None) -> None:
    response = world.client.get(path, auth=credentials)
    problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="disburse"')


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"},
                                     {"Authorization": "Basic YTpi"}],
                         ids=["none", "bad-token", "basic"])
def test_bank_api_401_names_the_bearer_scheme(world: World, headers: dict[str, str]) -> None:
    response = world.client.get("/api/v1/bank/payment-files", headers=headers)
    problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_a_good_answer_has_no_challenge(world: World) -> None:
    response = world.client.get("/api/v1/batches/", auth=("audi", PASSWORD))
    assert response.status_code == 200
    assert "WWW-Authenticate" not in response.headers


# --- numbers out of range -------------------------------------------------------------------


def test_every_blueprint_with_an_int_in_its_path_is_covered(app: Flask) -> None:
    rules = {rule for _, rule, _ in int_routes(app)}
    for prefix in ("/api/v1/beneficiaries/", "/api/v1/imports/", "/api/v1/verifications/",
                   "/api/v1/batches/", "/api/v1/bank/payment-files/", "/api/v1/reports/"):
        assert any(rule.startswith(prefix) for rule in rules), prefix


@pytest.mark.parametrize("value", [HUGE, str(TOO_BIG), "1" + "0" * 400])
def test_a_path_number_no_row_can_have_is_404_naming_the_parameter(app: Flask, world: World,
                                                                   value: str) -> None:
    routes = int_routes(app)
    assert len(routes) >= 15
    for method, rule, params in routes:
        for param in params:
            path = fill(rule, {param: value})
            for who in ("boss", "bank", None):
                response = send(world, method, path, who)
                body = problem(response, 404)
                assert f"path parameter {param}" in body["detail"], (method, path, body)
                assert_security_headers(response)


def test_the_largest_storable_id_reaches_the_database_and_is_not_a_500(app: Flask,
                                                                       world: World) -> None:
    for method, rule, params in int_routes(app):
        path = fill(rule, dict.fromkeys(params, str(MAX_ID)))
        for who in (*USERS, "bank"):
            response = send(world, method, path, who)
            assert response.status_code in (400, 401, 403, 404, 409, 422), \
                (method, path, who, response.status_code, response.get_data())
            assert response.mimetype == PROBLEM_JSON


@pytest.mark.parametrize(("path", "parameter", "value"), [
    ("/api/v1/beneficiaries", "page", HUGE),
    ("/api/v1/beneficiaries", "page", str(MAX_PAGE + 1)),
    ("/api/v1/beneficiaries", "per_page", HUGE),
    ("/api/v1/verifications", "page", HUGE),
    ("/api/v1/verifications", "per_page", HUGE),
    ("/api/v1/verifications", "beneficiary_id", HUGE),
    ("/api/v1/verifications", "beneficiary_id", str(TOO_BIG)),
    ("/api/v1/batches/", "page", HUGE),
    ("/api/v1/batches/", "per_page", HUGE),
    ("/api/v1/beneficiaries", "page", "0"),
    ("/api/v1/beneficiaries", "page", "-5"),
])
def test_a_query_number_out_of_range_is_422_naming_it(world: World, path: str, parameter: str,
                                                      value: str) -> None:
    response = world.client.get(f"{path}?{parameter}={value}", auth=("audi", PASSWORD))
    body = problem(response, 422)
    assert [e["parameter"] for e in body["errors"]] == [parameter]
    assert parameter in body["detail"]


@pytest.mark.parametrize("path", ["/api/v1/beneficiaries", "/api/v1/verifications"])
def test_the_last_allowed_page_is_an_empty_page(world: World, path: str) -> None:
    response = world.client.get(f"{path}?page={MAX_PAGE}&per_page=500", auth=("audi", PASSWORD))
    assert response.status_code == 200, response.get_data()
    assert response.get_json()["items"] == []


def test_the_largest_id_filter_finds_nothing(world: World) -> None:
    response = world.client.get(f"/api/v1/verifications?beneficiary_id={MAX_ID}",
                                auth=("audi", PASSWORD))
    assert response.status_code == 200, response.get_data()
    assert response.get_json()["items"] == []


# --- file names -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "length", "expected"), [
    ("short.xml", 200, "short.xml"),
    ("a" * 300 + ".xml", 200, "a" * 195 + "….xml"),
    ("a" * 300 + ".camt054.xml", 20, "a" * 15 + "….xml"),
    ("a" * 300, 200, "a" * 199 + "…"),
    ("a" * 300 + "." + "b" * 40, 200, ("a" * 300 + "." + "b" * 40)[:199] + "…"),
    ("x.verylongsuffix", 5, "x.ve…"),
])
def test_cut_file_name_keeps_a_short_suffix(name: str, length: int, expected: str) -> None:
    assert cut_file_name(name, length) == expected
    assert len(cut_file_name(name, length)) <= length


def test_a_5004_character_file_name_is_stored_cut_to_its_column(app: Flask,
                                                                 world: World) -> None:
    import io

    name = "r" * 5000 + ".xml"
    response = world.client.post(
        "/api/v1/bank/returns", headers={"Authorization": f"Bearer {world.token}"},
        data={"file": (io.BytesIO(b"<Document/>"), name)}, content_type="multipart/form-data")
    assert response.status_code < 500, response.get_data()
    assert_security_headers(response)
    limit = column_length(ReceivedReturnFile.file_name)
    with unit_of_work(services(app).session_factory) as session:
        stored = session.execute(select(ReceivedReturnFile.file_name)).scalars().all()
    assert stored == ["r" * (limit - 5) + "….xml"]
