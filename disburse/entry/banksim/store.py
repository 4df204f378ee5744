"""The simulated bank's own state in SQLite: received files, decisions, return files, acks.

One connection shared by the server's threads behind a re-entrant lock: the simulator is a
test double, and serialising its writes is what makes "the same MsgId is processed once"
hold under concurrent retries. The app takes ``lock`` around a whole submission so the
look-up of a MsgId and the recording of its outcome cannot interleave with another request.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS submissions (
    msg_id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    received_at TEXT NOT NULL,
    bank_reference TEXT NOT NULL,
    debtor_account TEXT NOT NULL,
    transactions INTEGER NOT NULL,
    receipt TEXT NOT NULL,
    content BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS rejections (
    msg_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    reason TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (msg_id, sha256)
);
CREATE TABLE IF NOT EXISTS transactions (
    msg_id TEXT NOT NULL REFERENCES submissions (msg_id),
    idx INTEGER NOT NULL,
    payment_info_id TEXT NOT NULL,
    end_to_end_id TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    creditor_name TEXT NOT NULL,
    account TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    bank_reference TEXT NOT NULL,
    returned_reason TEXT,
    PRIMARY KEY (msg_id, idx)
);
CREATE INDEX IF NOT EXISTS transactions_e2e ON transactions (end_to_end_id);
CREATE TABLE IF NOT EXISTS return_files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    available_at REAL NOT NULL,
    content BLOB NOT NULL,
    signature BLOB NOT NULL,
    acked_at TEXT
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Submission:
    """An accepted payment file."""

    msg_id: str
    sha256: str
    received_at: str
    bank_reference: str
    debtor_account: str
    transactions: int
    receipt: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused submission (FF01 or DUPL) and the response it was given."""

    msg_id: str
    sha256: str
    reason: str
    http_status: int
    body: str
    received_at: str


@dataclass(frozen=True, slots=True)
class StoredTransaction:
    """One decided transaction of an accepted file."""

    msg_id: str
    idx: int
    payment_info_id: str
    end_to_end_id: str
    amount: int
    creditor_name: str
    account: str
    outcome: str
    reason: str | None
    bank_reference: str
    returned_reason: str | None


@dataclass(frozen=True, slots=True)
class ReturnFileRow:
    """A return file waiting for (or already past) pickup."""

    seq: int
    name: str
    kind: str
    sha256: str
    created_at: str
    available_at: float
    acked_at: str | None


class BankStore:
    """The simulator's SQLite database (see the module docstring for the locking)."""

    def __init__(self, path: Path) -> None:
        """Open (and create if needed) the database at ``path``."""
        self.lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction under the lock; roll back on any error."""
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- submissions ------------------------------------------------------------------------

    def submission(self, msg_id: str) -> Submission | None:
        """Return the accepted file with this MsgId, if any."""
        with self.lock:
            row = self._db.execute(
                "SELECT msg_id, sha256, received_at, bank_reference, debtor_account, "
                "transactions, receipt FROM submissions WHERE msg_id = ?", (msg_id,)).fetchone()
        return Submission(*row) if row else None

    def rejection(self, msg_id: str, sha256: str | None = None) -> Rejection | None:
        """Return the rejection of these bytes under ``msg_id`` (the latest of any bytes)."""
        query = ("SELECT msg_id, sha256, reason, http_status, body, received_at FROM rejections "
                 "WHERE msg_id = ?")
        params: tuple[str, ...] = (msg_id,)
        if sha256 is not None:
            query, params = query + " AND sha256 = ?", (msg_id, sha256)
        with self.lock:
            row = self._db.execute(query + " ORDER BY rowid DESC LIMIT 1", params).fetchone()
        return Rejection(*row) if row else None

    def record_rejection(self, db: sqlite3.Connection, rejection: Rejection) -> None:
        """Record a refused submission inside an open ``transaction``."""
        db.execute("INSERT INTO rejections VALUES (?, ?, ?, ?, ?, ?)",
                   (rejection.msg_id, rejection.sha256, rejection.reason, rejection.http_status,
                    rejection.body, rejection.received_at))

    def record_submission(
        self, db: sqlite3.Connection, submission: Submission, content: bytes,
        transactions: list[StoredTransaction],
    ) -> None:
        """Record an accepted file and its decided transactions inside a ``transaction``."""
        db.execute("INSERT INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (submission.msg_id, submission.sha256, submission.received_at,
                    submission.bank_reference, submission.debtor_account,
                    submission.transactions, submission.receipt, content))
        db.executemany(
            "INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(t.msg_id, t.idx, t.payment_info_id, t.end_to_end_id, t.amount, t.creditor_name,
              t.account, t.outcome, t.reason, t.bank_reference, t.returned_reason)
             for t in transactions])

    def transactions(self, msg_id: str) -> list[StoredTransaction]:
        """Return the decided transactions of an accepted file, in file order."""
        with self.lock:
            rows = self._db.execute("SELECT * FROM transactions WHERE msg_id = ? ORDER BY idx",
                                    (msg_id,)).fetchall()
        return [StoredTransaction(*row) for row in rows]

    def transaction_by_end_to_end_id(self, end_to_end_id: str) -> StoredTransaction | None:
        """Return the latest accepted-file transaction with this EndToEndId."""
        with self.lock:
            row = self._db.execute(
                "SELECT t.* FROM transactions t JOIN submissions s USING (msg_id) "
                "WHERE t.end_to_end_id = ? ORDER BY s.rowid DESC, t.idx LIMIT 1",
                (end_to_end_id,)).fetchone()
        return StoredTransaction(*row) if row else None

    def mark_returned(self, db: sqlite3.Connection, msg_id: str, idx: int, reason: str) -> None:
        """Record that a settled payment came back, inside a ``transaction``."""
        db.execute("UPDATE transactions SET returned_reason = ? WHERE msg_id = ? AND idx = ?",
                   (reason, msg_id, idx))

    # --- return files -----------------------------------------------------------------------

    def next_return_seq(self, db: sqlite3.Connection) -> int:
        """Return the sequence number the next return file will get (inside a transaction)."""
        row = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM return_files").fetchone()
        return int(row[0])

    def add_return_file(
        self, db: sqlite3.Connection, row: ReturnFileRow, content: bytes, signature: bytes
    ) -> None:
        """Store a signed return file inside a ``transaction``."""
        db.execute(
            "INSERT INTO return_files (seq, name, kind, sha256, created_at, available_at, "
            "content, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (row.seq, row.name, row.kind, row.sha256, row.created_at, row.available_at,
             content, signature))

    def pending_returns(self, now: float) -> list[ReturnFileRow]:
        """Return the files available at ``now`` and not yet acknowledged, oldest first."""
        with self.lock:
            rows = self._db.execute(
                "SELECT seq, name, kind, sha256, created_at, available_at, acked_at "
                "FROM return_files WHERE acked_at IS NULL AND available_at <= ? ORDER BY seq",
                (now,)).fetchall()
        return [ReturnFileRow(*row) for row in rows]

    def return_file(self, name: str) -> tuple[ReturnFileRow, bytes, bytes] | None:
        """Return a file's row, bytes and signature, or ``None`` when there is no such file."""
        with self.lock:
            row = self._db.execute(
                "SELECT seq, name, kind, sha256, created_at, available_at, acked_at, content, "
                "signature FROM return_files WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return ReturnFileRow(*row[:7]), bytes(row[7]), bytes(row[8])

    def acknowledge(self, name: str, at: str) -> str | None:
        """Mark a file picked up (once); return when it was acknowledged, or ``None``."""
        with self.transaction() as db:
            db.execute("UPDATE return_files SET acked_at = ? WHERE name = ? AND acked_at IS NULL",
                       (at, name))
            row = db.execute("SELECT acked_at FROM return_files WHERE name = ?",
                             (name,)).fetchone()
        return str(row[0]) if row else None

    # --- counters ---------------------------------------------------------------------------

    def bump(self, name: str, by: int = 1) -> None:
        """Add ``by`` to a counter."""
        with self.lock:
            self._db.execute(
                "INSERT INTO counters VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value", (name, by))

    def counters(self) -> dict[str, int]:
        """Return every counter by name."""
        with self.lock:
            rows = self._db.execute("SELECT name, value FROM counters").fetchall()
        return {str(name): int(value) for name, value in rows}
