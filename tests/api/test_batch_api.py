"""The batch JSON API, end to end through HTTP, against a real population-registry process.

A small synthetic population is served by ``python -m disburse.entry.popdb serve`` on 127.0.0.1
and its pension list is imported; the create endpoint builds its own HTTP registry client from
the settings, which point at that process. Batches are then submitted, approved by a second
person, their files written, downloaded and checked with the service's public key.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from beneficiaries.service import ImportOptions, import_list
from beneficiaries.synth import DefectRates, write_lists, write_population_csv
from disburse.core import signing, users
from disburse.core.config import Settings
from disburse.core.keyring import Keyring
from disburse.core.signing_keys import ensure_signing_keys, load_public_key
from disburse.core.users import Role, add_user
from disburse.entry.api.batches import batch_api
from disburse.entry.context import services
from disburse.payments.files import verify_payment_file
from tests.e2e.conftest import PopdbLauncher, PopdbProcess

PASSWORD = "correct horse battery"
USERS = {"prep": Role.PREPARER, "prep2": Role.PREPARER, "appr": Role.APPROVER,
         "audi": Role.AUDITOR, "boss": Role.ADMIN}
BANK_USER = "vcb-bot"
PROBLEM = "application/problem+json"
TODAY = date(2026, 11, 23)
BATCHES = "/api/v1/batches"
#: Only deaths are injected, so some people are excluded with a reason and the rest are paid.
RATES = DefectRates(wrong_name=0.0, wrong_dob=0.0, deceased=0.08, unknown_id=0.0,
                    invalid_account=0.0, duplicate_row=0.0, nfd_name=0.0,
                    lost_leading_zero=0.0)


@dataclass(frozen=True)
class World:
    """The registry process, the pension list it judges, and a prepared key directory."""

    server: PopdbProcess
    pension_list: Path
    rows: int
    keys: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A 240-person population served by a registry process, and signing keys (made once)."""
    root = tmp_path_factory.mktemp("batch-api")
    population = root / "population.csv"
    write_population_csv(population, 240, seed=11, deceased_share=0.05, today=TODAY)
    summary = write_lists(population, root / "lists", seed=11, rates=RATES, lang="en")
    key = json.loads(summary.answer_key.read_text(encoding="utf-8"))
    [(name, info)] = [(n, i) for n, i in key["files"].items() if i["programme"] == "pension"]
    keys = root / "keys"
    ensure_signing_keys(keys, Keyring.init(keys))  # RSA generation is slow: once per module
    launcher = PopdbLauncher(root)
    try:
        yield World(launcher.start(population, faults=False), root / "lists" / name,
                    int(info["rows"]), keys)
    finally:
        launcher.stop_all()


@pytest.fixture
def api(app: Flask, settings: Settings, world: World,
        monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The app with the batch blueprint, pointed at the registry, the pension list imported."""
    # Production argon2 costs ~0.4 s a hash and a check; passwords are not under test here.
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                         parallelism=1))
    if "batch_api" not in app.blueprints:
        app.register_blueprint(batch_api)
    svc = services(app)
    svc.settings = settings.with_overrides(registry_url=world.server.base_url,
                                           registry_token=world.server.token)
    shutil.copytree(world.keys, settings.key_dir)
    svc.reset_keyring()
    with svc.session_factory() as session:
        for name, role in USERS.items():
            add_user(session, name, role, PASSWORD, actor="test")
        add_user(session, BANK_USER, Role.BANK, PASSWORD, actor="test", bank_bin="970436")
        report = import_list(session, svc.keyring(), world.pension_list, programme="pension",
                             actor="prep", today=TODAY, options=ImportOptions(accept_valid=True))
        assert report.counts.added == world.rows, report.counts
        session.commit()
    return app


@pytest.fixture
def client(api: Flask) -> FlaskClient:
    """A test client of the app."""
    return api.test_client()


def call(client: FlaskClient, method: str, path: str, user: str | None = "prep",
         **body: Any) -> TestResponse:
    """Send ``method path`` as ``user`` (None: no credentials), with ``body`` as JSON."""
    auth = (user, PASSWORD) if user else None
    return client.open(f"{BATCHES}{path}", method=method, json=body, auth=auth)


def ok(response: TestResponse, status: int = 200) -> dict[str, Any]:
    """Assert ``status`` and return the JSON body."""
    assert response.status_code == status, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def problem(response: TestResponse, status: int) -> dict[str, Any]:
    """Assert a problem+json answer with ``status`` and return it."""
    assert response.status_code == status, response.get_json()
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    return body


def create(client: FlaskClient, period: str = "2026-11", user: str = "prep") -> dict[str, Any]:
    """Build a pension batch through the API."""
    return ok(call(client, "POST", "/", user, programme="pension", period=period), 201)


def approved(client: FlaskClient, period: str = "2026-11") -> dict[str, Any]:
    """Build, submit and approve (by a second person) a pension batch."""
    batch_id = create(client, period)["batch_id"]
    ok(call(client, "POST", f"/{batch_id}/submit"))
    return ok(call(client, "POST", f"/{batch_id}/approve", "appr"))


# --- the whole flow -------------------------------------------------------------------------


def test_build_summary_has_totals_by_route_and_bank_and_reasoned_exclusions(
        client: FlaskClient, world: World) -> None:
    response = call(client, "POST", "/", programme="pension", period="2026-11")
    body = ok(response, 201)
    assert response.headers["Location"].endswith(f"{BATCHES}/{body['batch_id']}")
    assert body["state"] == "draft" and body["preparer"] == "prep"
    assert body["count"] + body["excluded"] == world.rows
    assert body["count"] > 0 and isinstance(body["total"], int)
    for totals in (body["by_route"], body["by_bank"]):
        assert sum(t["count"] for t in totals) == body["count"]
        assert sum(t["total"] for t in totals) == body["total"]
    assert body["exclusions"]["deceased"]["count"] >= 1  # the registry reported deaths
    assert {"submit", "cancel"} <= set(body["allowed_actions"])
    assert "approve" not in body["allowed_actions"]
    assert body["approval"] is None and body["files"] == []
    assert ok(call(client, "GET", f"/{body['batch_id']}", "audi")) == body


def test_submit_approve_by_another_user_write_and_download_verified_files(
        client: FlaskClient, api: Flask, tmp_path: Path) -> None:
    batch = create(client)
    batch_id = batch["batch_id"]
    assert ok(call(client, "POST", f"/{batch_id}/submit"))["state"] == "pending_approval"

    refused = problem(call(client, "POST", f"/{batch_id}/approve", "prep"), 403)
    assert "maker-checker" in refused["detail"]
    assert ok(call(client, "GET", f"/{batch_id}"))["state"] == "pending_approval"

    done = ok(call(client, "POST", f"/{batch_id}/approve", "appr"))
    assert done["state"] == "approved"
    assert done["approval"]["approver"] == "appr"
    assert done["approval"]["batch_hash"] == done["content_hash"] == batch["content_hash"]
    assert (done["approval"]["count"], done["approval"]["total"]) == (batch["count"],
                                                                       batch["total"])

    files = ok(call(client, "POST", f"/{batch_id}/files"))["items"]
    assert sum(f["nb_of_txs"] for f in files) == batch["count"]
    assert sum(f["ctrl_sum"] for f in files) == batch["total"]
    files_dir = services(api).settings.data_dir / "payment_files" / str(batch_id)
    for f in files:
        _check_download(client, f, files_dir, tmp_path)
    detail = ok(call(client, "GET", f"/{batch_id}", "audi"))
    assert detail["state"] == "files_ready"
    assert [f["msg_id"] for f in detail["files"]] == [f["msg_id"] for f in files]
    assert ok(call(client, "GET", f"/{batch_id}/files", "appr"))["items"] == files


def _check_download(client: FlaskClient, f: dict[str, Any], files_dir: Path,
                    tmp_path: Path) -> None:
    """Download a file, its signature and manifest; check them against disk and the key."""
    response = client.get(f["links"]["file"], auth=("boss", PASSWORD))  # full files: admin
    data = ok_bytes(response)
    assert f"attachment; filename={f['file_name']}" in response.headers["Content-Disposition"]
    assert data == (files_dir / f["file_name"]).read_bytes()
    manifest = json.loads(ok_bytes(client.get(f["links"]["manifest"], auth=("audi", PASSWORD))))
    assert hashlib.sha256(data).hexdigest() == manifest["sha256"] == f["sha256"]
    assert (manifest["msg_id"], manifest["nb_of_txs"], manifest["ctrl_sum"]) == (
        f["msg_id"], f["nb_of_txs"], f["ctrl_sum"])
    signature = ok_bytes(client.get(f["links"]["signature"], auth=("audi", PASSWORD)))
    copy = tmp_path / f["file_name"]  # verify what was downloaded, not what is on disk
    copy.write_bytes(data)
    signing.signature_path(copy).write_bytes(signature)
    signing.manifest_path(copy).write_bytes(json.dumps(manifest).encode())
    key_dir = files_dir.parents[2] / "keys"
    public_key = load_public_key(key_dir, manifest["alg"])
    assert verify_payment_file(copy, public_key) == []
    copy.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])  # one changed byte
    assert verify_payment_file(copy, public_key) != []


def ok_bytes(response: TestResponse) -> bytes:
    """Assert 200 and return the raw body."""
    assert response.status_code == 200, response.get_data()[:300]
    return response.get_data()


def test_rewriting_the_files_gives_the_same_bytes(client: FlaskClient) -> None:
    batch_id = approved(client)["batch_id"]
    first = ok(call(client, "POST", f"/{batch_id}/files"))["items"]
    again = ok(call(client, "POST", f"/{batch_id}/files", "boss"))["items"]
    assert [(f["msg_id"], f["sha256"]) for f in again] == [
        (f["msg_id"], f["sha256"]) for f in first]


def test_a_file_changed_on_disk_is_not_served(client: FlaskClient, api: Flask) -> None:
    batch_id = approved(client)["batch_id"]
    [first, *_] = ok(call(client, "POST", f"/{batch_id}/files"))["items"]
    path = services(api).settings.data_dir / "payment_files" / str(batch_id) / first[
        "file_name"]
    path.write_bytes(path.read_bytes() + b" ")
    body = problem(client.get(first["links"]["file"], auth=("boss", PASSWORD)), 409)
    assert first["sha256"] in body["detail"]


# --- reject, cancel, validation -----------------------------------------------------------


def test_reject_needs_a_reason_and_returns_the_batch_to_draft(client: FlaskClient) -> None:
    batch_id = create(client)["batch_id"]
    ok(call(client, "POST", f"/{batch_id}/submit"))
    missing = problem(call(client, "POST", f"/{batch_id}/reject", "appr"), 422)
    assert missing["errors"][0]["parameter"] == "reason"
    problem(call(client, "POST", f"/{batch_id}/reject", "appr", reason="no"), 422)
    assert ok(call(client, "GET", f"/{batch_id}"))["state"] == "pending_approval"
    body = ok(call(client, "POST", f"/{batch_id}/reject", "appr",
                   reason="commune totals do not match the list"))
    assert (body["state"], body["reason"]) == ("draft", "commune totals do not match the list")
    problem(call(client, "POST", f"/{batch_id}/reject", "prep", reason="my own batch"), 403)


def test_cancel_with_a_reason_and_no_files_for_an_unapproved_batch(client: FlaskClient) -> None:
    batch_id = create(client)["batch_id"]
    problem(call(client, "POST", f"/{batch_id}/files"), 409)  # not approved: no files
    problem(call(client, "POST", f"/{batch_id}/cancel"), 422)
    body = ok(call(client, "POST", f"/{batch_id}/cancel", reason="built for the wrong month"))
    assert body["state"] == "cancelled" and body["allowed_actions"] == []
    problem(call(client, "POST", f"/{batch_id}/submit"), 409)
    problem(call(client, "POST", f"/{batch_id}/submit", "prep2"), 403)  # not the preparer


@pytest.mark.parametrize(("body", "parameter"), [
    ({"programme": "pension", "period": "2026-13"}, "period"),
    ({"programme": "lottery", "period": "2026-11"}, "programme"),
    ({"period": "2026-11"}, "programme"),
    ({"programme": "pension", "period": "2026-11", "province": "Hà Nội"}, "province"),
    ({"programme": "pension", "period": "2026-11", "amount": 5}, "amount"),
])
def test_bad_create_bodies_are_422_naming_the_parameter(client: FlaskClient, body, parameter
                                                        ) -> None:
    found = problem(call(client, "POST", "/", **body), 422)
    assert parameter in {e["parameter"] for e in found["errors"]}


def test_listing_filters_and_pages(client: FlaskClient) -> None:
    older = create(client, "2026-10")["batch_id"]
    newer = create(client, "2026-11")["batch_id"]
    page = ok(call(client, "GET", "/?programme=pension&per_page=1", "audi"))
    assert [b["id"] for b in page["items"]] == [newer] and page["has_more"] is True
    page2 = ok(call(client, "GET", "/?programme=pension&per_page=1&page=2", "audi"))
    assert [b["id"] for b in page2["items"]] == [older] and page2["has_more"] is False
    assert [b["id"] for b in ok(call(client, "GET", "/?period=2026-10"))["items"]] == [older]
    assert ok(call(client, "GET", "/?state=approved"))["items"] == []
    assert problem(call(client, "GET", "/?colour=red"), 422)["errors"][0]["parameter"] == "colour"


# --- who may call -----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/"), ("GET", "/1"), ("POST", "/"), ("POST", "/1/approve"), ("GET", "/1/files"),
    ("GET", "/1/files/1"), ("GET", "/1/files/1/signature"),
])
def test_unauthenticated_is_401_and_a_bank_user_is_403(client: FlaskClient, method: str,
                                                       path: str) -> None:
    problem(call(client, method, path, None), 401)
    problem(call(client, method, path, BANK_USER), 403)


def test_auditor_reads_but_cannot_change(client: FlaskClient) -> None:
    batch_id = create(client)["batch_id"]
    ok(call(client, "GET", f"/{batch_id}", "audi"))
    problem(call(client, "POST", "/", "audi", programme="pension", period="2026-12"), 403)
    problem(call(client, "POST", f"/{batch_id}/submit", "audi"), 403)
    problem(call(client, "POST", f"/{batch_id}/cancel", "audi", reason="not mine to do"), 403)


def test_unknown_batch_and_a_file_of_another_batch_are_404(client: FlaskClient) -> None:
    problem(call(client, "GET", "/999999"), 404)
    problem(call(client, "GET", "/999999/files"), 404)
    batch_id = approved(client)["batch_id"]
    [first, *_] = ok(call(client, "POST", f"/{batch_id}/files"))["items"]
    problem(call(client, "GET", f"/{batch_id + 1}/files/{first['id']}", "boss"), 404)
    problem(call(client, "GET", f"/{batch_id}/files/{first['id'] + 1000}/manifest"), 404)
