"""The simulated bank's account book: who holds which account, and in what state.

The book is the CSV ``disburse synth`` writes (``beneficiaries.synth.accounts``): columns
``bin, account_number, holder_name, status, holder_deceased``. Accounts are keyed by
(BIN, account number); for an e-wallet the wallet number is the account number. Account
numbers stay strings so leading zeros survive. Bad rows come back as data, never raised.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

#: Columns the book must have (others are ignored).
BOOK_COLUMNS: Final = ("bin", "account_number", "holder_name", "status", "holder_deceased")
_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no", ""})


class AccountStatus(StrEnum):
    """State of an account at the bank."""

    OPEN = "open"
    CLOSED = "closed"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class Account:
    """One account (or e-wallet) in the book.

    Attributes:
        bin: the 6-digit NAPAS BIN of the bank or e-wallet holding the account.
        account_number: the account or wallet number, as a string.
        holder_name: the holder's name as the bank keeps it (usually upper-case ASCII).
        status: open, closed or blocked.
        holder_deceased: the bank has been told the holder died.
    """

    bin: str
    account_number: str
    holder_name: str
    status: AccountStatus
    holder_deceased: bool


@dataclass(frozen=True, slots=True)
class BookError:
    """A row of the book that could not be read: its line, the column and why."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        """Render as ``line N, FIELD: message`` for the operator."""
        return f"line {self.line}, {self.field}: {self.message}"


class AccountBook:
    """Accounts by (BIN, account number); read-only once loaded, so safe across threads."""

    def __init__(self, accounts: dict[tuple[str, str], Account]) -> None:
        """Wrap an already-built mapping (see ``load_account_book``)."""
        self._accounts = accounts

    def __len__(self) -> int:
        """Return how many accounts the book holds."""
        return len(self._accounts)

    def find(self, bin_code: str | None, account_number: str | None) -> Account | None:
        """Return the account, or ``None`` when the bank does not know it."""
        if bin_code is None or account_number is None:
            return None
        return self._accounts.get((bin_code, account_number))


def _row_account(line: int, row: dict[str, str]) -> Account | BookError:
    values = {name: (row.get(name) or "").strip() for name in BOOK_COLUMNS}
    if not (len(values["bin"]) == 6 and values["bin"].isdigit()):
        return BookError(line, "bin", f"{values['bin']!r} is not a 6-digit BIN")
    if not values["account_number"]:
        return BookError(line, "account_number", "is empty")
    try:
        status = AccountStatus(values["status"].lower())
    except ValueError:
        return BookError(line, "status", f"{values['status']!r} is not open/closed/blocked")
    deceased = values["holder_deceased"].lower()
    if deceased not in _TRUE | _FALSE:
        return BookError(line, "holder_deceased", f"{deceased!r} is not true/false")
    return Account(values["bin"], values["account_number"], values["holder_name"], status,
                   deceased in _TRUE)


def load_account_book(path: Path) -> tuple[AccountBook, list[BookError]]:
    """Read the account book CSV.

    Args:
        path: a UTF-8 CSV (a BOM is allowed) with the columns of ``BOOK_COLUMNS``.

    Returns:
        The book of every good row and the errors of the bad ones (a repeated account is an
        error; the first row wins).
    """
    accounts: dict[tuple[str, str], Account] = {}
    errors: list[BookError] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in BOOK_COLUMNS if name not in (reader.fieldnames or [])]
        if missing:
            return AccountBook({}), [BookError(1, name, "column is missing") for name in missing]
        for line, row in enumerate(reader, start=2):
            account = _row_account(line, row)
            if isinstance(account, BookError):
                errors.append(account)
                continue
            key = (account.bin, account.account_number)
            if key in accounts:
                errors.append(BookError(line, "account_number",
                                        f"{account.account_number} at {account.bin} repeats"))
                continue
            accounts[key] = account
    return AccountBook(accounts), errors
