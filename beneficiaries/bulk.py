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
    "channel", "bank_bin", "account_enc", "account_idx", "account_holder", "phone_enc", "status",
    "status_reason", "review_flags", "source_import_id", "source_row", "last_seen_import_id",
    "created_at", "updated_at", "version",
)


_DATE_OF_BIRTH = INSERT_COLUMNS.index("date_of_birth")
_REVIEW_FLAGS = INSERT_COLUMNS.index("review_flags")
_CREATED_AT = INSERT_COLUMNS.index("created_at")
_UPDATED_AT = INSERT_COLUMNS.index("updated_at")
assert (_DATE_OF_BIRTH, _REVIEW_FLAGS, _CREATED_AT, _UPDATED_AT) == (4, 19, 23, 24)


def insert_beneficiaries(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert new beneficiaries, given as tuples in ``INSERT_COLUMNS`` order.

    COPY on PostgreSQL, one driver-level executemany on SQLite, a Core insert elsewhere.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _copy_rows(session, rows)
    elif connection.dialect.name == "sqlite":
        _sqlite_executemany(session, rows)
    else:
        connection.execute(insert(BENEFICIARIES),
                           [dict(zip(INSERT_COLUMNS, row, strict=True)) for row in rows])


def _sqlite_executemany(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """One driver-level executemany of plain tuples: no per-row SQLAlchemy processing.

    Values are written in the same text forms SQLAlchemy's SQLite types use: ISO dates and
    naive-UTC datetimes; the JSON flag list as JSON text.
    """
    placeholders = ", ".join("?" for _ in INSERT_COLUMNS)
    sql = f"INSERT INTO beneficiaries ({', '.join(INSERT_COLUMNS)}) VALUES ({placeholders})"
    stamps: dict[datetime, str] = {}  # a chunk shares one or two timestamps

    def stamp(moment: datetime) -> str:
        text = stamps.get(moment)
        if text is None:
            text = stamps[moment] = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return text

    dumps, iso = json.dumps, date.isoformat
    session.connection().exec_driver_sql(sql, [
        (*row[:4], iso(row[4]), *row[5:19], dumps(row[19]) if row[19] else "[]",
         row[20], row[21], row[22], stamp(row[23]), stamp(row[24]), row[25])
        for row in rows])


def _copy_rows(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    driver = session.connection().connection.driver_connection
    columns = ", ".join(INSERT_COLUMNS)
    dumps = json.dumps
    with driver.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
        f"COPY beneficiaries ({columns}) FROM STDIN"
    ) as copy:
        write_row = copy.write_row
        for row in rows:
            write_row((*row[:19], dumps(row[19]), *row[20:]))


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
