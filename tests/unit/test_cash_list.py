"""The post-office cash list: one sheet per commune, totals, a blank signature column."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook

from disburse.payments.payment_files import FileHeader, PaymentLine, write_cash_list
from disburse.payments.payment_files.cash_list import COLUMN_TITLES, TOTAL_LABEL, sheet_name_for

HEADER = FileHeader(
    msg_id="CASH-2026-11-79", created_at=datetime(2026, 11, 20, 8, 0, tzinfo=timezone(
        timedelta(hours=7))),
    initiating_party_name="Sở LĐ-TB&XH", initiating_party_id="SLD79", debtor_name="Sở LĐ-TB&XH",
    debtor_account="0011001234567", debtor_bin="970436", debtor_bic=None,
    requested_execution_date=date(2026, 11, 25), batch_id="B-2026-11-79",
    payment_info_id="PI-1",
)
TITLE = "Danh sách chi trả lương hưu tháng 11/2026"


def line(i: int, commune: str, amount: int, **changes: object) -> PaymentLine:
    base = PaymentLine(f"CASH-{i:04d}", amount, f"Nguyễn Văn {chr(65 + i)}", "-", "970436", None,
                       "PENS", "pension 2026-11", "79", commune, f"********{i:04d}",
                       f"09{i:08d}")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


LINES = [
    line(0, "26737", 1_500_000), line(1, "26734", 2_789_000), line(2, "26737", 500_000),
    line(3, "26734", 750_000), line(4, "26740", 1_000_000, phone=None),
]


@pytest.fixture
def workbook_path(tmp_path):
    path = tmp_path / "cash.xlsx"
    write_cash_list(path, HEADER, LINES, title=TITLE)
    return path


def table(sheet) -> list[tuple[object, ...]]:
    rows = list(sheet.iter_rows(values_only=True))
    start = rows.index(COLUMN_TITLES)
    return rows[start + 1:]


def test_one_sheet_per_commune_sorted_by_code(workbook_path):
    workbook = load_workbook(workbook_path)
    assert workbook.sheetnames == ["Xã 26734", "Xã 26737", "Xã 26740"]


@pytest.mark.parametrize(("sheet", "expected_rows", "total"), [
    ("Xã 26734", [(1, "Nguyễn Văn B", "********0001", 2_789_000, "0900000001", "CASH-0001",
                   None),
                  (2, "Nguyễn Văn D", "********0003", 750_000, "0900000003", "CASH-0003",
                   None)], 3_539_000),
    ("Xã 26737", [(1, "Nguyễn Văn A", "********0000", 1_500_000, "0900000000", "CASH-0000",
                   None),
                  (2, "Nguyễn Văn C", "********0002", 500_000, "0900000002", "CASH-0002",
                   None)], 2_000_000),
    ("Xã 26740", [(1, "Nguyễn Văn E", "********0004", 1_000_000, None, "CASH-0004", None)],
     1_000_000),
])
def test_rows_totals_and_blank_signature_column(workbook_path, sheet, expected_rows, total):
    rows = table(load_workbook(workbook_path)[sheet])
    assert rows[:-1] == expected_rows
    assert rows[-1][1] == TOTAL_LABEL
    assert rows[-1][3] == total == sum(row[3] for row in expected_rows)
    assert all(row[6] is None for row in rows)  # Chữ ký người nhận stays empty


def test_headers_are_vietnamese_and_title_is_shown(workbook_path):
    sheet = load_workbook(workbook_path)["Xã 26734"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == TITLE
    assert COLUMN_TITLES == ("STT", "Họ và tên", "CCCD", "Số tiền", "Số điện thoại",
                             "Mã giao dịch", "Chữ ký người nhận")
    assert COLUMN_TITLES in rows
    assert any("25/11/2026" in str(cell) for row in rows[:4] for cell in row if cell)


def test_result_matches_the_file(tmp_path):
    path = tmp_path / "cash.xlsx"
    result = write_cash_list(path, HEADER, LINES, title=TITLE)
    data = path.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data)
    assert (result.count, result.total) == (5, sum(x.amount for x in LINES))


def test_same_input_gives_identical_bytes(tmp_path):
    first, second = tmp_path / "1.xlsx", tmp_path / "2.xlsx"
    write_cash_list(first, HEADER, LINES, title=TITLE)
    write_cash_list(second, HEADER, list(reversed(LINES))[::-1], title=TITLE)
    assert first.read_bytes() == second.read_bytes()
    workbook = load_workbook(first)
    assert workbook.properties.created == datetime(2026, 11, 20, 1, 0)
    assert workbook.properties.modified == datetime(2026, 11, 20, 1, 0)
    with zipfile.ZipFile(first) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2026, 11, 20, 1, 0, 0)}


def test_another_creation_time_changes_the_bytes(tmp_path):
    first, second = tmp_path / "1.xlsx", tmp_path / "2.xlsx"
    write_cash_list(first, HEADER, LINES, title=TITLE)
    later = dataclasses.replace(HEADER, created_at=datetime(2026, 11, 21, tzinfo=UTC))
    write_cash_list(second, later, LINES, title=TITLE)
    assert first.read_bytes() != second.read_bytes()


def test_hostile_name_stays_text_not_formula(tmp_path):
    path = tmp_path / "cash.xlsx"
    hostile = line(0, "26734", 1_000, creditor_name='=HYPERLINK("http://evil.example","x")')
    write_cash_list(path, HEADER, [hostile], title=TITLE)
    cell = load_workbook(path)["Xã 26734"].cell(row=6, column=2)
    assert cell.value == '=HYPERLINK("http://evil.example","x")'
    assert cell.data_type == "s"


@pytest.mark.parametrize(("codes", "expected"), [
    (["a/b", "a?b"], ["Xã a_b", "Xã a_b (2)"]),
    (["X" * 35], ["Xã " + "X" * 28]),
    (["X" * 34 + "1", "X" * 34 + "2"], ["Xã " + "X" * 28, "Xã " + "X" * 24 + " (2)"]),
])
def test_sheet_names_are_short_unique_and_legal(tmp_path, codes, expected):
    path = tmp_path / "cash.xlsx"
    write_cash_list(path, HEADER, [line(i, code, 1_000) for i, code in enumerate(codes)],
                    title=TITLE)
    names = load_workbook(path).sheetnames
    assert names == expected
    assert all(len(name) <= 31 for name in names)
    assert sheet_name_for("a[b]:c*d") == "Xã a_b__c_d"
