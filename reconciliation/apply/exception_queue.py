"""The exceptions one file raises, collected and inserted once per (kind, record)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    insert,
    select,
)
from sqlalchemy.orm import Session

from disburse.core.clock import utcnow
from reconciliation.apply.bulk import EXCEPTIONS, chunks
from reconciliation.models import (
    ExceptionState,
    QueueKind,
    ReconciliationException,
)
from reconciliation.records import ReturnRecord


def where_of(record: ReturnRecord) -> dict[str, Any]:
    return {"file_sha256": record.file_sha256, "record_index": record.record_index,
            "end_to_end_id": record.end_to_end_id, "msg_id": record.msg_id,
            "status": record.status.value, "amount": record.amount,
            "reason_code": record.reason_code}


class ExceptionQueue:
    """Collects new exceptions, skipping any (kind, record) already queued."""

    def __init__(self, session: Session, return_file_id: int) -> None:
        self.session = session
        self.return_file_id = return_file_id
        self.rows: list[dict[str, Any]] = []
        self.seen: set[tuple[str, int]] = set()
        self.checked: set[int] = set()
        self.kinds: Counter[str] = Counter()
        self.added = 0

    def add(self, kind: QueueKind, record_id: int | None, candidates: Iterable[int],
            detail: dict[str, Any]) -> None:
        """Queue one exception unless the same kind is already queued for the record."""
        if record_id is not None and kind is not QueueKind.DUPLICATE_RECORD:
            self._load_known(record_id)
            if (kind.value, record_id) in self.seen:
                return
            self.seen.add((kind.value, record_id))
        self.rows.append({"kind": kind.value, "return_file_id": self.return_file_id,
                          "return_record_id": record_id, "detail": detail,
                          "candidate_ids": sorted(candidates),
                          "state": ExceptionState.OPEN.value, "created_at": utcnow()})
        self.kinds[kind.value] += 1
        self.added += 1

    def preload(self, record_ids: Iterable[int]) -> None:
        """Read the kinds already queued for these records, in a few queries."""
        wanted = sorted(set(record_ids) - self.checked)
        self.checked.update(wanted)
        for chunk in chunks(wanted):
            found = self.session.execute(
                select(ReconciliationException.kind, ReconciliationException.return_record_id)
                .where(ReconciliationException.return_record_id.in_(chunk))).tuples()
            self.seen.update((kind, rid) for kind, rid in found if rid is not None)

    def _load_known(self, record_id: int) -> None:
        if record_id not in self.checked:
            self.preload([record_id])

    def flush(self) -> None:
        """Insert the collected exceptions."""
        if self.rows:
            self.session.connection().execute(insert(EXCEPTIONS), self.rows)
            self.rows = []
