"""Vietnamese reference tables shipped as package data (see PROVENANCE.md beside this file).

The tables are copied from the project's shared reference folder so that the service runs
without it: NAPAS/VietQR bank BINs and the CCCD birth-registration province codes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

#: BINs of e-wallet / mobile-money providers (not banks): they take wallet numbers.
EWALLET_BINS: frozenset[str] = frozenset({"971005", "971011", "971025"})


class BankKind(StrEnum):
    """Whether a BIN names a bank (accounts) or an e-wallet provider (wallet numbers)."""

    BANK = "bank"
    EWALLET = "ewallet"


@dataclass(frozen=True, slots=True)
class Bank:
    """One current entry of the bank table, keyed by its 6-digit NAPAS BIN."""

    bin: str
    code: str
    short_name: str
    bic: str | None
    name: str
    kind: BankKind


def _rows(filename: str) -> list[dict[str, str]]:
    text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def load_banks() -> dict[str, Bank]:
    """Return the current (non-deprecated) banks and e-wallets by BIN.

    A BIN reused after a merger appears twice in the source table; only the row not marked
    deprecated is kept. Rows without a BIN (banks outside NAPAS) are skipped.
    """
    banks: dict[str, Bank] = {}
    for row in _rows("banks.csv"):
        if not row["bin"] or row["deprecated"] == "yes":
            continue
        kind = BankKind.EWALLET if row["bin"] in EWALLET_BINS else BankKind.BANK
        banks[row["bin"]] = Bank(
            bin=row["bin"],
            code=row["code"],
            short_name=row["short_name"],
            bic=row["bic"] or None,
            name=row["name"],
            kind=kind,
        )
    return banks


@cache
def load_cccd_provinces() -> dict[str, str]:
    """Return the 3-digit CCCD birth-registration province codes (old 63-province table)."""
    return {row["code"]: row["province"] for row in _rows("cccd_provinces.csv")}
