"""Importing XLSX lists written with openpyxl: typed cells, lost zeros, the rejected-rows export."""

from __future__ import annotations

import io
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary, ListImport
from beneficiaries.report import ImportReport
from beneficiaries.service import ImportOptions, import_list
from beneficiaries.stored import StoredPart, open_part, read_report
from beneficiaries.synth import write_lists, write_population_csv
from disburse.core.keyring import Keyring
from tests.listfiles import cccd, header_row, list_row, write_xlsx

TODAY = date(2026, 11, 23)
HOSTILE = '=HYPERLINK("http://x","y")'


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    """A keyring of this test's own."""
    return Keyring.init(tmp_path / "keys")


def run_import(session: Session, keyring: Keyring, path: Path, *, programme: str = "pension",
               **options: Any) -> ImportReport:
    """Import ``path`` as the preparer ``lan``."""
    return import_list(session, keyring, path, programme=programme, actor="lan", today=TODAY,
                       options=ImportOptions(**options))


def find(session: Session, keyring: Keyring, citizen_id: str,
         programme: str = "pension") -> Beneficiary:
    """The beneficiary of ``programme`` with ``citizen_id``."""
    return session.execute(select(Beneficiary).where(
        Beneficiary.programme == programme,
        Beneficiary.citizen_id_idx == keyring.blind_index("citizen_id", citizen_id),
    )).scalar_one()


@pytest.mark.parametrize("born", [date(1958, 3, 15), datetime(1958, 3, 15, 0, 0)])
def test_a_real_excel_date_cell_is_accepted(session: Session, keyring: Keyring,
                                            tmp_path: Path, born: date) -> None:
    row = list_row(1, date_of_birth=born, amount=3_500_000, province_code="01")
    path = write_xlsx(tmp_path / "l.xlsx", [row], lang="vi")
    cell = load_workbook(path).worksheets[0].cell(row=2, column=3)
    assert isinstance(cell.value, datetime)  # a date cell, not text

    report = run_import(session, keyring, path)

    assert report.outcome == "applied", report.errors
    stored = find(session, keyring, cccd(1))
    assert stored.date_of_birth == date(1958, 3, 15)
    assert stored.monthly_amount == 3_500_000


def test_a_citizen_id_stored_as_a_number_is_reported_as_a_lost_zero(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    as_text = cccd(1, province="079")  # Hồ Chí Minh City: 079..., so int() drops one zero
    row = list_row(1, citizen_id=int(as_text))
    path = write_xlsx(tmp_path / "l.xlsx", [row, list_row(2)])
    assert load_workbook(path).worksheets[0].cell(row=2, column=1).data_type == "n"

    report = run_import(session, keyring, path)

    assert report.outcome == "rejected"
    assert [(f.row, f.column, f.code) for f in report.errors] == [
        (2, "Citizen ID", "cccd_leading_zero_lost")]
    assert "079" in report.errors[0].message_en


def test_rejected_rows_are_exported_with_errors_and_hostile_cells_neutralised(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    rows = [
        list_row(1),
        list_row(2, full_name=HOSTILE, account_holder="Y", amount="abc"),
        list_row(3, citizen_id=int(cccd(3, province="079"))),
        list_row(4),
    ]
    path = write_xlsx(tmp_path / "danh-sach.xlsx", rows, lang="vi")
    store = tmp_path / "store"

    report = run_import(session, keyring, path, accept_valid=True, store_dir=store)

    assert (report.counts.added, report.counts.rejected) == (2, 2)
    record = session.get(ListImport, report.import_id)
    assert record is not None
    workbook = b"".join(open_part(keyring, record, StoredPart.REJECTED) or [])
    sheet = load_workbook(io.BytesIO(workbook)).worksheets[0]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0] == ["Row / Dòng", *header_row("vi"), "Errors / Lỗi"]
    assert [r[0] for r in table[1:]] == [3, 4]
    name_column = table[0].index("Họ và tên")
    hostile = table[1][name_column]
    assert hostile == "'" + HOSTILE
    assert "amount_format" in str(table[1][-1])
    assert "cccd_leading_zero_lost" in str(table[2][-1])
    assert table[2][1] == cccd(3, province="079")[1:]
    for row in table[1:]:
        assert all(not (isinstance(c, str) and c.startswith("=")) for c in row)
    assert read_report(keyring, record)["counts"]["rejected"] == 2
    assert b"".join(open_part(keyring, record, StoredPart.ORIGINAL) or []) == path.read_bytes()


def test_synthetic_xlsx_lists_report_lost_zeros_and_bad_accounts(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    population = tmp_path / "population.csv"
    write_population_csv(population, 1500, seed=5)
    summary = write_lists(population, tmp_path / "lists", seed=5, fmt="xlsx", lang="en")
    key = json.loads(summary.answer_key.read_text(encoding="utf-8"))
    checked = 0
    for name, entry in key["files"].items():
        report = run_import(session, keyring, tmp_path / "lists" / name,
                            programme=entry["programme"], accept_valid=True)
        assert report.counts.rows == entry["rows"], name
        for code in ("cccd_leading_zero_lost", "account_shape", "bin_unknown"):
            expected = {d["row"] for d in entry["defects"] if d["expect"] == code}
            assert {f.row for f in report.errors if f.code == code} == expected, (name, code)
            checked += len(expected)
        defect_rows = {d["row"] for d in entry["defects"]} | {
            d["first_row"] for d in entry["defects"] if "first_row" in d}
        assert {f.row for f in report.errors} <= defect_rows, name
    assert checked > 0
