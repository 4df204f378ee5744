"""Core bulk writes of the apply steps: chunked driver-level executemany, IN lists in chunks.

The bulk paths bypass the ORM (no per-row unit-of-work bookkeeping): the tables are used as
Core ``Table`` objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Date,
    DateTime,
    Table,
    TypeDecorator,
)
from sqlalchemy.orm import Session

from disburse.payments.models import Instruction
from reconciliation.models import (
    InstructionEvent,
    ReconciliationException,
    ReturnRecordRow,
)

#: Rows per statement of a chunked bulk write or an IN list.
CHUNK = 5000
# Core tables: bulk paths bypass the ORM (no per-row unit-of-work bookkeeping).
RECORDS: Table = ReturnRecordRow.__table__  # type: ignore[assignment]
INSTRUCTIONS: Table = Instruction.__table__  # type: ignore[assignment]
EVENTS: Table = InstructionEvent.__table__  # type: ignore[assignment]
EXCEPTIONS: Table = ReconciliationException.__table__  # type: ignore[assignment]
_T = TypeVar("_T")


def executemany(session: Session, table: Table, columns: Sequence[str],
                 rows: Iterable[Sequence[Any]], *, key: Sequence[str] = ()) -> None:
    """One driver-level executemany of plain tuples, chunked: INSERT, or UPDATE by ``key``.

    SQLAlchemy's per-row parameter processing of an executemany cost more than the
    database itself (about a fifth of a 100k import). Values are given in the driver's
    terms; on SQLite dates and timestamps are written in the text forms SQLAlchemy's
    SQLite types use (ISO date; naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff``).

    Args:
        session: The session whose connection (and transaction) to use.
        table: The table written.
        columns: The columns set, in the order of each row's values.
        rows: One sequence of values per row; for an UPDATE the ``key`` values follow.
        key: The columns an UPDATE matches on; empty for an INSERT.
    """
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    if key:
        sql = (f"UPDATE {table.name} SET {', '.join(f'{c} = {mark}' for c in columns)} "
               f"WHERE {' AND '.join(f'{c} = {mark}' for c in key)}")
    else:
        sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
               f"VALUES ({', '.join(mark for _ in columns)})")
    temporal = _temporal_positions(table, columns) if sqlite else []
    batch: list[Sequence[Any]] = []
    for row in rows:
        if temporal:
            values = list(row)
            for position in temporal:
                values[position] = _sqlite_value(values[position])
            row = tuple(values)
        batch.append(tuple(row))  # the driver-level call wants tuples, not lists
        if len(batch) >= CHUNK:
            connection.exec_driver_sql(sql, batch)
            batch = []
    if batch:
        connection.exec_driver_sql(sql, batch)


def _temporal_positions(table: Table, columns: Sequence[str]) -> list[int]:
    """Positions of the date and timestamp columns (the only values SQLite needs as text)."""
    found = []
    for position, name in enumerate(columns):
        column_type = table.c[name].type
        if isinstance(column_type, TypeDecorator):
            column_type = column_type.impl_instance
        if isinstance(column_type, Date | DateTime):
            found.append(position)
    return found


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]
