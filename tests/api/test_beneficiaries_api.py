"""The beneficiary JSON API: uploads, the registry pages, reports, templates and access rules."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from beneficiaries.columns import headers
from beneficiaries.models import Beneficiary, ListImport
from beneficiaries.schemas import readable_filename
from disburse.core import users
from disburse.core.audit import AuditEntry
from disburse.core.config import Settings
from disburse.core.keyring import Keyring
from disburse.core.users import Role, add_user
from disburse.entry.api.beneficiaries import beneficiaries_api
from disburse.entry.context import services

PASSWORD = "correct horse battery"
USERS = {"prep": Role.PREPARER, "appr": Role.APPROVER, "audi": Role.AUDITOR,
         "boss": Role.ADMIN}
PROBLEM = "application/problem+json"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Three women born 1958 in Ha Noi (CCCD 001 1 58 ...), commune 00004 of province 01.
PEOPLE = [("001158123450", "Nguyen Thi Dao", "0011004123450"),
          ("001158123451", "Tran Thi Mai", "0011004123451"),
          ("001158123452", "Le Thi Hoa", "0011004123452")]


def _row(citizen_id: str, name: str, account: str, **changes: str) -> list[str]:
    cells = {"citizen_id": citizen_id, "full_name": name, "date_of_birth": "1958-03-15",
             "gender": "female", "province_code": "01", "commune_code": "00004",
             "amount": "3,500,000", "coefficient": "", "channel": "bank", "bank_bin": "970436",
             "account_number": account, "account_holder": name.upper(),
             "phone": "0912345678"}
    cells.update(changes)
    return list(cells.values())


def list_csv(rows: list[list[str]]) -> bytes:
    """Return a CSV list with the English headers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers("en"))
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


GOOD = list_csv([_row(*p) for p in PEOPLE])
#: Row 3 of the file (the second data row) has a date that does not exist.
BAD = list_csv([_row(*PEOPLE[0]), _row(*PEOPLE[1], date_of_birth="1958-02-30"),
                _row(*PEOPLE[2])])


@pytest.fixture
def api(app: Flask, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app with this blueprint, a keyring and one user per staff role."""
    # Production argon2 costs ~0.4 s a hash and a check; passwords are not under test here,
    # so users get cheap argon2id hashes (a check reads its cost from the hash itself).
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                         parallelism=1))
    if "beneficiaries_api" not in app.blueprints:
        app.register_blueprint(beneficiaries_api)
    Keyring.init(settings.key_dir)
    with services(app).session_factory() as session:
        for name, role in USERS.items():
            add_user(session, name, role, PASSWORD, actor="test")
        session.commit()
    yield app


@pytest.fixture
def client(api: Flask) -> FlaskClient:
    """A test client of the app."""
    return api.test_client()


def upload(client: FlaskClient, content: bytes, *, name: str = "list.csv", user: str = "prep",
           **form: str) -> TestResponse:
    """POST a list file as ``user``."""
    data: dict[str, Any] = {"file": (io.BytesIO(content), name), "programme": "pension", **form}
    return client.post("/api/v1/imports", data=data, content_type="multipart/form-data",
                       auth=(user, PASSWORD))


def get(client: FlaskClient, url: str, user: str = "audi") -> TestResponse:
    """GET ``url`` as ``user``."""
    return client.get(url, auth=(user, PASSWORD))


def _count(app: Flask, model: type[Any]) -> int:
    with services(app).session_factory() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_valid_upload_is_applied_then_listed_and_shown(api: Flask, client: FlaskClient,
                                                      settings: Settings) -> None:
    response = upload(client, GOOD)
    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert report["outcome"] == "applied"
    assert report["counts"]["added"] == 3 and report["counts"]["rejected"] == 0
    assert report["file_name"] == "list.csv"
    assert response.headers["Location"] == f"/api/v1/imports/{report['import_id']}"
    assert list((settings.data_dir / "uploads").iterdir()) == []  # temporary upload removed

    page = get(client, "/api/v1/beneficiaries?programme=pension").get_json()
    assert page["total"] == 3 and page["page"] == 1 and page["per_page"] == 50
    first = page["items"][0]
    assert first["citizen_id"] == "********3450"  # masked: the last 4 only
    assert first["account_number"] == "*********3450"
    assert first["monthly_amount"] == 3_500_000
    assert "001158123450" not in get(client, "/api/v1/beneficiaries").get_data(as_text=True)

    detail = get(client, f"/api/v1/beneficiaries/{first['id']}").get_json()
    assert detail["full_name"] == "Nguyen Thi Dao"
    assert detail["source"] == {"import_id": report["import_id"], "row": 2}
    assert [h["change"] for h in detail["history"]] == ["added"]
    assert detail["history"][0]["actor"] == "prep"


@pytest.mark.parametrize(("query", "total", "names"), [
    ("per_page=2", 3, ["Nguyen Thi Dao", "Tran Thi Mai"]),
    ("per_page=2&page=2", 3, ["Le Thi Hoa"]),
    ("page=9", 3, []),
    ("province=01&commune=00004&channel=bank&status=active", 3,
     ["Nguyen Thi Dao", "Tran Thi Mai", "Le Thi Hoa"]),
    ("province=02", 0, []),
    ("status=ended", 0, []),
    ("programme=unemployment", 0, []),
])
def test_list_filters_and_pages(client: FlaskClient, query: str, total: int,
                                names: list[str]) -> None:
    assert upload(client, GOOD).status_code == 201
    page = get(client, f"/api/v1/beneficiaries?{query}").get_json()
    assert page["total"] == total
    assert [item["full_name"] for item in page["items"]] == names


def test_missing_beneficiary_is_404_problem(client: FlaskClient) -> None:
    response = get(client, "/api/v1/beneficiaries/999")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    assert response.get_json()["detail"] == "no beneficiary 999"


def test_same_file_again_is_a_duplicate(api: Flask, client: FlaskClient) -> None:
    first = upload(client, GOOD).get_json()
    response = upload(client, GOOD, name="renamed.csv")
    assert response.status_code == 200
    body = response.get_json()
    assert body["outcome"] == "duplicate_file"
    assert body["previous_import_id"] == first["import_id"]
    assert body["counts"]["added"] == 0
    assert _count(api, Beneficiary) == 3


def test_bad_row_rejects_file_but_keeps_the_record(api: Flask, client: FlaskClient) -> None:
    response = upload(client, BAD, name="xa 00004.csv")
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == 422 and body["title"] == "List rejected"
    assert "nothing was written" in body["detail"]
    errors = body["report"]["errors"]
    assert [(e["file"], e["row"], e["column"]) for e in errors] == [
        ("xa_00004.csv", 3, "Date of birth")]
    assert errors[0]["code"].startswith("date_")
    assert _count(api, Beneficiary) == 0

    import_id = body["report"]["import_id"]
    stored = get(client, f"/api/v1/imports/{import_id}")
    assert stored.status_code == 200
    kept = stored.get_json()
    assert kept["outcome"] == "rejected" and kept["record"]["actor"] == "prep"
    assert kept["counts"]["rejected"] == 1 and kept["counts"]["added"] == 0
    assert kept["errors"] == errors  # the stored report matches what the upload returned
    with services(api).session_factory() as session:
        actions = session.execute(select(AuditEntry.action).where(
            AuditEntry.object_type == "list_import")).scalars().all()
        assert actions == ["beneficiaries.import.rejected"]
        assert session.get(ListImport, import_id) is not None


def test_accept_valid_writes_good_rows_and_offers_rejected_xlsx(api: Flask,
                                                                 client: FlaskClient) -> None:
    response = upload(client, BAD, accept_valid="true")
    assert response.status_code == 201
    report = response.get_json()
    assert report["counts"]["added"] == 2 and report["counts"]["rejected"] == 1
    assert _count(api, Beneficiary) == 2

    url = f"/api/v1/imports/{report['import_id']}/rejected.xlsx"
    assert get(client, f"/api/v1/imports/{report['import_id']}").get_json()[
        "rejected_xlsx"] == url
    download = get(client, url, user="prep")
    assert download.status_code == 200
    assert download.mimetype == XLSX
    assert download.headers["Content-Disposition"].startswith("attachment")
    sheet = load_workbook(io.BytesIO(download.data), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][0] == 3  # header, then the one bad row (file row 3)
    assert rows[1][3] == "1958-02-30" and "date_" in str(rows[1][-1])
    assert get(client, url, user="appr").status_code == 403  # raw IDs: not for approvers


def test_rejected_xlsx_is_404_when_nothing_was_rejected(client: FlaskClient) -> None:
    import_id = upload(client, GOOD).get_json()["import_id"]
    response = get(client, f"/api/v1/imports/{import_id}/rejected.xlsx")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    assert get(client, f"/api/v1/imports/{import_id}").get_json()["rejected_xlsx"] is None
    assert get(client, "/api/v1/imports/999").status_code == 404


def test_auditor_cannot_upload(api: Flask, client: FlaskClient) -> None:
    response = upload(client, GOOD, user="audi")
    assert response.status_code == 403
    assert response.mimetype == PROBLEM
    assert "preparer" in response.get_json()["detail"]
    assert _count(api, ListImport) == 0
    assert upload(client, GOOD, user="boss").status_code == 201  # an admin may


@pytest.mark.parametrize("url", [
    "/api/v1/beneficiaries", "/api/v1/beneficiaries/1", "/api/v1/imports/1",
    "/api/v1/imports/1/rejected.xlsx", "/api/v1/templates/vi.xlsx",
])
def test_no_credentials_is_401_problem(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 401
    assert response.mimetype == PROBLEM
    assert response.get_json()["code"] == "unauthorized"


def test_wrong_password_or_anonymous_upload_is_401(client: FlaskClient) -> None:
    wrong = client.get("/api/v1/beneficiaries", auth=("prep", "not the password!"))
    assert wrong.status_code == 401 and wrong.mimetype == PROBLEM
    anonymous = client.post("/api/v1/imports", data={"programme": "pension"})
    assert anonymous.status_code == 401


@pytest.mark.parametrize(("query", "parameter"), [
    ("per_page=100000", "per_page"),
    ("per_page=0", "per_page"),
    ("page=0", "page"),
    ("page=two", "page"),
    ("province=1", "province"),
    ("commune=abc", "commune"),
    ("status=gone", "status"),
    ("channel=pigeon", "channel"),
    ("programme=lottery", "programme"),
    ("provnce=01", "provnce"),  # a misspelt filter must not list everyone
])
def test_bad_list_parameter_is_422_naming_it(client: FlaskClient, query: str,
                                             parameter: str) -> None:
    response = get(client, f"/api/v1/beneficiaries?{query}")
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert parameter in body["detail"]
    assert [e["parameter"] for e in body["errors"]] == [parameter]


@pytest.mark.parametrize(("form", "name", "parameter"), [
    ({"programme": "lottery"}, "list.csv", "programme"),
    ({"programme": ""}, "list.csv", "programme"),
    ({}, "list.txt", "file"),
    ({}, "list.xls", "file"),
    ({"accept_valid": "maybe"}, "list.csv", "accept_valid"),
])
def test_bad_upload_is_422_and_writes_nothing(api: Flask, client: FlaskClient,
                                              form: dict[str, str], name: str,
                                              parameter: str) -> None:
    response = upload(client, GOOD, name=name, **form)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert [e["parameter"] for e in response.get_json()["errors"]] == [parameter]
    assert _count(api, ListImport) == 0


def test_upload_without_file_names_the_file(client: FlaskClient) -> None:
    response = client.post("/api/v1/imports", data={"programme": "pension"},
                           content_type="multipart/form-data", auth=("prep", PASSWORD))
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["parameter"] == "file"


def test_unreadable_file_is_rejected_and_recorded(api: Flask, client: FlaskClient) -> None:
    response = upload(client, b"PK\x03\x04 not really a workbook", name="list.xlsx")
    assert response.status_code == 422
    body = response.get_json()
    assert body["report"]["outcome"] == "rejected" and body["detail"]
    assert get(client, f"/api/v1/imports/{body['report']['import_id']}").get_json()[
        "outcome"] == "rejected"
    assert _count(api, Beneficiary) == 0


@pytest.mark.parametrize(("lang", "fmt", "mimetype"), [
    ("vi", "csv", "text/csv"), ("en", "csv", "text/csv"),
    ("vi", "xlsx", XLSX), ("en", "xlsx", XLSX),
])
def test_template_download(client: FlaskClient, lang: str, fmt: str, mimetype: str) -> None:
    response = get(client, f"/api/v1/templates/{lang}.{fmt}", user="prep")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=beneficiary-list-template-{lang}.{fmt}")
    if fmt == "csv":
        text = response.data.decode("utf-8")
        assert text.startswith("\ufeff")  # the BOM Excel needs to read UTF-8
        assert next(csv.reader(io.StringIO(text[1:]))) == headers(lang)
    else:
        sheet = load_workbook(io.BytesIO(response.data), read_only=True).worksheets[0]
        assert list(next(sheet.iter_rows(values_only=True))) == headers(lang)


@pytest.mark.parametrize("url", ["/api/v1/templates/fr.csv", "/api/v1/templates/vi.pdf"])
def test_unknown_template_is_404_problem(client: FlaskClient, url: str) -> None:
    response = get(client, url)
    assert response.status_code == 404
    assert response.mimetype == PROBLEM


@pytest.mark.parametrize(("original", "shown"), [
    ("Danh sách Đà Nẵng.csv", "Danh_sach_Da_Nang.csv"),
    ("../../etc/passwd.csv", "passwd.csv"),
    ("C:\\Users\\ha\\xa 00004.xlsx", "xa_00004.xlsx"),
    ("đ.csv", "d.csv"),
    ("...csv", "upload.csv"),
    ("中文.xlsx", "upload.xlsx"),
])
def test_readable_filename(original: str, shown: str) -> None:
    assert readable_filename(original) == shown


def test_display_name_is_kept_readable(client: FlaskClient) -> None:
    response = upload(client, GOOD, name="Danh sách Đà Nẵng.csv")
    assert response.get_json()["file_name"] == "Danh_sach_Da_Nang.csv"
