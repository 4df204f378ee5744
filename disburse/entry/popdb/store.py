"""The reference population registry's own SQLite database: bulk CSV load and read-only lookups.

The load validates every row and either loads the whole file or nothing: it writes into a
side file and renames it over the target only when every row was good, so a bad file never
leaves a half-loaded registry behind. Errors are returned as data naming file, row, field and
reason.
"""

from __future__ import annotations

import csv
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

from disburse.core.private_files import replace_durably

#: The CSV header the registry extract must have (extra columns are ignored).
CSV_COLUMNS: Final[tuple[str, ...]] = (
    "citizen_id",
    "full_name",
    "date_of_birth",
    "gender",
    "province_code",
    "commune_code",
    "status",
    "date_of_death",
)

#: Rows per executemany call: big enough to amortise the call, small enough to stay in cache.
LOAD_CHUNK: Final = 10_000
#: SQLite's historical limit on bound parameters is 999; stay under it whatever the build.
_IN_CHUNK: Final = 900

_GENDERS: Final = ("male", "female")
_STATUSES: Final = ("alive", "deceased")

_SCHEMA: Final = """
CREATE TABLE citizens (
    citizen_id    TEXT PRIMARY KEY NOT NULL,
    full_name     TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    gender        TEXT NOT NULL,
    province_code TEXT NOT NULL,
    commune_code  TEXT NOT NULL,
    status        TEXT NOT NULL,
    date_of_death TEXT
)
"""
# ON CONFLICT DO NOTHING lets a chunk with a duplicate finish; the short rowcount reveals it.
_INSERT: Final = (
    "INSERT INTO citizens VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (citizen_id) DO NOTHING"
)
_SELECT: Final = (
    "SELECT citizen_id, full_name, date_of_birth, gender, province_code, commune_code, "
    "status, date_of_death FROM citizens WHERE citizen_id IN ({marks})"
)

#: One stored person, in column order (all text; date_of_death may be None).
CitizenRow = tuple[str, str, str, str, str, str, str, str | None]


@dataclass(frozen=True, slots=True)
class LoadError:
    """One reason the CSV was rejected.

    Attributes:
        file: the CSV file name as given.
        row: 1-based row number as a spreadsheet shows it (the header is row 1).
        field: the offending column, or "" when the problem is the whole row or file.
        reason: what is wrong, in words.
    """

    file: str
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}, row {self.row}"
        if self.field:
            where += f", field {self.field}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a load did: the number of records loaded, or the errors that rejected the file."""

    records: int
    errors: tuple[LoadError, ...]

    @property
    def ok(self) -> bool:
        """True when the file was loaded (no errors)."""
        return not self.errors


def _check_iso_date(value: str) -> str | None:
    """Return an error message for a value that is not an ISO yyyy-mm-dd date, else None."""
    # fromisoformat alone would also take week dates such as 2020-W01-1.
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        return f"{value!r} is not a date in yyyy-mm-dd form"
    try:
        date.fromisoformat(value)
    except ValueError:
        return f"{value!r} is not a valid yyyy-mm-dd date"
    return None


def _check_citizen_id(value: str) -> str | None:
    if len(value) == 12 and value.isascii() and value.isdigit():
        return None
    return f"{value!r} is not a 12-digit citizen ID"


def _check_required(value: str) -> str | None:
    return None if value else "is empty"


def _check_choice(allowed: tuple[str, ...]) -> Callable[[str], str | None]:
    choices = "|".join(allowed)

    def check(value: str) -> str | None:
        return None if value in allowed else f"{value!r} is not one of {choices}"

    return check


#: Field -> check; each returns an error message or None.
_FIELD_CHECKS: Final[dict[str, Callable[[str], str | None]]] = {
    "citizen_id": _check_citizen_id,
    "full_name": _check_required,
    "date_of_birth": _check_iso_date,
    "gender": _check_choice(_GENDERS),
    "province_code": _check_required,
    "commune_code": _check_required,
    "status": _check_choice(_STATUSES),
}


def validate_row(values: Sequence[str]) -> list[tuple[str, str]]:
    """Check one data row (in ``CSV_COLUMNS`` order) and return (field, reason) pairs.

    Args:
        values: the eight cell values, already stripped.

    Returns:
        An empty list for a good row, else one (field, reason) pair per problem.
    """
    problems = [
        (field, message)
        for field, value in zip(CSV_COLUMNS, values, strict=False)
        if (check := _FIELD_CHECKS.get(field)) is not None and (message := check(value))
    ]
    problems.extend(_check_death(values))
    return problems


def _check_death(values: Sequence[str]) -> list[tuple[str, str]]:
    """Check that a date of death is given exactly for the deceased, and not before birth."""
    status, death, birth = values[6], values[7], values[2]
    if status == "alive" and death:
        return [("date_of_death", "must be empty when status is alive")]
    if status != "deceased":
        return []
    if not death:
        return [("date_of_death", "is required when status is deceased")]
    if (message := _check_iso_date(death)) is not None:
        return [("date_of_death", message)]
    if _check_iso_date(birth) is None and death < birth:
        return [("date_of_death", f"{death} is before the date of birth {birth}")]
    return []


class FastRowCheck:
    """The same rules as ``validate_row`` as one boolean, fast enough for a million rows.

    Valid date strings are remembered: a registry has a few tens of thousands of distinct
    dates, so most rows skip parsing. A row that fails here is re-checked by ``validate_row``
    for the messages.
    """

    def __init__(self) -> None:
        self._dates: set[str] = set()

    def _date_ok(self, value: str) -> bool:
        if value in self._dates:
            return True
        if _check_iso_date(value) is not None:
            return False
        self._dates.add(value)
        return True

    def row_ok(self, values: Sequence[str]) -> bool:
        """Return True when ``validate_row(values)`` would find nothing."""
        cid, name, birth, gender, province, commune, status, death = values
        if not (len(cid) == 12 and cid.isascii() and cid.isdigit() and name and province
                and commune and gender in _GENDERS and self._date_ok(birth)):
            return False
        if status == "alive":
            return not death
        return status == "deceased" and self._date_ok(death) and death >= birth


def _header_errors(file: str, header: Sequence[str] | None) -> list[LoadError]:
    if header is None:
        return [LoadError(file, 1, "", "the file is empty (no header row)")]
    missing = [name for name in CSV_COLUMNS if name not in header]
    return [LoadError(file, 1, name, "required column is missing") for name in missing]


def _records(
    file: str, reader: Iterator[list[str]], positions: list[int], errors: list[LoadError]
) -> Iterator[tuple[int, CitizenRow]]:
    """Yield (row number, stored row) for good rows; append problems of bad rows to errors."""
    width = max(positions) + 1
    dates = FastRowCheck()
    row_number = 1
    while True:
        row_number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (UnicodeDecodeError, csv.Error) as exc:
            errors.append(LoadError(file, row_number, "", f"cannot be read: {_read_reason(exc)}"))
            return
        if not cells:
            continue  # a blank line is not a record
        if len(cells) < width:
            errors.append(LoadError(file, row_number, "", f"has {len(cells)} fields, too few"))
            continue
        values = [cells[i].strip() for i in positions]
        if not dates.row_ok(values):
            # The two checks agree (a property test holds them to it); never drop silently.
            problems = validate_row(values) or [("", "rejected by the row check")]
            errors.extend(LoadError(file, row_number, f, r) for f, r in problems)
            continue
        name = unicodedata.normalize("NFC", values[1])
        record: CitizenRow = (
            values[0], name, values[2], values[3], values[4], values[5], values[6],
            values[7] or None,
        )
        yield row_number, record


def _read_reason(exc: UnicodeDecodeError | csv.Error) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason})"
    return f"not valid CSV ({exc})"


def _duplicate_rows(
    conn: sqlite3.Connection, chunk: list[tuple[int, CitizenRow]], before_rowid: int
) -> list[tuple[int, str]]:
    """Find (row number, citizen_id) of rows in ``chunk`` whose ID was already loaded.

    Only called when a chunk inserted fewer rows than it had, so its cost does not matter.
    """
    ids = [record[0] for _, record in chunk]
    earlier: set[str] = set()
    for start in range(0, len(ids), _IN_CHUNK):
        part = ids[start : start + _IN_CHUNK]
        sql = (
            "SELECT citizen_id FROM citizens WHERE rowid <= ? AND citizen_id IN "
            f"({','.join('?' * len(part))})"
        )
        earlier.update(cid for (cid,) in conn.execute(sql, (before_rowid, *part)))
    seen: set[str] = set()
    found: list[tuple[int, str]] = []
    for row_number, cid in zip((n for n, _ in chunk), ids, strict=True):
        if cid in earlier or cid in seen:
            found.append((row_number, cid))
        seen.add(cid)
    return found


def _insert_all(
    conn: sqlite3.Connection, file: str, rows: Iterator[tuple[int, CitizenRow]],
    errors: list[LoadError], max_errors: int,
) -> int:
    """Insert good rows chunk by chunk; stop early once ``max_errors`` problems are known."""
    loaded = 0
    chunk: list[tuple[int, CitizenRow]] = []

    def flush() -> None:
        nonlocal loaded
        before = conn.execute("SELECT coalesce(max(rowid), 0) FROM citizens").fetchone()[0]
        inserted = conn.executemany(_INSERT, [record for _, record in chunk]).rowcount
        if inserted < len(chunk):
            for row_number, cid in _duplicate_rows(conn, chunk, before):
                errors.append(
                    LoadError(file, row_number, "citizen_id", f"{cid} appears more than once")
                )
        loaded += inserted
        chunk.clear()

    for item in rows:
        if errors:
            if len(errors) >= max_errors:
                break
            continue  # the load is already rejected: only keep validating
        chunk.append(item)
        if len(chunk) >= LOAD_CHUNK:
            flush()
    if chunk and not errors:
        flush()
    return loaded


def _open_for_load(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    # A fresh side file nobody else reads: durability during the load buys nothing.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    conn.execute(_SCHEMA)
    return conn


def load_population(csv_path: Path, db_path: Path, *, max_errors: int = 20) -> LoadReport:
    """Load a population CSV into a new SQLite database at ``db_path``, all rows or none.

    Args:
        csv_path: UTF-8 CSV with the ``CSV_COLUMNS`` header (a BOM is tolerated).
        db_path: the database file to create or replace.
        max_errors: stop reading after this many problems (the load is rejected anyway).

    Returns:
        A report with the number of records loaded, or the errors that rejected the file
        (in which case ``db_path`` is left as it was).
    """
    file = str(csv_path)
    side = db_path.with_name(db_path.name + ".loading")
    _remove_db_files(side)
    errors: list[LoadError] = []
    loaded = 0
    conn = _open_for_load(side)
    try:
        with csv_path.open(encoding="utf-8-sig", newline="") as handle:
            loaded = _load_stream(file, csv.reader(handle), conn, errors, max_errors)
    finally:
        _finish(conn, commit=not errors)
    if errors:
        _remove_db_files(side)
        return LoadReport(0, tuple(errors[:max_errors]))
    _remove_db_files(db_path)
    replace_durably(side, db_path)
    return LoadReport(loaded, ())


def _load_stream(
    file: str, reader: Iterator[list[str]], conn: sqlite3.Connection,
    errors: list[LoadError], max_errors: int,
) -> int:
    try:
        header = [name.strip() for name in next(reader, [])] or None
    except (UnicodeDecodeError, csv.Error) as exc:
        errors.append(LoadError(file, 1, "", f"cannot be read: {_read_reason(exc)}"))
        return 0
    errors.extend(_header_errors(file, header))
    if errors or header is None:
        return 0
    positions = [header.index(name) for name in CSV_COLUMNS]
    conn.execute("BEGIN")
    return _insert_all(conn, file, _records(file, reader, positions, errors), errors, max_errors)


def _finish(conn: sqlite3.Connection, *, commit: bool) -> None:
    """Commit (or roll back) and leave the file in rollback-journal mode for read-only users."""
    if conn.in_transaction:
        conn.execute("COMMIT" if commit else "ROLLBACK")
    # Read-only connections cannot open a WAL database without its -shm file; switch back.
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()


def _remove_db_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


class PopulationStore:
    """Read-only access to a loaded population database, one connection per thread.

    The web server runs each connection in its own thread; SQLite connections must not be
    shared across threads, so each thread opens its own read-only connection on first use.
    """

    def __init__(self, db_path: Path) -> None:
        """Open the store; fails early when ``db_path`` is not a loaded population database."""
        self._uri = f"{Path(db_path).resolve().as_uri()}?mode=ro"
        self._local = threading.local()
        self.records = int(self._conn().execute("SELECT count(*) FROM citizens").fetchone()[0])

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
            self._local.conn = conn
        return conn

    def lookup(self, citizen_ids: Sequence[str]) -> dict[str, CitizenRow]:
        """Return the stored rows for the IDs that exist, keyed by citizen ID.

        Args:
            citizen_ids: IDs to look up (unknown IDs are simply absent from the answer).
        """
        conn = self._conn()
        found: dict[str, CitizenRow] = {}
        for start in range(0, len(citizen_ids), _IN_CHUNK):
            part = citizen_ids[start : start + _IN_CHUNK]
            sql = _SELECT.format(marks=",".join("?" * len(part)))
            for row in conn.execute(sql, tuple(part)):
                found[row[0]] = row
        return found
