"""End-of-day statements beside notifications: confirmations, disagreements, sequence gaps.

A bank that sends a camt.054 notification for each booking usually repeats the booking in its
camt.053 statement at the end of the day (MT940 likewise). The two files are different
reports of one booking, so the statement entry is a *confirmation*, not a duplicate to queue:
one exception per entry would put a million items a month before the auditors. They are
recognised by the bank's own reference for the booking (``AcctSvcrRef``) from the same bank:

* the same payment (EndToEndId), amount, booking date and direction: a confirmation, kept as
  evidence and never matched again;
* anything else under the same reference: one ``statement_mismatch`` exception, and the later
  report is not applied.

A statement entry with no earlier notification books the payment as a notification would
(the matching treats it like any record). Whichever of the two arrives first is the one
applied, so the outcome is the same in either order when they agree.

Each statement's balances are checked by the parser (opening + booked entries = closing);
here the statement's place in the bank's sequence (``ElctrncSeqNb``, else ``LglSeqNb``) is
recorded per account, and a number that skips some after the last one received is reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bank_adapters.models import ReceivedReturnFile
from reconciliation.models import BankStatement, RecordDecision, ReturnRecordRow
from reconciliation.parsers.camt import StatementHeader
from reconciliation.records import ReturnRecord, SourceFormat

#: Formats that repeat bookings already notified one by one.
STATEMENT_FORMATS = frozenset({SourceFormat.CAMT053, SourceFormat.MT940})
_CHUNK = 5000
_Keyed = tuple[str, ReturnRecord]


@dataclass(frozen=True)
class Confirmations:
    """What the new records of one file are beside the other family's reports.

    Attributes:
        confirmed: keys of new records that repeat an earlier report of the same booking.
        mismatched: key -> (the earlier record's id, what differs) for new records that
            disagree with an earlier report under the same bank reference.
    """

    confirmed: frozenset[str]
    mismatched: dict[str, tuple[int, str]]


def _booking(row: Any) -> tuple[Any, ...]:
    return (row.end_to_end_id, row.amount, row.booking_date, row.status)


def _differences(earlier: Any, record: ReturnRecord) -> str:
    names = ("EndToEndId", "amount", "booking date", "direction")
    theirs = (record.end_to_end_id, record.amount, record.booking_date, record.status.value)
    return ", ".join(f"{name} {old} != {new}"
                     for name, old, new in zip(names, _booking(earlier), theirs, strict=True)
                     if old != new)


def find_confirmations(session: Session, new: Sequence[_Keyed], bank_bin: str,
                       new_ids: Iterable[int]) -> Confirmations:
    """Sort the new records into confirmations and disagreements of earlier reports.

    Only a record with a bank reference can confirm: a statement entry is compared with the
    notifications (any other format) from the same bank, and a notification with the
    statement entries.

    Args:
        session: The caller's session.
        new: The file's new distinct records with their keys (all of one format).
        bank_bin: The signing bank: only its own earlier reports count.
        new_ids: Row ids of the new records (they are not earlier reports).

    Returns:
        The confirmations and the disagreements.
    """
    referenced = [(key, r) for key, r in new if r.bank_reference]
    if not referenced:
        return Confirmations(frozenset(), {})
    statement = referenced[0][1].source_format in STATEMENT_FORMATS
    other = [f.value for f in SourceFormat if (f in STATEMENT_FORMATS) != statement]
    earlier = _earlier_reports(session, sorted({r.bank_reference or "" for _, r in referenced}),
                               bank_bin, other, set(new_ids))
    confirmed: set[str] = set()
    mismatched: dict[str, tuple[int, str]] = {}
    for key, record in referenced:
        found = earlier.get(record.bank_reference or "")
        if found is None:
            continue
        same = (record.end_to_end_id, record.amount, record.booking_date,
                record.status.value) == _booking(found)
        if same:
            confirmed.add(key)
        else:
            mismatched[key] = (found.id, _differences(found, record))
    return Confirmations(frozenset(confirmed), mismatched)


def _earlier_reports(session: Session, references: Sequence[str], bank_bin: str,
                     formats: Sequence[str], exclude: set[int]) -> dict[str, Any]:
    """The first usable earlier record per bank reference, of ``formats``, from the bank."""
    r = ReturnRecordRow
    found: dict[str, Any] = {}
    for start in range(0, len(references), _CHUNK):
        rows = session.execute(
            select(r.id, r.bank_reference, r.end_to_end_id, r.amount, r.booking_date, r.status)
            .join(ReceivedReturnFile, ReceivedReturnFile.id == r.return_file_id)
            .where(r.bank_reference.in_(references[start:start + _CHUNK]),
                   r.source_format.in_(formats), ReceivedReturnFile.bank_bin == bank_bin,
                   r.decision.not_in([RecordDecision.REFUSED.value,
                                      RecordDecision.CONFIRMED.value]))
            .order_by(r.id))
        for row in rows:
            if row.id not in exclude:
                found.setdefault(row.bank_reference, row)
    return found


def record_statements(session: Session, bank_bin: str, return_file_id: int,
                      headers: Sequence[StatementHeader]) -> list[dict[str, Any]]:
    """Keep each statement's place in its account's sequence; report the gaps.

    Args:
        session: The caller's session.
        bank_bin: The signing bank.
        return_file_id: The file the statements came in.
        headers: The statements read from it.

    Returns:
        One detail per statement whose number skips some after the highest lower number
        already received for the account (nothing before the first statement of an account).
    """
    gaps: list[dict[str, Any]] = []
    for header in headers:
        if header.sequence is not None:
            previous = session.execute(
                select(func.max(BankStatement.sequence)).where(
                    BankStatement.bank_bin == bank_bin, BankStatement.account == header.account,
                    BankStatement.sequence < header.sequence)).scalar_one_or_none()
            if previous is not None and previous != header.sequence - 1:
                missing = (f"{previous + 1}" if previous + 1 == header.sequence - 1
                           else f"{previous + 1}-{header.sequence - 1}")
                gaps.append({
                    "message": f"statement {header.sequence} of account {header.account} "
                               f"follows {previous}: statement(s) {missing} never received",
                    "account": header.account, "statement_id": header.statement_id,
                    "sequence": header.sequence, "previous": previous,
                    "location": header.location})
        session.add(BankStatement(return_file_id=return_file_id, bank_bin=bank_bin,
                                  account=header.account[:70],
                                  statement_id=header.statement_id[:35],
                                  sequence=header.sequence))
    session.flush()
    return gaps
