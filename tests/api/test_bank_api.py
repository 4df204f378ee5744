"""The bank-facing API: token auth, scoping to one bank, downloads, return-file uploads."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from bank_adapters import banks
from bank_adapters.models import Bank, ReceivedReturnFile
from bank_adapters.outbox import outgoing_file
from disburse.core import audit, signing
from disburse.core.keyring import Keyring
from disburse.core.uow import unit_of_work
from disburse.core.users import User
from disburse.entry.context import services
from disburse.payments.models import PaymentFile
from disburse.payments.storage import payment_files_root
from tests.integration.test_outbox import make_batch

BIDV, VCB = "970418", "970436"
RETURN_XML = (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.12">'
              b"<CstmrPmtStsRpt><GrpHdr><MsgId>R1</MsgId>"
              b"<CreDtTm>2026-11-24T16:05:00+07:00</CreDtTm></GrpHdr><OrgnlGrpInfAndSts>"
              b"<OrgnlMsgId>NOT-OURS-1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>"
              b"<GrpSts>ACCP</GrpSts></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>\n")
EMPTY_XML = b"<Document><CstmrPmtStsRpt>status report</CstmrPmtStsRpt></Document>\n"


@dataclass
class World:
    tokens: dict[str, str]
    bank_keys: dict[str, signing.PrivateKey]
    files: dict[str, list[PaymentFile]]  # route -> files of submitted batches
    unsent: PaymentFile  # a bidv file whose batch is only files_ready
    files_root: Path


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client; the blueprint is registered here until the lead wires it in app.py."""
    from disburse.entry.api.bank import bank_api

    if "bank_api" not in app.blueprints:
        app.register_blueprint(bank_api)
    return app.test_client()


@pytest.fixture
def world(app: Flask) -> World:
    svc = services(app)
    # Uploaded returns are reconciled at once, which opens encrypted accounts: the service
    # needs its keyring, as it always has in production.
    Keyring.init(svc.settings.key_dir)
    service_key = signing.generate_ed25519()
    bank_keys = {BIDV: signing.generate_ed25519(), VCB: signing.generate_ed25519()}
    root = payment_files_root(svc.settings.data_dir)
    with unit_of_work(svc.session_factory) as session:
        for bank_bin, route in ((BIDV, "bidv"), (VCB, "vcb")):
            pem = signing.public_key_pem(bank_keys[bank_bin].public_key()).decode("ascii")
            banks.add_bank(session, bank_bin=bank_bin, name=route.upper(), route=route,
                           public_key_pem=pem, actor="admin")
        tokens = {b: banks.issue_token(session, b, actor="admin") for b in (BIDV, VCB)}
        _, sent = make_batch(session, root, service_key, ["bidv", "vcb", "bidv"],
                             state="submitted", msg_prefix="S")
        _, unsent = make_batch(session, root, service_key, ["bidv"], msg_prefix="U")
    files = {"bidv": [f for f in sent if f.route == "bidv"],
             "vcb": [f for f in sent if f.route == "vcb"]}
    return World(tokens, bank_keys, files, unsent[0], root)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_is_hashed_at_rest_and_creates_a_scoped_bank_user(app: Flask, world) -> None:
    with unit_of_work(services(app).session_factory) as session:
        bank = session.get_one(Bank, BIDV)
        user = session.execute(select(User).where(User.name == "bank-970418")).scalar_one()
    assert bank.token_hash == hashlib.sha256(world.tokens[BIDV].encode()).hexdigest()
    assert world.tokens[BIDV] not in (bank.token_hash or "")
    assert (user.role, user.bank_bin, user.active) == ("bank", BIDV, True)
    assert len(world.tokens[BIDV]) >= 40


@pytest.mark.parametrize("header", [
    {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer not-a-token"},
    {"Authorization": "Basic YmFuazpwYXNz"},
])
def test_missing_or_wrong_token_is_401(client: FlaskClient, world, header) -> None:
    response = client.get("/api/v1/bank/payment-files", headers=header)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_a_new_token_replaces_the_old_one(app: Flask, client: FlaskClient, world) -> None:
    with unit_of_work(services(app).session_factory) as session:
        fresh = banks.issue_token(session, BIDV, actor="admin")
    assert client.get("/api/v1/bank/payment-files",
                      headers=auth(world.tokens[BIDV])).status_code == 401
    assert client.get("/api/v1/bank/payment-files", headers=auth(fresh)).status_code == 200


def test_listing_holds_only_the_banks_own_sent_files(client: FlaskClient, world) -> None:
    for bank_bin, route in ((BIDV, "bidv"), (VCB, "vcb")):
        response = client.get("/api/v1/bank/payment-files", headers=auth(world.tokens[bank_bin]))
        assert response.status_code == 200
        listed = {item["msg_id"] for item in response.get_json()["items"]}
        assert listed == {f.msg_id for f in world.files[route]}
    # The bidv file of a batch not yet submitted is not offered.
    assert world.unsent.msg_id not in listed


def test_download_gives_the_exact_file_signature_and_manifest(client: FlaskClient,
                                                              world) -> None:
    payment_file = world.files["bidv"][0]
    source = outgoing_file(payment_file, world.files_root)
    base = f"/api/v1/bank/payment-files/{payment_file.id}"
    headers = auth(world.tokens[BIDV])
    detail = client.get(base, headers=headers).get_json()
    assert (detail["msg_id"], detail["sha256"]) == (payment_file.msg_id, payment_file.sha256)
    data = client.get(f"{base}/file", headers=headers).data
    assert hashlib.sha256(data).hexdigest() == payment_file.sha256
    assert client.get(f"{base}/signature", headers=headers).data == \
        source.signature_path.read_bytes()
    manifest = json.loads(client.get(f"{base}/manifest", headers=headers).data)
    assert manifest["msg_id"] == payment_file.msg_id and manifest["sha256"] == payment_file.sha256



def test_bank_downloads_are_audited(app: Flask, client: FlaskClient, world) -> None:
    payment_file = world.files["bidv"][0]
    base = f"/api/v1/bank/payment-files/{payment_file.id}"
    for part in ("file", "manifest"):
        assert client.get(f"{base}/{part}", headers=auth(world.tokens[BIDV])).status_code == 200
    with unit_of_work(services(app).session_factory) as session:
        entries = session.execute(
            select(audit.AuditEntry.action, audit.AuditEntry.detail)
            .where(audit.AuditEntry.object_type == "payment_file",
                   audit.AuditEntry.object_id == str(payment_file.id))).tuples().all()
    assert [action for action, _ in entries] == ["payment_file.download.file",
                                                 "payment_file.download.manifest"]
    assert entries[0][1]["sha256"] == payment_file.sha256


@pytest.mark.parametrize("part", ["", "/file", "/signature", "/manifest"])
def test_another_banks_file_is_404_like_a_missing_one(client: FlaskClient, world,
                                                      part: str) -> None:
    foreign = world.files["vcb"][0]
    response = client.get(f"/api/v1/bank/payment-files/{foreign.id}{part}",
                          headers=auth(world.tokens[BIDV]))
    missing = client.get(f"/api/v1/bank/payment-files/999999{part}",
                         headers=auth(world.tokens[BIDV]))
    assert response.status_code == missing.status_code == 404
    assert response.get_json()["title"] == missing.get_json()["title"]
    unsent = client.get(f"/api/v1/bank/payment-files/{world.unsent.id}{part}",
                        headers=auth(world.tokens[BIDV]))
    assert unsent.status_code == 404


def upload(client: FlaskClient, token: str, data: bytes, signature: bytes | None,
           name: str = "pain002.xml") -> TestResponse:
    form: dict[str, tuple[io.BytesIO, str]] = {"file": (io.BytesIO(data), name)}
    if signature is not None:
        form["signature"] = (io.BytesIO(signature), name + ".sig")
    return client.post("/api/v1/bank/returns", headers=auth(token), data=form,
                       content_type="multipart/form-data")


def stored_rows(app: Flask) -> list[ReceivedReturnFile]:
    with unit_of_work(services(app).session_factory) as session:
        return list(session.execute(select(ReceivedReturnFile)
                                    .order_by(ReceivedReturnFile.id)).scalars())


def test_valid_return_is_received_and_stored_unchanged(app: Flask, client: FlaskClient,
                                                       world) -> None:
    signature = world.bank_keys[BIDV].sign(RETURN_XML)
    response = upload(client, world.tokens[BIDV], RETURN_XML, signature)
    assert response.status_code == 201
    body = response.get_json()
    assert (body["state"], body["signature_valid"], body["bank_bin"]) == (
        "received", True, BIDV)
    # Taken in through the one intake path: applied at once, with its reconciliation counts
    # (a whole-file status for a MsgId this service never sent: queued for an auditor).
    assert (body["outcome"], body["signature"]) == ("applied", "valid")
    assert body["reconciliation"]["records"] == body["reconciliation"]["exceptions"] == 1
    (row,) = stored_rows(app)
    sha = hashlib.sha256(RETURN_XML).hexdigest()
    expected_path = services(app).settings.data_dir / "returns" / BIDV / sha
    assert Path(row.stored_path) == expected_path and expected_path.read_bytes() == RETURN_XML
    assert (row.source, row.file_name, row.size) == ("api", "pain002.xml", len(RETURN_XML))


@pytest.mark.parametrize("signer", ["other_bank", "none", "garbage"])
def test_return_with_bad_or_missing_signature_is_quarantined(
        app: Flask, client: FlaskClient, world, signer: str) -> None:
    signature = {"other_bank": world.bank_keys[VCB].sign(RETURN_XML), "none": None,
                 "garbage": b"\x00" * 64}[signer]
    response = upload(client, world.tokens[BIDV], RETURN_XML, signature)
    assert response.status_code == 201
    assert response.get_json()["state"] == "quarantined"
    assert response.get_json()["outcome"] == "quarantined"
    assert response.get_json()["reconciliation"]["records"] == 0  # never applied
    (row,) = stored_rows(app)
    assert (row.state, row.signature_valid) == ("quarantined", False)
    assert Path(row.stored_path).read_bytes() == RETURN_XML  # kept for inspection
    with unit_of_work(services(app).session_factory) as session:
        actions = session.execute(select(audit.AuditEntry.action)
                                  .where(audit.AuditEntry.object_type == "return_file")
                                  ).scalars().all()
    assert actions == ["returns.quarantine"]


def test_same_return_twice_is_a_duplicate_and_changes_nothing(app: Flask,
                                                             client: FlaskClient,
                                                             world) -> None:
    signature = world.bank_keys[BIDV].sign(RETURN_XML)
    first = upload(client, world.tokens[BIDV], RETURN_XML, signature)
    second = upload(client, world.tokens[BIDV], RETURN_XML, signature, name="again.xml")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.get_json()["state"] == "duplicate"
    assert second.get_json()["outcome"] == "duplicate"
    assert second.get_json()["id"] == first.get_json()["id"]
    (row,) = stored_rows(app)
    assert (row.state, row.file_name) == ("received", "pain002.xml")
    # The other bank sending the same bytes is its own file, not a duplicate of ours.
    other = upload(client, world.tokens[VCB], RETURN_XML, world.bank_keys[VCB].sign(RETURN_XML))
    assert (other.status_code, other.get_json()["state"]) == (201, "received")


def test_a_signed_file_with_no_record_is_refused_with_422(app: Flask, client: FlaskClient,
                                                         world) -> None:
    response = upload(client, world.tokens[BIDV], EMPTY_XML,
                      world.bank_keys[BIDV].sign(EMPTY_XML))
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert (body["outcome"], body["state"]) == ("refused", "quarantined")
    assert "no record" in body["detail"]
    (row,) = stored_rows(app)  # recorded with its reason, never applied
    assert row.state == "quarantined" and row.reason.startswith("no record")


def test_upload_without_a_file_is_422(client: FlaskClient, world) -> None:
    response = client.post("/api/v1/bank/returns", headers=auth(world.tokens[BIDV]), data={},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


def test_cli_registers_a_bank_and_prints_a_working_token_once(app: Flask, client: FlaskClient,
                                                               run_cli, tmp_path: Path) -> None:
    from disburse.entry.cli.bank import banks_group
    from disburse.entry.cli.main import cli

    if "banks" not in cli.commands:  # until the lead registers the group in the CLI
        cli.add_command(banks_group)
    pem = tmp_path / "bank.pem"
    pem.write_bytes(signing.public_key_pem(signing.generate_ed25519().public_key()))
    added = run_cli("banks", "add", "--bin", "970418", "--name", "BIDV", "--route", "bidv",
                    "--public-key", str(pem), "--profile", '{"read_timeout": 10}',
                    "--api-url", "https://bank.invalid")
    assert added.exit_code == 0, added.output
    bad_route = run_cli("banks", "add", "--bin", "970419", "--name", "X", "--route", "nowhere",
                        "--public-key", str(pem))
    assert bad_route.exit_code == 1 and "unknown route" in bad_route.output
    issued = run_cli("banks", "token", "970418")
    assert issued.exit_code == 0
    token = issued.stdout.strip()
    assert client.get("/api/v1/bank/payment-files", headers=auth(token)).status_code == 200
    listed = run_cli("banks", "list")
    assert listed.output.splitlines()[0] == "BIN\tname\tbank table\troute\tAPI URL\ttoken"
    assert "970418\tBIDV\tBIDV\tbidv\thttps://bank.invalid\ttoken" in listed.output
    assert token not in listed.output
