"""The bank simulator's per-transaction decisions, its name comparison and its account book."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from disburse.entry.banksim.book import Account, AccountBook, AccountStatus, load_account_book
from disburse.entry.banksim.decide import (
    ACCEPT,
    Decision,
    Outcome,
    decide_line,
    decide_transaction,
    file_reference,
    names_match,
    transaction_reference,
)
from disburse.payments.payment_files.parse import ParsedLine


def account(status: AccountStatus = AccountStatus.OPEN, *, deceased: bool = False,
            name: str = "NGUYEN THI DAO") -> Account:
    return Account("970415", "100123456789", name, status, deceased)


def rejected(reason: str) -> Decision:
    return Decision(Outcome.REJECTED, reason)


# (account in the book, name in the file, expected decision)
CASES: list[tuple[Account | None, str, Decision]] = [
    (account(), "NGUYEN THI DAO", ACCEPT),
    (account(), "Nguyễn Thị Đào", ACCEPT),  # bank form: diacritics stripped, đ -> D
    (account(), "  nguyễn   thị đào ", ACCEPT),  # case and spacing do not matter
    (account(name="Nguyễn Thị Đào"), "NGUYEN THI DAO", ACCEPT),  # holder kept with marks
    (None, "NGUYEN THI DAO", rejected("AC01")),
    (account(AccountStatus.CLOSED), "NGUYEN THI DAO", rejected("AC04")),
    (account(AccountStatus.BLOCKED), "NGUYEN THI DAO", rejected("AC06")),
    (account(deceased=True), "NGUYEN THI DAO", rejected("MD07")),
    (account(), "NGUYEN THI DAU", rejected("BE01")),
    (account(), "NGUYEN THI", rejected("BE01")),
    (account(), "Nguyễn Thị Đảo", ACCEPT),  # a different tone mark is the same bank form
    (account(), "NGUYEN THI ĐAO", ACCEPT),
    (account(), "", rejected("BE01")),
    (account(name=""), "", rejected("BE01")),  # two empty names never match
    # The checks run in a bank's order: account state before death before name.
    (account(AccountStatus.CLOSED, deceased=True), "OTHER NAME", rejected("AC04")),
    (account(AccountStatus.BLOCKED, deceased=True), "OTHER NAME", rejected("AC06")),
    (account(deceased=True), "OTHER NAME", rejected("MD07")),
]


@pytest.mark.parametrize(("book_account", "name", "expected"), CASES)
def test_decision_table(book_account: Account | None, name: str, expected: Decision) -> None:
    assert decide_transaction(book_account, name) == expected


@pytest.mark.parametrize(("holder", "in_file", "same"), [
    ("TRAN VAN DUC", "Trần Văn Đức", True),
    ("TRAN VAN DUC", "trần văn đức", True),
    ("LE THI HOA", "Lê Thị Hòa", True),
    ("LE THI HOA", "Lê Thị Hoà", True),  # old and new tone placement
    ("LE THI HOA", "Lê Thị Hoa Lan", False),
    ("DANG VAN AN", "Đặng Văn An", True),
    ("DANG VAN AN", "Dang Van Anh", False),
])
def test_names_are_compared_in_bank_form(holder: str, in_file: str, same: bool) -> None:
    assert names_match(holder, in_file) is same


@given(st.text(alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậ ĐÔƠƯ", min_size=1))
def test_a_name_matches_itself_in_any_case(name: str) -> None:
    if name.strip():
        assert names_match(name.upper(), name.lower())


def parsed(account_number: str | None, *, bin_code: str | None = "970415",
           bic: str | None = None, name: str = "Nguyễn Thị Đào") -> ParsedLine:
    return ParsedLine("E2E-1", 1_000_000, "VND", name, account_number, bin_code, bic, "PENS",
                      "pension")


def test_a_line_is_looked_up_by_bin_and_account_or_by_bic() -> None:
    book = AccountBook({("970415", "100123456789"): account()})
    assert decide_line(book, parsed("100123456789"), {}) == ACCEPT
    # The same number at another bank is another account: unknown here.
    assert decide_line(book, parsed("100123456789", bin_code="970436"), {}) == rejected("AC01")
    by_bic = parsed("100123456789", bin_code=None, bic="ICBVVNVX")
    assert decide_line(book, by_bic, {"ICBVVNVX": "970415"}) == ACCEPT
    assert decide_line(book, by_bic, {}) == rejected("AC01")
    assert decide_line(book, parsed(None), {}) == rejected("AC01")


def test_references_are_deterministic_and_fit_the_schema() -> None:
    first = transaction_reference("970415", "DSB-2026-11-79-PENS-0001", 0)
    assert first == transaction_reference("970415", "DSB-2026-11-79-PENS-0001", 0)
    assert first != transaction_reference("970415", "DSB-2026-11-79-PENS-0001", 1)
    assert first != transaction_reference("970415", "DSB-2026-11-79-PENS-0002", 0)
    assert first.startswith(file_reference("970415", "DSB-2026-11-79-PENS-0001"))
    assert len(transaction_reference("970415", "X" * 35, 999_999)) <= 35


def test_account_book_csv_reads_good_rows_and_reports_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text(
        "bin,account_number,holder_name,status,holder_deceased\n"
        "970415,0012345678,NGUYEN THI DAO,open,false\n"
        "971025,0912345678,TRAN VAN DUC,closed,true\n"
        "97041,1,X,open,false\n"
        "970415,0012345678,AGAIN,open,false\n"
        "970415,77,Y,frozen,false\n"
        "970415,78,Z,open,maybe\n",
        encoding="utf-8",
    )
    book, errors = load_account_book(path)
    assert len(book) == 2
    found = book.find("970415", "0012345678")
    assert found is not None and found.holder_name == "NGUYEN THI DAO"  # leading zeros kept
    wallet = book.find("971025", "0912345678")
    assert wallet == Account("971025", "0912345678", "TRAN VAN DUC", AccountStatus.CLOSED, True)
    assert [(e.line, e.field) for e in errors] == [
        (4, "bin"), (5, "account_number"), (6, "status"), (7, "holder_deceased")]


def test_account_book_without_a_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text("bin,account_number,holder_name\n970415,1,A\n", encoding="utf-8")
    book, errors = load_account_book(path)
    assert len(book) == 0
    assert {e.field for e in errors} == {"status", "holder_deceased"}
