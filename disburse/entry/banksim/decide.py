"""Pure per-transaction decisions of the simulated bank, and its deterministic references.

A transaction is checked against the account book in a fixed order, the order a real bank's
checks run in: the account must exist (AC01), be open (AC04 closed, AC06 blocked), belong to a
living holder (MD07), and the name in the file must be the holder's (BE01). Names are compared
in bank form: upper-case ASCII without diacritics, đ/Đ mapped to D, whitespace collapsed, the
same form ``disburse synth`` writes the book in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from beneficiaries.rules.text import bank_form
from disburse.entry.banksim.book import Account, AccountBook, AccountStatus
from disburse.payments.payment_files.parse import ParsedLine

# ISO 20022 ExternalStatusReason1Code values the simulator gives.
UNKNOWN_ACCOUNT: Final = "AC01"
CLOSED_ACCOUNT: Final = "AC04"
BLOCKED_ACCOUNT: Final = "AC06"
NAME_MISMATCH: Final = "BE01"
HOLDER_DECEASED: Final = "MD07"
DUPLICATE: Final = "DUPL"
INVALID_FILE: Final = "FF01"


class Outcome(StrEnum):
    """What the bank does with one transaction."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Decision:
    """The bank's answer for one transaction: accepted, or rejected with an ISO reason."""

    outcome: Outcome
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        """True when the payment will be credited."""
        return self.outcome is Outcome.ACCEPTED


ACCEPT: Final = Decision(Outcome.ACCEPTED)

# Checks in the order they run: the first that fails gives the reason.
_CHECKS: Final[tuple[tuple[Callable[[Account, str], bool], str], ...]] = (
    (lambda account, _name: account.status is not AccountStatus.CLOSED, CLOSED_ACCOUNT),
    (lambda account, _name: account.status is not AccountStatus.BLOCKED, BLOCKED_ACCOUNT),
    (lambda account, _name: not account.holder_deceased, HOLDER_DECEASED),
    (lambda account, name: names_match(account.holder_name, name), NAME_MISMATCH),
)


def names_match(holder_name: str, name_in_file: str) -> bool:
    """Return True when two names are the same in bank form.

    Example:
        >>> names_match("NGUYEN THI DAO", "Nguyễn Thị  Đào")
        True
    """
    return bank_form(holder_name) == bank_form(name_in_file) != ""


def decide_transaction(account: Account | None, creditor_name: str | None) -> Decision:
    """Decide one transaction from the account it pays into and the name the file gives.

    Args:
        account: the book's account, or ``None`` when the bank does not know the account.
        creditor_name: ``Cdtr/Nm`` from the payment file.

    Returns:
        ``ACCEPT``, or a rejection with AC01, AC04, AC06, MD07 or BE01.
    """
    if account is None:
        return Decision(Outcome.REJECTED, UNKNOWN_ACCOUNT)
    for passes, reason in _CHECKS:
        if not passes(account, creditor_name or ""):
            return Decision(Outcome.REJECTED, reason)
    return ACCEPT


def creditor_bin(line: ParsedLine, bin_for_bic: Mapping[str, str]) -> str | None:
    """Return the BIN of the creditor's bank: the member id, or the BIN of the BIC given."""
    if line.creditor_bin:
        return line.creditor_bin
    return bin_for_bic.get(line.creditor_bic or "")


def decide_line(
    book: AccountBook, line: ParsedLine, bin_for_bic: Mapping[str, str]
) -> Decision:
    """Decide one transaction of a payment file against the book."""
    account = book.find(creditor_bin(line, bin_for_bic), line.creditor_account)
    return decide_transaction(account, line.creditor_name)


def decide_lines(
    book: AccountBook, lines: Iterable[ParsedLine], bin_for_bic: Mapping[str, str]
) -> list[Decision]:
    """Decide every transaction of a file, in file order."""
    return [decide_line(book, line, bin_for_bic) for line in lines]


def file_reference(bank_bin: str, msg_id: str) -> str:
    """Return the bank's reference for a received file: its BIN and a digest of the MsgId.

    Deterministic, so the same MsgId always gets the same reference (a replay shows it).
    """
    digest = hashlib.sha256(msg_id.encode("utf-8")).hexdigest()[:12].upper()
    return f"{bank_bin}{digest}"


def transaction_reference(bank_bin: str, msg_id: str, index: int) -> str:
    """Return the AcctSvcrRef of the ``index``-th (0-based) transaction of a file (<=35)."""
    return f"{file_reference(bank_bin, msg_id)}{index + 1:06d}"


def return_reference(original_reference: str) -> str:
    """Return the AcctSvcrRef of the return of a settled payment."""
    return f"{original_reference}R"
