"""Bulk writes for the registry: COPY on PostgreSQL, executemany elsewhere; never ORM per row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, literal, select, update
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary, BeneficiaryHistory

BENEFICIARIES: Table = Beneficiary.__table__  # type: ignore[assignment]
HISTORY: Table = BeneficiaryHistory.__table__  # type: ignore[assignment]

INSERT_COLUMNS: tuple[str, ...] = (
    "programme", "citizen_id_enc", "citizen_id_idx", "full_name", "date_of_birth", "gender",
    "province_code", "commune_code", "locality_version", "monthly_amount", "coefficient_x100",
    "channel", "bank_bin", "account_enc", "account_idx", "account_holder", "phone", "status",
    "status_reason", "review_flags", "source_import_id", "source_row", "last_seen_import_id",
    "created_at", "updated_at", "version",
)


def insert_beneficiaries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new beneficiaries: COPY on PostgreSQL, one executemany elsewhere."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _copy_rows(session, rows)
    elif connection.dialect.name == "sqlite":
        _sqlite_executemany(session, rows)
    else:
        connection.execute(insert(BENEFICIARIES), list(rows))


def _sqlite_text(value: Any) -> Any:
    # the same text forms SQLAlchemy's SQLite types write (dates ISO, datetimes naive UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(value)


_SQLITE_CONVERTED = frozenset({"date_of_birth", "created_at", "updated_at", "review_flags"})


def _sqlite_executemany(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """One driver-level executemany of plain tuples: no per-row SQLAlchemy processing."""
    placeholders = ", ".join("?" for _ in INSERT_COLUMNS)
    sql = f"INSERT INTO beneficiaries ({', '.join(INSERT_COLUMNS)}) VALUES ({placeholders})"
    cache: dict[tuple[str, Any], Any] = {}  # timestamps and empty flag lists repeat

    def text(column: str, value: Any) -> Any:
        key = (column, value if not isinstance(value, list) else tuple(value))
        if key not in cache:
            cache[key] = _sqlite_text(value)
        return cache[key]

    plain = [c not in _SQLITE_CONVERTED for c in INSERT_COLUMNS]
    session.connection().exec_driver_sql(sql, [
        tuple(row[c] if keep else text(c, row[c]) for c, keep in zip(INSERT_COLUMNS, plain,
                                                                     strict=True))
        for row in rows])


def _copy_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    driver = session.connection().connection.driver_connection
    columns = ", ".join(INSERT_COLUMNS)
    with driver.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
        f"COPY beneficiaries ({columns}) FROM STDIN"
    ) as copy:
        for row in rows:
            values = [row[c] for c in INSERT_COLUMNS]
            values[INSERT_COLUMNS.index("review_flags")] = json.dumps(row["review_flags"])
            copy.write_row(values)


def update_beneficiaries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Apply changed fields by id (rows share one key set), bumping the version."""
    if not rows:
        return
    keys = [k for k in rows[0] if k not in {"_id", "_version"}]
    statement = (
        update(BENEFICIARIES)
        .where(BENEFICIARIES.c.id == bindparam("_id"))
        .values({k: bindparam(k) for k in keys} | {"version": bindparam("_version")})
    )
    session.connection().execute(statement, list(rows))


def mark_seen(session: Session, ids: Sequence[int], import_id: int) -> None:
    """Record that these beneficiaries were present (unchanged) in import ``import_id``."""
    if not ids:
        return
    statement = (update(BENEFICIARIES).where(BENEFICIARIES.c.id == bindparam("_id"))
                 .values(last_seen_import_id=import_id))
    session.connection().execute(statement, [{"_id": i} for i in ids])


def insert_history(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Append history rows."""
    if rows:
        session.connection().execute(insert(HISTORY), list(rows))


def history_for_added(session: Session, import_id: int, actor: str) -> None:
    """Write one 'added' history row per beneficiary this import created, in one statement."""
    b = BENEFICIARIES.c
    source = select(
        b.id, literal(1), literal("added"), literal({}, HISTORY.c.changed.type),
        literal(actor), literal(import_id), b.created_at,
    ).where(b.source_import_id == import_id, b.version == 1)
    session.connection().execute(
        insert(HISTORY).from_select(
            ["beneficiary_id", "version", "change", "changed", "actor", "import_id", "at"],
            source,
        )
    )
