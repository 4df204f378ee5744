"""The conversion worklist on a small hand-made month, worked out by hand here.

Hà Nội (01), pension. 2026-10 (batches submitted unless said otherwise):
  W1 00004 cash, no account, paid                   -> on the list: no account
  W2 00004 bank, rejected AC04 (account closed)     -> on the list: account problem, AC04
  W3 00004 bank, paid                               -> not on the list
  W4 00008 bank, rejected BE01 (name mismatch)      -> on the list: name mismatch, BE01
  W5 00008 cash, re-routed from bank after 2026-09's AC01 -> on the list: account problem, AC01
  W6 00008 cash, in a draft batch                   -> not on the list (nothing instructed)
2026-09: W1 cash paid, W3 cash paid (00004: 2 people); W5 bank rejected AC01 (00008: 1).
Trend 2026-09 -> 2026-10: 00004 2 -> 2 (change 0); 00008 1 -> 2 (change +1).
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary, ListImport
from disburse.core.errors import ValidationFailed
from disburse.core.keyring import Keyring
from disburse.payments.models import Batch, Instruction
from reconciliation import reports
from reconciliation.worklist import WorklistFilter, gap_of, worklist, worklist_trend

#: serial -> (commune, channel of the registry, phone, citizen ID)
PEOPLE = {
    1: ("00004", "cash", "0912345601", "001050000101"),
    2: ("00004", "bank", "0912345602", "001050000102"),
    3: ("00004", "bank", None, "001050000103"),
    4: ("00008", "bank", "0912345604", "001050000104"),
    5: ("00008", "bank", "0912345605", "001050000105"),
    6: ("00008", "cash", "0912345606", "001050000106"),
}
#: (period, batch state, serial, channel, rerouted_from, state, reason, amount)
PAYMENTS = [
    ("2026-10", "submitted", 1, "cash", None, "paid", None, 1_000_000),
    ("2026-10", "submitted", 2, "bank", None, "rejected", "AC04", 2_000_000),
    ("2026-10", "submitted", 3, "bank", None, "paid", None, 3_000_000),
    ("2026-10", "submitted", 4, "bank", None, "rejected", "BE01", 4_000_000),
    ("2026-10", "submitted", 5, "cash", "bank", "paid", None, 5_000_000),
    ("2026-10", "draft", 6, "cash", None, "instructed", None, 6_000_000),
    ("2026-09", "settled", 1, "cash", None, "paid", None, 1_000_000),
    ("2026-09", "settled", 3, "cash", None, "paid", None, 3_000_000),
    ("2026-09", "settled", 5, "bank", None, "rejected", "AC01", 5_000_000),
]


def seed_worklist(session: Session, keyring: Keyring) -> dict[int, int]:
    """Insert PEOPLE (phones and citizen IDs encrypted) and PAYMENTS."""
    import_id = session.execute(insert(ListImport).returning(ListImport.id), [{
        "programme": "pension", "file_name": "w.csv", "file_sha256": "0" * 64, "file_size": 1,
        "actor": "lan", "outcome": "applied", "counts": {}}]).scalar_one()
    ids = {}
    for serial, (commune, channel, phone, cid) in PEOPLE.items():
        account = channel != "cash"
        ids[serial] = session.execute(insert(Beneficiary).returning(Beneficiary.id), [{
            "programme": "pension", "citizen_id_enc": keyring.encrypt("citizen_id", cid),
            "citizen_id_idx": f"w{serial}", "full_name": f"Người {serial}",
            "date_of_birth": date(1950, 1, serial), "gender": "female",
            "province_code": "01", "commune_code": commune, "monthly_amount": 1_000_000,
            "channel": channel, "bank_bin": "970436" if account else None,
            "account_enc": b"a" if account else None,
            "account_idx": f"a{serial}" if account else None,
            "phone_enc": keyring.encrypt("phone", phone) if phone else None,
            "source_import_id": import_id, "source_row": serial,
            "last_seen_import_id": import_id}]).scalar_one()
    batches: dict[tuple[str, str], int] = {}
    for seq, (period, b_state, serial, channel, rerouted, state, reason, amount) in enumerate(
            PAYMENTS):
        if (period, b_state) not in batches:
            batches[period, b_state] = session.execute(insert(Batch).returning(Batch.id), [{
                "programme": "pension", "period": period, "province_code": "01",
                "state": b_state, "preparer": "lan",
                "requested_execution_date": date(2026, 10, 1), "count": 0, "total": 0,
                "content_hash": "ab" * 32}]).scalar_one()
        session.execute(insert(Instruction), [{
            "batch_id": batches[period, b_state], "beneficiary_id": ids[serial],
            "programme": "pension", "period": period, "seq": seq, "amount": amount,
            "base_amount": amount, "arrears_amount": 0, "channel": channel, "route": channel,
            "rerouted_from": rerouted, "creditor_name": f"NGUOI {serial}",
            "province_code": "01", "commune_code": PEOPLE[serial][0],
            "end_to_end_id": f"W-{seq}", "state": state, "reason_code": reason}])
    session.flush()
    return ids


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.init(tmp_path / "keys")


def test_worklist_lists_who_and_what_is_missing(session: Session, keyring: Keyring) -> None:
    ids = seed_worklist(session, keyring)
    items = worklist(session, keyring, WorklistFilter(period="2026-10"))
    got = [(i["beneficiary_id"], i["commune"], i["gap"], i["reason_code"]) for i in items]
    assert got == [(ids[1], "00004", "no_account", None),
                   (ids[2], "00004", "account_problem", "AC04"),
                   (ids[4], "00008", "name_mismatch", "BE01"),
                   (ids[5], "00008", "account_problem", "AC01")]
    first, second = items[0], items[1]
    assert first["phone"] == "0912345601" and first["citizen_id"] == "********0101"
    assert first["commune_name"] == "Phường Ba Đình"
    assert first["province_name"] == "Thành phố Hà Nội"
    assert first["gap_vi"].startswith("Chưa có tài khoản")
    assert second["reason_vi"].startswith("Tài khoản đã đóng")
    only = worklist(session, keyring, WorklistFilter(period="2026-10", commune="00008"))
    assert [i["beneficiary_id"] for i in only] == [ids[4], ids[5]]


def test_worklist_refuses_unknown_places_and_a_missing_period(session: Session,
                                                               keyring: Keyring) -> None:
    with pytest.raises(ValidationFailed, match="79 Thành phố Hồ Chí Minh"):
        worklist(session, keyring, WorklistFilter(period="2026-10", province="99"))
    with pytest.raises(ValidationFailed, match="period"):
        worklist(session, keyring, WorklistFilter())


def test_worklist_workbook_has_one_sheet_per_commune(session: Session,
                                                     keyring: Keyring) -> None:
    seed_worklist(session, keyring)
    items = worklist(session, keyring, WorklistFilter(period="2026-10"))
    book = load_workbook(io.BytesIO(reports.worklist_xlsx(items, "2026-10")))
    assert book.sheetnames == ["Tổng hợp", "00004 Phường Ba Đình", "00008 Phường Ngọc Hà"]
    summary = list(book["Tổng hợp"].iter_rows(min_row=3, values_only=True))
    assert summary == [("01", "Thành phố Hà Nội", "00004", "Phường Ba Đình", 2),
                       ("01", "Thành phố Hà Nội", "00008", "Phường Ngọc Hà", 2)]
    sheet = list(book["00004 Phường Ba Đình"].iter_rows(values_only=True))
    assert sheet[0][0] == "Xã/phường: 00004 - Phường Ba Đình"
    assert sheet[1][0] == "Tỉnh/thành phố: 01 - Thành phố Hà Nội"
    header = sheet[3]
    assert header[:4] == ("Họ và tên", "Ngày sinh", "Số CCCD (4 số cuối)", "Số điện thoại")
    assert [r[:4] for r in sheet[4:]] == [
        ("Người 1", "1950-01-01", "********0101", "0912345601"),
        ("Người 2", "1950-01-02", "********0102", "0912345602")]
    assert sheet[5][header.index("Mã lý do của ngân hàng")] == "AC04"
    text = reports.worklist_csv(items).decode("utf-8-sig").splitlines()
    assert text[0].startswith("Mã tỉnh (Province code),") and len(text) == 5


def test_worklist_trend_shows_which_communes_move(session: Session, keyring: Keyring) -> None:
    seed_worklist(session, keyring)
    trend = worklist_trend(session, WorklistFilter(period_from="2026-09", period_to="2026-10"))
    assert trend["periods"] == ["2026-09", "2026-10"]
    assert [(c["commune"], c["counts"], c["change"]) for c in trend["communes"]] == [
        ("00004", {"2026-09": 2, "2026-10": 2}, 0),
        ("00008", {"2026-09": 1, "2026-10": 2}, 1)]
    lines = reports.trend_csv(trend).decode("utf-8-sig").splitlines()
    assert lines[1].endswith(",2,2,0") and lines[2].endswith(",1,2,1")


@pytest.mark.parametrize("channel,rerouted,reason,flags,gap", [
    ("cash", False, None, [], "no_account"),
    ("cash", True, None, [], "account_problem"),
    ("cash", True, "AC04", [], "account_problem"),
    ("bank", False, "AC06", [], "account_problem"),
    ("bank", False, "BE01", [], "name_mismatch"),
    ("cash", False, None, ["holder_name_token_order"], "name_mismatch"),
    ("bank", False, "AM04", [], "bank_refused"),
])
def test_gap_of(channel: str, rerouted: bool, reason: str | None, flags: list[str],
                gap: str) -> None:
    assert gap_of(channel, rerouted, reason, flags) == gap
