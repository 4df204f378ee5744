"""Personal data outside the encrypted columns (issue 11, finding 6), on a real application.

Stored import originals, rejected-rows workbooks and reports are sealed on disk and still
download right; phone (wallet) numbers are ciphertexts in the database, before and after
migration 0008; the files the service writes are owner-only; payment-file downloads follow
the role matrix and are audited; masks show at most the last 4 digits; a long upload name is
cut to its column.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import inspect, select, text

from beneficiaries.columns import headers
from beneficiaries.models import BeneficiaryHistory, ListImport
from beneficiaries.queries import mask
from disburse.core import users
from disburse.core.audit import AuditEntry
from disburse.core.config import Settings
from disburse.core.db import make_engine
from disburse.core.errors import ConfigurationError
from disburse.core.keyring import Keyring
from disburse.core.params import fit_file_name
from disburse.core.private_files import PRIVATE_UMASK
from disburse.core.sealed_files import MAGIC
from disburse.core.signing_keys import ensure_signing_keys
from disburse.core.users import Role, add_user
from disburse.entry.app import create_app
from disburse.entry.context import services
from disburse.entry.migrate import alembic_config
from disburse.payments.downloads import DOWNLOADERS, FilePart
from disburse.payments.files import write_batch_files
from tests.conftest import backend, migrate
from tests.integration.test_batch_files import MIXED, SIGNED_AT, SPLIT, build_batch

PASSWORD = "correct horse battery"
USERS = {"prep": Role.PREPARER, "appr": Role.APPROVER, "audi": Role.AUDITOR, "boss": Role.ADMIN}
BANK_USER = "vcb-bot"
#: Two people paid to e-wallets (the wallet number is the phone) and one refused row.
PEOPLE = [("001158123450", "Nguyen Thi Dao", "0912345670"),
          ("001158123451", "Tran Thi Mai", "0912345671"),
          ("001158123452", "Le Thi Hoa", "0912345672")]
BAD_ROW_ID = PEOPLE[2][0]


def _row(citizen_id: str, name: str, phone: str, **changes: str) -> list[str]:
    cells = {"citizen_id": citizen_id, "full_name": name, "date_of_birth": "1958-03-15",
             "gender": "female", "province_code": "01", "commune_code": "00004",
             "amount": "3,500,000", "coefficient": "", "channel": "ewallet",
             "bank_bin": "971025", "account_number": phone, "account_holder": name.upper(),
             "phone": phone}
    cells.update(changes)
    return list(cells.values())


def list_csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers("en"))
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


#: The third row has a date that does not exist: it is refused and lands in the workbook.
MIXED_LIST = list_csv([_row(*PEOPLE[0]), _row(*PEOPLE[1]),
                       _row(*PEOPLE[2], date_of_birth="1958-02-30")])


@pytest.fixture(scope="module")
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A keyring with signing keys (RSA generation is slow: once per module)."""
    directory = tmp_path_factory.mktemp("pd-keys") / "keys"
    ensure_signing_keys(directory, Keyring.init(directory))
    return directory


@pytest.fixture
def api(app: Flask, settings: Settings, signing_keys: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The application with its keyring and one user per role."""
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                         parallelism=1))
    shutil.copytree(signing_keys, settings.key_dir)
    services(app).reset_keyring()
    with services(app).session_factory() as session:
        for name, role in USERS.items():
            add_user(session, name, role, PASSWORD, actor="test")
        add_user(session, BANK_USER, Role.BANK, PASSWORD, actor="test", bank_bin="970436")
        session.commit()
    yield app


@pytest.fixture
def client(api: Flask) -> FlaskClient:
    return api.test_client()


def upload(client: FlaskClient, content: bytes, *, name: str = "list.csv") -> dict[str, Any]:
    data: dict[str, Any] = {"file": (io.BytesIO(content), name), "programme": "pension",
                            "accept_valid": "true"}
    response = client.post("/api/v1/imports", data=data, content_type="multipart/form-data",
                           auth=("prep", PASSWORD))
    assert response.status_code in (200, 201), response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def audit_entries(app: Flask, action: str) -> list[AuditEntry]:
    with services(app).session_factory() as session:
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.seq)).scalars())


# --- stored import files --------------------------------------------------------------------


def test_stored_import_files_hold_no_plaintext_and_still_download(
        api: Flask, client: FlaskClient, settings: Settings) -> None:
    report = upload(client, MIXED_LIST)
    assert (report["counts"]["added"], report["counts"]["rejected"]) == (2, 1)
    stored = sorted(p for p in (settings.data_dir / "imports").rglob("*") if p.is_file())
    assert {p.name for p in stored} == {"original.csv.sealed", "rejected.xlsx.sealed",
                                        "report.json.sealed"}
    for path in stored:
        data = path.read_bytes()
        assert data.startswith(MAGIC)
        for citizen_id, name, phone in PEOPLE:
            assert citizen_id.encode() not in data, path.name
            assert phone.encode() not in data and name.encode() not in data, path.name

    shown = client.get(f"/api/v1/imports/{report['import_id']}", auth=("audi", PASSWORD))
    body = shown.get_json()
    assert shown.status_code == 200, body
    assert [(e["row"], e["code"]) for e in body["errors"]] == [(4, "date_format")]
    assert body["rejected_xlsx"] == f"/api/v1/imports/{report['import_id']}/rejected.xlsx"

    response = client.get(body["rejected_xlsx"], auth=("prep", PASSWORD))
    assert response.status_code == 200
    assert "import-" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.get_data())).worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[1][0] == 4 and BAD_ROW_ID in rows[1]
    [entry] = audit_entries(api, "beneficiaries.import.download.rejected")
    assert (entry.actor, entry.object_id) == ("prep", str(report["import_id"]))
    refused = client.get(body["rejected_xlsx"], auth=("appr", PASSWORD))
    assert refused.status_code == 403


def test_a_tampered_stored_workbook_is_refused_not_served(
        client: FlaskClient, settings: Settings) -> None:
    report = upload(client, MIXED_LIST)
    [sealed] = (settings.data_dir / "imports").rglob("rejected.xlsx.sealed")
    data = bytearray(sealed.read_bytes())
    data[-20] ^= 1
    sealed.write_bytes(bytes(data))
    url = f"/api/v1/imports/{report['import_id']}/rejected.xlsx"
    response = client.get(url, auth=("prep", PASSWORD))
    assert response.status_code == 500  # checked before the answer starts: nothing served
    assert response.mimetype == "application/problem+json"
    assert "failed authentication" in response.get_json()["detail"]
    assert b"PK" not in response.get_data()


# --- phone numbers ----------------------------------------------------------------------------


def _raw_beneficiaries(app: Flask) -> list[dict[str, Any]]:
    with services(app).engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(text("SELECT * FROM beneficiaries"))]


def test_phone_numbers_are_ciphertexts_in_the_database(api: Flask, client: FlaskClient,
                                                       settings: Settings) -> None:
    upload(client, MIXED_LIST)
    rows = _raw_beneficiaries(api)
    assert len(rows) == 2 and "phone" not in rows[0]
    keyring = services(api).keyring()
    phones = {p for _, _, p in PEOPLE}
    assert {keyring.decrypt("phone", r["phone_enc"]) for r in rows} == {PEOPLE[0][2],
                                                                      PEOPLE[1][2]}
    for row in rows:
        assert not any(str(value) in phones for value in row.values())
    if backend() == "sqlite":  # the whole database file, WAL included, holds no phone or ID
        services(api).engine.dispose()
        db_file = Path(make_engine(settings.database_url).url.database or "")
        data = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
        for citizen_id, _, phone in PEOPLE:
            assert phone.encode() not in data and citizen_id.encode() not in data


def test_a_changed_phone_is_re_encrypted_and_kept_out_of_the_history(
        api: Flask, client: FlaskClient) -> None:
    upload(client, list_csv([_row(*PEOPLE[0])]))
    upload(client, list_csv([_row(PEOPLE[0][0], PEOPLE[0][1], "0987654321")]))
    [row] = _raw_beneficiaries(api)
    assert services(api).keyring().decrypt("phone", row["phone_enc"]) == "0987654321"
    with services(api).session_factory() as session:
        history = session.execute(select(BeneficiaryHistory).where(
            BeneficiaryHistory.change == "updated")).scalar_one()
    assert history.changed["phone"] == "changed"
    assert "0987654321" not in str(history.changed) and PEOPLE[0][2] not in str(history.changed)


# --- migration 0008 ---------------------------------------------------------------------------


def _seed_0007(url: str) -> None:
    """A database at 0007 with one plaintext phone and a phone change in the history."""
    engine = make_engine(url)
    migrate(engine, "0007")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO list_imports (id, programme, file_name, file_sha256, file_size, actor, "
            "at, accept_valid, end_missing, outcome, counts) VALUES (1, 'pension', 'l.csv', "
            "'00', 1, 'lan', '2026-11-01 00:00:00', false, false, 'applied', '{}')"))
        connection.execute(text(
            "INSERT INTO beneficiaries (id, programme, citizen_id_enc, citizen_id_idx, "
            "full_name, date_of_birth, gender, province_code, commune_code, locality_version, "
            "monthly_amount, channel, phone, status, review_flags, source_import_id, "
            "source_row, last_seen_import_id, created_at, updated_at, version) VALUES "
            "(1, 'pension', :blob, 'idx', 'A', '1958-03-15', 'female', '01', '00004', "
            "'2025-07-01', 100, 'cash', '0912000111', 'active', '[]', 1, 2, 1, "
            "'2026-11-01 00:00:00', '2026-11-01 00:00:00', 2)"), {"blob": b"\x01" + b"0" * 40})
        connection.execute(text(
            "INSERT INTO beneficiary_history (beneficiary_id, version, change, changed, actor, "
            "at) VALUES (1, 2, 'updated', :changed, 'lan', '2026-11-02 00:00:00')"),
            {"changed": '{"phone": {"from": "0912000000", "to": "0912000111"}}'})
    engine.dispose()


def _upgrade(url: str, keyring: Keyring | None, revision: str = "0008",
             action: str = "upgrade") -> None:
    config = alembic_config(url)
    if keyring is not None:
        config.attributes["keyring"] = keyring
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        engine.dispose()


def test_migration_0008_encrypts_stored_phones_and_scrubs_the_history(
        fresh_database_url: str, tmp_path: Path) -> None:
    _seed_0007(fresh_database_url)
    keyring = Keyring.init(tmp_path / "keys")
    _upgrade(fresh_database_url, keyring)
    engine = make_engine(fresh_database_url)
    with engine.connect() as connection:
        assert "phone" not in {c["name"] for c in inspect(connection).get_columns("beneficiaries")}
        blob = connection.execute(text("SELECT phone_enc FROM beneficiaries")).scalar_one()
        changed = connection.execute(text("SELECT changed FROM beneficiary_history")).scalar_one()
    engine.dispose()
    assert keyring.decrypt("phone", blob) == "0912000111"
    assert (json.loads(changed) if isinstance(changed, str) else changed) == {"phone": "changed"}

    _upgrade(fresh_database_url, keyring, "0007", "downgrade")
    engine = make_engine(fresh_database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT phone FROM beneficiaries")).scalar_one() == (
            "0912000111")
    engine.dispose()


def test_migration_0008_without_a_keyring_stops_and_changes_nothing(
        fresh_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed_0007(fresh_database_url)
    monkeypatch.setenv("DISBURSE_KEY_DIR", str(tmp_path / "no-keys"))
    with pytest.raises(ConfigurationError, match="migration 0008 must encrypt"):
        _upgrade(fresh_database_url, None)
    engine = make_engine(fresh_database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT phone FROM beneficiaries")).scalar_one() == (
            "0912000111")
        assert connection.execute(text("SELECT version_num FROM alembic_version")
                                  ).scalar_one() == "0007"
    engine.dispose()


# --- file modes -------------------------------------------------------------------------------


def _write_files(app: Flask) -> tuple[int, list[Any], Path]:
    """An approved mixed batch with its files written where the API serves them from."""
    svc = services(app)
    with svc.session_factory() as session:
        batch = build_batch(session, svc.keyring(), MIXED, routing=SPLIT, tag="pd")
        out = svc.settings.data_dir / "payment_files" / str(batch.id)
        files = write_batch_files(session, svc.keyring(), batch.id, out_dir=out, actor="prep",
                                  routing=SPLIT, key_dir=svc.settings.key_dir, now=SIGNED_AT)
        rows = [(f.id, f.file_name, f.layout, f.sha256) for f in files]
        batch_id = batch.id
        session.commit()
    return batch_id, rows, out


def test_entry_points_set_an_owner_only_umask(settings: Settings) -> None:
    previous = os.umask(0o022)
    try:
        create_app(settings).extensions["disburse"].engine.dispose()
        assert os.umask(0o022) == PRIVATE_UMASK
    finally:
        os.umask(previous)


def test_files_and_directories_are_owner_only_whatever_the_umask(
        api: Flask, client: FlaskClient, settings: Settings) -> None:
    previous = os.umask(0o022)  # the explicit modes must hold without the entry point's umask
    try:
        upload(client, MIXED_LIST)
        _, files, out = _write_files(api)
    finally:
        os.umask(previous)
    imports = settings.data_dir / "imports"
    assert mode(imports) == 0o700
    for path in imports.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert mode(out) == 0o700
    written = [p for p in out.iterdir()]
    assert len(written) == 3 * len(files)  # each file with its signature and manifest
    assert {mode(p) for p in written} == {0o600}
    if backend() == "sqlite":  # created under the application's umask
        db_file = Path(make_engine(settings.database_url).url.database or "")
        assert mode(db_file) == 0o600


# --- payment-file downloads -------------------------------------------------------------------

STAFF = {"prep": Role.PREPARER, "appr": Role.APPROVER, "audi": Role.AUDITOR, "boss": Role.ADMIN}


@pytest.mark.parametrize("user", sorted(STAFF))
def test_payment_file_downloads_follow_the_role_matrix_and_are_audited(
        api: Flask, client: FlaskClient, user: str) -> None:
    batch_id, files, out = _write_files(api)
    file_id, name, _, sha256 = files[0]
    base = f"/api/v1/batches/{batch_id}/files/{file_id}"
    for part, url in ((FilePart.FILE, base), (FilePart.MANIFEST, f"{base}/manifest"),
                      (FilePart.SIGNATURE, f"{base}/signature")):
        before = len(audit_entries(api, f"payment_file.download.{part.value}"))
        response = client.get(url, auth=(user, PASSWORD))
        entries = audit_entries(api, f"payment_file.download.{part.value}")
        if STAFF[user] not in DOWNLOADERS[part]:
            assert response.status_code == 403, (user, part)
            assert "may not download" in response.get_json()["detail"]
            assert len(entries) == before  # a refusal serves nothing and records no download
            continue
        assert response.status_code == 200, (user, part, response.get_json())
        data = response.get_data()
        served = hashlib.sha256(data).hexdigest()
        if part is FilePart.FILE:
            assert served == sha256 and data == (out / name).read_bytes()
        [entry] = entries[before:]
        assert (entry.actor, entry.object_id) == (user, str(file_id))
        assert entry.detail["sha256"] == served and entry.detail["file"] == name


def test_only_the_administrator_takes_full_files_and_banks_use_their_own_api(
        api: Flask, client: FlaskClient) -> None:
    assert {part: {r.value for r in roles} for part, roles in DOWNLOADERS.items()} == {
        FilePart.FILE: {"admin"},
        FilePart.MANIFEST: {"preparer", "approver", "auditor", "admin"},
        FilePart.SIGNATURE: {"preparer", "approver", "auditor", "admin"}}
    batch_id, files, _ = _write_files(api)
    base = f"/api/v1/batches/{batch_id}/files/{files[0][0]}"
    for url in (base, f"{base}/manifest"):
        assert client.get(url, auth=(BANK_USER, PASSWORD)).status_code == 403
        assert client.get(url).status_code == 401


# --- masks --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "masked"), [
    ("079158123456", "********3456"),
    ("0011004123450", "*********3450"),
    ("0912345678", "******5678"),
    ("1234567", "***"),
    ("", "***"),
    (None, None),
])
def test_masks_show_at_most_the_last_four(value: str | None, masked: str | None) -> None:
    assert mask(value) == masked


def test_the_cash_list_shows_the_last_four_of_the_cccd_and_the_decrypted_phone(
        api: Flask) -> None:
    _, files, out = _write_files(api)
    [(_, name, _, _)] = [f for f in files if f[2] == "cash_list"]
    cells = [c for sheet in load_workbook(out / name).worksheets
             for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    ids = [c for c in cells if c.startswith("****")]
    assert ids and all(len(c) == 12 and c[:8] == "********" and c[8:].isdigit() for c in ids)
    assert {"0900000010", "0900000011", "0900000012"} <= set(cells)  # seq 10-12 are cash


# --- file names -------------------------------------------------------------------------------


def test_a_long_upload_name_is_cut_to_the_column_keeping_the_extension(
        api: Flask, client: FlaskClient) -> None:
    report = upload(client, list_csv([_row(*PEOPLE[0])]), name="d" * 5000 + ".csv")
    with services(api).session_factory() as session:
        record = session.get(ListImport, report["import_id"])
        assert record is not None
        assert len(record.file_name) == 255 and record.file_name.endswith("….csv")
    assert report["file_name"] == record.file_name


@pytest.mark.parametrize(("name", "cut"), [
    ("list.csv", "list.csv"),
    ("a" * 300 + ".xlsx", "a" * 249 + "….xlsx"),
    ("b" * 300, "b" * 254 + "…"),
    ("c" * 100 + "." + "d" * 200, ("c" * 100 + "." + "d" * 200)[:254] + "…"),
])
def test_fit_file_name(name: str, cut: str) -> None:
    assert fit_file_name(name, ListImport.file_name) == cut
    assert len(fit_file_name(name, ListImport.file_name)) <= 255


# --- the command line -----------------------------------------------------------------------


def test_the_cli_writes_a_stored_file_decrypted_and_audited(
        api: Flask, client: FlaskClient, run_cli: Any, tmp_path: Path) -> None:
    report = upload(client, MIXED_LIST)
    out = tmp_path / "rejected.xlsx"
    result = run_cli("beneficiaries", "stored-file", str(report["import_id"]), "--part",
                     "rejected", "--out", str(out), "--actor", "audi")
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o600
    rows = list(load_workbook(out).worksheets[0].iter_rows(values_only=True))
    assert BAD_ROW_ID in rows[1]
    [entry] = audit_entries(api, "beneficiaries.import.download.rejected")
    assert entry.actor == "audi"
    original = tmp_path / "original.csv"
    result = run_cli("beneficiaries", "stored-file", str(report["import_id"]), "--part",
                     "original", "--out", str(original), "--actor", "boss")
    assert result.exit_code == 0, result.output
    assert original.read_bytes() == MIXED_LIST
    refused = run_cli("beneficiaries", "stored-file", str(report["import_id"]), "--out",
                      str(tmp_path / "x.xlsx"), "--actor", "appr")
    assert refused.exit_code == 1 and not (tmp_path / "x.xlsx").exists()


def test_files_stored_before_sealing_are_read_then_sealed_in_place(
        api: Flask, client: FlaskClient, run_cli: Any, settings: Settings) -> None:
    report = upload(client, MIXED_LIST)
    directory = settings.data_dir / "imports" / f"import-{report['import_id']}"
    for sealed in directory.iterdir():  # make it look like an import of the old release
        sealed.unlink()
    (directory / "original.csv").write_bytes(MIXED_LIST)
    url = f"/api/v1/imports/{report['import_id']}"
    assert client.get(url, auth=("audi", PASSWORD)).get_json()["rejected_xlsx"] is None
    legacy = settings.data_dir / "legacy.csv"
    assert run_cli("beneficiaries", "stored-file", str(report["import_id"]), "--part",
                   "original", "--out", str(legacy), "--actor", "boss").exit_code == 0
    assert legacy.read_bytes() == MIXED_LIST
    result = run_cli("beneficiaries", "seal-stored")
    assert result.exit_code == 0 and "sealed 1 stored file" in result.output, result.output
    assert [p.name for p in directory.iterdir()] == ["original.csv.sealed"]
    assert BAD_ROW_ID.encode() not in (directory / "original.csv.sealed").read_bytes()
