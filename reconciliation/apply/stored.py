"""Return records in the database: which are new, storing them, reading back the stored ones.

Accounts are sealed and blind-indexed with the keyring; record keys include the signing bank,
so only the same bank's same statement is a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    select,
)
from sqlalchemy.orm import Session

from disburse.core.clock import utcnow
from disburse.core.keyring import Keyring
from reconciliation.apply.bulk import RECORDS, chunks, executemany
from reconciliation.matching import (
    InstructionView,
    normalize_account,
    record_key,
)
from reconciliation.models import (
    RecordDecision,
    ReturnRecordRow,
)
from reconciliation.records import ReturnRecord, ReturnStatus, SourceFormat


def split_new(session: Session, records: Sequence[ReturnRecord], signer: str) -> tuple[
        list[tuple[str, ReturnRecord]], list[tuple[str, ReturnRecord]], dict[str, int]]:
    """Split records into new distinct ones and duplicates; also return the known keys' ids.

    Within the file the first occurrence (by position) is the one stored. Keys include the
    signing bank: only the same bank's same statement is a duplicate.
    """
    keyed = sorted(((record_key(r, signer), r) for r in records),
                   key=lambda p: p[1].record_index)
    known: dict[str, int] = {}
    for chunk in chunks(sorted({key for key, _ in keyed})):
        known.update(session.execute(select(ReturnRecordRow.record_key, ReturnRecordRow.id)
                                     .where(ReturnRecordRow.record_key.in_(chunk))).tuples().all())
    new: list[tuple[str, ReturnRecord]] = []
    duplicates: list[tuple[str, ReturnRecord]] = []
    first_in_file: set[str] = set()
    for key, record in keyed:
        if key in known or key in first_in_file:
            duplicates.append((key, record))
        else:
            first_in_file.add(key)
            new.append((key, record))
    return new, duplicates, known


RECORD_COLUMNS = (
    "return_file_id", "record_key", "record_index", "source_format", "file_sha256", "msg_id",
    "end_to_end_id", "bank_reference", "account_enc", "account_idx", "amount", "status",
    "group_status", "reason_code", "reason_text", "booking_date", "matched_instruction_id",
    "decision", "created_at",
)


def _row(keyring: Keyring, return_file_id: int, key: str, r: ReturnRecord, now: datetime
         ) -> tuple[Any, ...]:
    """The values of one ``return_records`` row, in :data:`RECORD_COLUMNS` order."""
    account = normalize_account(r.account)
    return (
        return_file_id, key, r.record_index, r.source_format.value, r.file_sha256,
        r.msg_id, r.end_to_end_id, r.bank_reference,
        keyring.encrypt("account_number", r.account) if r.account else None,
        keyring.blind_index("account_number", account) if account else None,
        r.amount, r.status.value, r.group_status.value if r.group_status else None,
        r.reason_code, (r.reason_text or "")[:1000] or None, r.booking_date, None,
        RecordDecision.APPLIED.value, now,
    )


def store_new(session: Session, keyring: Keyring, return_file_id: int,
               new: Sequence[tuple[str, ReturnRecord]]) -> dict[str, int]:
    """Insert the new distinct records; return record key -> row id."""
    now = utcnow()
    executemany(session, RECORDS, RECORD_COLUMNS,
                 (_row(keyring, return_file_id, key, r, now) for key, r in new))
    connection = session.connection()
    ids: dict[str, int] = {}
    for keys in chunks([key for key, _ in new]):
        ids.update(connection.execute(select(RECORDS.c.record_key, RECORDS.c.id)
                                      .where(RECORDS.c.record_key.in_(keys))).tuples().all())
    return ids


def account_indexes(keyring: Keyring, bank_bin: str, records: Iterable[ReturnRecord]
                     ) -> set[str]:
    """Blind indexes an instruction would carry for these records' accounts at this bank.

    Instructions index ``"<bin>:<account>"`` (the registry's form), so a fallback look-up
    by account works only for accounts at the sending bank; others end as ``no_match``.
    """
    found: set[str] = set()
    for record in records:
        for account in {normalize_account(record.account),
                        "".join((record.account or "").split()).replace("-", "")}:
            if account:
                found.add(keyring.blind_index("account_number", f"{bank_bin}:{account}"))
    return found


_STORED_COLUMNS = (
    RECORDS.c.id, RECORDS.c.record_key, RECORDS.c.source_format, RECORDS.c.file_sha256,
    RECORDS.c.msg_id, RECORDS.c.end_to_end_id, RECORDS.c.bank_reference,
    RECORDS.c.account_enc, RECORDS.c.amount, RECORDS.c.status, RECORDS.c.reason_code,
    RECORDS.c.reason_text, RECORDS.c.booking_date, RECORDS.c.record_index,
    RECORDS.c.group_status,
)


def stored_records(session: Session, keyring: Keyring, views: Sequence[InstructionView],
                    *, exclude: set[int]) -> list[tuple[int, str, ReturnRecord]]:
    """Every usable stored record about these instructions (by EndToEndId or whole-file
    MsgId); refused records are never read again.

    Read as plain rows of the needed columns (no ORM objects), with the stored key.
    """
    r = RECORDS.c
    e2e = sorted({v.end_to_end_id for v in views})
    msgs = sorted({v.msg_id for v in views if v.msg_id})
    connection = session.connection()
    rows: dict[int, Row[Any]] = {}
    usable = r.decision.not_in([RecordDecision.REFUSED.value, RecordDecision.CONFIRMED.value])
    for chunk in chunks(e2e):
        rows.update((row.id, row) for row in connection.execute(
            select(*_STORED_COLUMNS).where(r.end_to_end_id.in_(chunk), usable)))
    for chunk in chunks(msgs):
        rows.update((row.id, row) for row in connection.execute(
            select(*_STORED_COLUMNS).where(r.end_to_end_id.is_(None),
                                           r.group_status.is_not(None),
                                           r.msg_id.in_(chunk), usable)))
    return [(row_id, row.record_key, _as_record(keyring, row))
            for row_id, row in sorted(rows.items()) if row_id not in exclude]


def _as_record(keyring: Keyring, row: Row[Any]) -> ReturnRecord:
    return ReturnRecord(
        source_format=SourceFormat(row.source_format), file_sha256=row.file_sha256,
        msg_id=row.msg_id, end_to_end_id=row.end_to_end_id, bank_reference=row.bank_reference,
        account=keyring.decrypt("account_number", row.account_enc) if row.account_enc else None,
        amount=row.amount, status=ReturnStatus(row.status), reason_code=row.reason_code,
        reason_text=row.reason_text, booking_date=row.booking_date,
        record_index=row.record_index,
        group_status=ReturnStatus(row.group_status) if row.group_status else None)
