"""How synthetic people are paid (bank, e-wallet, cash) and the bank simulator's account book.

A person's channel, bank, account number and phone come from an RNG seeded with the list seed
and the person's CCCD, so the same person carries the same account in every programme's list
and the account book can be rebuilt from the lists alone.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Final

import openpyxl

from beneficiaries.columns import LIST_COLUMNS
from beneficiaries.reference import BankKind, load_banks
from beneficiaries.rules import bank_form
from beneficiaries.synth.names import WeightedTable, seeded_rng
from beneficiaries.synth.population import Person, Status, read_population_csv

#: Name of the answer key ``write_lists`` puts beside the lists.
ANSWER_KEY_NAME: Final = "answer_key.json"


class Channel(StrEnum):
    """How a beneficiary receives the money."""

    BANK = "bank"
    EWALLET = "ewallet"
    CASH = "cash"


@dataclass(frozen=True, slots=True)
class PaymentProfile:
    """A person's payment details: the account is the wallet number (phone) for e-wallets."""

    channel: Channel
    bank_bin: str
    account_number: str
    phone: str


# --- channel mix --------------------------------------------------------------------------

_BANKED_CITIES: Final = {"79": (80.0, 12.0, 8.0), "01": (76.0, 10.0, 14.0)}
_CITY: Final = (65.0, 10.0, 25.0)
_MOUNTAIN: Final = (30.0, 7.0, 63.0)
_HIGHLAND: Final = (45.0, 8.0, 47.0)
_DEFAULT: Final = (55.0, 10.0, 35.0)
#: (bank, e-wallet, cash) weights by 2025 province: the big cities are mostly banked, the
#: northern border and north-west mountains still mostly take cash at the commune.
_GROUPS: Final = (
    (("48", "31", "92", "46", "75"), _CITY),
    (("04", "08", "11", "12", "14", "15", "20"), _MOUNTAIN),
    (("52", "66", "68", "51", "19"), _HIGHLAND),
)
#: Share of people aged 80+ who switch to cash whatever their province offers.
_VERY_OLD_CASH: Final = 0.3
#: Share of cash recipients with no phone number in the list.
_CASH_NO_PHONE: Final = 0.2


def _mix(province: str) -> tuple[float, float, float]:
    if province in _BANKED_CITIES:
        return _BANKED_CITIES[province]
    return next((mix for codes, mix in _GROUPS if province in codes), _DEFAULT)


@cache
def _channel_table(province: str) -> WeightedTable[Channel]:
    return WeightedTable(list(zip(Channel, _mix(province), strict=True)))


# --- banks and account numbers ------------------------------------------------------------

#: Market weight of the banks that pay most benefits (Agribank reaches every commune).
_BANK_WEIGHTS: Final = {
    "970405": 30.0, "970418": 15.0, "970415": 14.0, "970436": 12.0, "970422": 7.0,
    "970407": 5.0, "970403": 3.0, "970416": 3.0, "970432": 3.0, "970449": 3.0,
    "970423": 1.0, "970443": 1.0, "970437": 1.0, "970441": 1.0, "970440": 1.0,
    "970448": 1.0, "970426": 1.0, "970446": 1.0,
}
#: Weight of every other bank in the table.
_TAIL_BANK_WEIGHT: Final = 0.15
_WALLET_WEIGHTS: Final = {"971025": 50.0, "971005": 35.0, "971011": 15.0}

#: BIN -> (possible lengths, leading digits) of its account numbers, as customers see them.
_ACCOUNT_SHAPES: Final[dict[str, tuple[tuple[int, ...], tuple[str, ...]]]] = {
    "970405": ((13,), ("1500", "1600", "2600", "3100", "4200", "5100", "7100")),
    "970418": ((12, 14), ("12", "21", "31", "45", "56", "58", "63", "81")),
    "970415": ((12,), ("100", "101", "108")),
    "970436": ((13,), ("0011", "0071", "0451", "0491", "0531", "1011", "1017")),
    "970422": ((12, 13), ("0", "9", "8", "3")),
    "970407": ((14,), ("1903", "1902", "1904")),
    "970403": ((12,), ("0601", "0602", "0400", "0500", "0200")),
    "970416": ((6, 7, 8, 9), ("1", "2", "3", "4")),
    "970432": ((9,), ("1", "2", "3", "4", "5")),
    "970449": ((12,), ("0", "9", "1")),
    "970423": ((11,), ("0", "1")),
    "970443": ((13,), ("10", "1")),
    "970437": ((12, 14), ("0", "1", "2")),
}
_DEFAULT_SHAPE: Final = ((12,), ("0", "1", "2", "3", "5", "6", "7", "8", "9"))

#: Mobile prefixes by network (Viettel, VinaPhone, MobiFone, Vietnamobile, Gmobile).
_PHONE_PREFIXES: Final = WeightedTable([
    *((p, 6.0) for p in ("032", "033", "034", "035", "036", "037", "038", "039", "086")),
    *((p, 7.0) for p in ("096", "097", "098")),
    *((p, 4.0) for p in ("081", "082", "083", "084", "085", "088", "091", "094")),
    *((p, 4.0) for p in ("070", "076", "077", "078", "079", "089", "090", "093")),
    *((p, 1.5) for p in ("052", "056", "058", "092", "059", "099")),
])


@cache
def _bank_table() -> WeightedTable[str]:
    banks = load_banks()
    pairs = [
        (b, _BANK_WEIGHTS.get(b, _TAIL_BANK_WEIGHT))
        for b in sorted(banks) if banks[b].kind is BankKind.BANK
    ]
    return WeightedTable(pairs)


@cache
def _wallet_table() -> WeightedTable[str]:
    banks = load_banks()
    return WeightedTable([(b, w) for b, w in sorted(_WALLET_WEIGHTS.items()) if b in banks])


def random_phone(rng: random.Random) -> str:
    """Return a Vietnamese mobile number: 10 digits, prefix 03x/05x/07x/08x/09x."""
    return f"{_PHONE_PREFIXES.pick(rng)}{rng.randrange(10_000_000):07d}"


def random_account_number(rng: random.Random, bank_bin: str) -> str:
    """Return an account number of a length and leading digits usual at this bank."""
    lengths, prefixes = _ACCOUNT_SHAPES.get(bank_bin, _DEFAULT_SHAPE)
    prefix = rng.choice(prefixes)
    rest = rng.choice(lengths) - len(prefix)
    return prefix + f"{rng.randrange(10**rest):0{rest}d}"


def payment_profile(
    person: Person, seed: int, today: date, *, cash_allowed: bool = True
) -> PaymentProfile:
    """Return how ``person`` is paid; the same for the same person and seed in every list.

    Args:
        person: The beneficiary.
        seed: The list seed (mixed with the CCCD into the person's own RNG).
        today: Reference date for the person's age (the very old are paid in cash more).
        cash_allowed: False for programmes that never pay cash (unemployment benefit): a
            person who would take cash gets a bank account instead.
    """
    rng = seeded_rng(f"{seed}:{person.citizen_id}")
    channel = _channel_table(person.province_code).pick(rng)
    if channel is not Channel.CASH and today.year - person.date_of_birth.year >= 80:
        channel = Channel.CASH if rng.random() < _VERY_OLD_CASH else channel
    if channel is Channel.CASH and not cash_allowed:
        channel = Channel.BANK
    phone = random_phone(rng)
    if channel is Channel.BANK:
        bank_bin = _bank_table().pick(rng)
        return PaymentProfile(channel, bank_bin, random_account_number(rng, bank_bin), phone)
    if channel is Channel.EWALLET:
        return PaymentProfile(channel, _wallet_table().pick(rng), phone, phone)
    return PaymentProfile(channel, "", "", "" if rng.random() < _CASH_NO_PHONE else phone)


# --- the account book ---------------------------------------------------------------------


class AccountStatus(StrEnum):
    """State of an account at the simulated bank."""

    OPEN = "open"
    CLOSED = "closed"
    BLOCKED = "blocked"


#: Columns of the account book CSV.
ACCOUNT_BOOK_COLUMNS: Final = (
    "bin", "account_number", "holder_name", "status", "holder_deceased",
)
#: ISO 20022 reason a bank gives when paying into such an account (suggested outcome).
_REASONS: Final = {
    "missing": "AC01", AccountStatus.CLOSED: "AC04", AccountStatus.BLOCKED: "AC06",
    "deceased": "MD07",
}


@dataclass(frozen=True, slots=True)
class AccountBookSummary:
    """What ``write_account_book`` wrote."""

    path: Path
    key_path: Path
    accounts: int
    missing: int
    closed: int
    blocked: int
    deceased: int


@dataclass(slots=True)
class _Account:
    bin: str
    number: str
    citizen_id: str
    list_name: str
    holder_name: str = ""
    deceased: bool = False
    state: str = AccountStatus.OPEN


def _header_map() -> dict[str, str]:
    """Both languages' list headers -> canonical column name."""
    return {header: name for name, pair in LIST_COLUMNS.items() for header in pair}


def read_list_rows(path: Path) -> Iterator[dict[str, str]]:
    """Yield the data rows of a list written by ``write_lists`` (CSV or XLSX, vi or en).

    Keys are canonical column names; every value is text (numbers from XLSX as digits).
    """
    headers = _header_map()
    if path.suffix == ".xlsx":
        workbook = openpyxl.load_workbook(path, read_only=True)
        try:
            sheet = workbook.active
            if sheet is None:
                return
            rows = sheet.iter_rows(values_only=True)
            names = [headers[str(cell)] for cell in next(rows)]
            for cells in rows:
                # Read-only rows stop at their last non-empty cell.
                padded = [*cells, *[None] * (len(names) - len(cells))]
                yield {n: _cell_text(c) for n, c in zip(names, padded, strict=False)}
        finally:
            workbook.close()
        return
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        names = [headers[cell] for cell in next(reader)]
        for row in reader:
            yield dict(zip(names, row, strict=False))


def _cell_text(value: object) -> str:
    """An XLSX cell as the text a CSV would hold (dates as ISO, blanks as "")."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)


def _collect_accounts(lists_dir: Path) -> dict[tuple[str, str], _Account]:
    """Every bank and e-wallet account in the lists, skipping rows injected as bad accounts."""
    key = json.loads((lists_dir / ANSWER_KEY_NAME).read_text(encoding="utf-8"))
    accounts: dict[tuple[str, str], _Account] = {}
    for file_name, entry in sorted(key["files"].items()):
        bad = {d["row"] for d in entry["defects"] if d["kind"] == "invalid_account"}
        for row_number, row in enumerate(read_list_rows(lists_dir / file_name), start=2):
            if row_number in bad or not row.get("account_number"):
                continue
            citizen_id = row["citizen_id"].zfill(12)  # undo an injected lost leading zero
            pair = (row["bank_bin"], row["account_number"])
            accounts.setdefault(pair, _Account(*pair, citizen_id, row["full_name"]))
    return accounts


def _attach_holders(accounts: dict[tuple[str, str], _Account], population: Path) -> None:
    """Fill holder names (bank form, from the registry) and deaths from the population."""
    by_person: dict[str, list[_Account]] = {}
    for account in accounts.values():
        by_person.setdefault(account.citizen_id, []).append(account)
    for person in read_population_csv(population):
        for account in by_person.pop(person.citizen_id, ()):
            account.holder_name = bank_form(person.full_name)
            account.deceased = person.status is Status.DECEASED
    # IDs unknown to the registry (injected unknown_id rows): the bank knows the list name.
    for leftovers in by_person.values():
        for account in leftovers:
            account.holder_name = bank_form(account.list_name)


def _pick_exact(rng: random.Random, pool: list[_Account], rate: float) -> list[_Account]:
    """Pick ``rate`` of ``pool`` (at least one when the rate is positive) and remove them."""
    if rate <= 0 or not pool:
        return []
    chosen = set(rng.sample(range(len(pool)), min(len(pool), max(1, round(rate * len(pool))))))
    picked = [a for i, a in enumerate(pool) if i in chosen]
    pool[:] = [a for i, a in enumerate(pool) if i not in chosen]
    return picked


def write_account_book(
    population: Path,
    lists_dir: Path,
    out: Path,
    *,
    seed: int = 0,
    closed_rate: float = 0.005,
    blocked_rate: float = 0.003,
    missing_rate: float = 0.005,
) -> AccountBookSummary:
    """Write the bank simulator's account book for the accounts in a directory of lists.

    Missing accounts are left out of the book (the bank answers AC01); closed and blocked
    ones are written with that status; accounts of deceased people carry
    ``holder_deceased=true``. The key ``<out stem>_key.json`` beside ``out`` lists every such
    account with the person's CCCD so reconciliation tests can predict each outcome.

    Args:
        population: The population CSV the lists were drawn from.
        lists_dir: Directory written by ``write_lists`` (with its answer key).
        out: The account book CSV to write.
        seed: Seed of the RNG choosing missing, closed and blocked accounts.
        closed_rate: Share of accounts closed.
        blocked_rate: Share of accounts blocked.
        missing_rate: Share of accounts unknown to the bank.

    Returns:
        Counts of what was written.
    """
    accounts = _collect_accounts(lists_dir)
    _attach_holders(accounts, population)
    ordered = [accounts[pair] for pair in sorted(accounts)]
    rng = seeded_rng(seed)
    pool = list(ordered)
    for state, rate in (("missing", missing_rate), (AccountStatus.CLOSED, closed_rate),
                        (AccountStatus.BLOCKED, blocked_rate)):
        for account in _pick_exact(rng, pool, rate):
            account.state = state
    _write_book(out, ordered)
    key_path = out.with_name(f"{out.stem}_key.json")
    key_path.write_text(_account_key(ordered, seed), encoding="utf-8")
    counts = {s: sum(a.state == s for a in ordered) for s in ("missing", "closed", "blocked")}
    return AccountBookSummary(
        path=out, key_path=key_path, accounts=len(ordered) - counts["missing"],
        missing=counts["missing"], closed=counts["closed"], blocked=counts["blocked"],
        deceased=sum(a.deceased for a in ordered),
    )


def _write_book(out: Path, accounts: list[_Account]) -> None:
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(ACCOUNT_BOOK_COLUMNS)
        writer.writerows(
            [a.bin, a.number, a.holder_name, a.state, "true" if a.deceased else "false"]
            for a in accounts if a.state != "missing"
        )


def _account_key(accounts: list[_Account], seed: int) -> str:
    """The JSON key: every account that is not a plain open account of a living person."""
    entries: list[dict[str, Any]] = [
        {
            "bin": a.bin, "account_number": a.number, "citizen_id": a.citizen_id,
            "in_book": a.state != "missing", "status": a.state,
            "holder_deceased": a.deceased,
            "expected_reason": _REASONS.get(a.state) or _REASONS["deceased"],
        }
        for a in accounts if a.state != AccountStatus.OPEN or a.deceased
    ]
    document = {
        "seed": seed,
        "accounts_in_lists": len(accounts),
        "note": "status 'missing' = not in the book (AC01); expected_reason is the ISO 20022 "
                "reason a bank would give; deceased holders of open accounts: MD07",
        "exceptions": entries,
    }
    return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
