"""Database plumbing: declarative base, column types, engines and sessions.

The same models and migrations serve SQLite (the embedded default) and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Connection,
    DateTime,
    Dialect,
    Engine,
    MetaData,
    create_engine,
    event,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from disburse.core.errors import ConcurrentChange, ConfigurationError

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every table of the service."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always aware UTC in Python, whatever the backend stores.

    Naive datetimes are refused on the way in: they hide which clock they came from.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite drops the offset; we only ever stored UTC.
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: Money column type: whole dong.
Money = BigInteger


def positive_money(column: str) -> CheckConstraint:
    """Return a CHECK constraint that ``column`` holds a positive whole number of dong."""
    return CheckConstraint(f"{column} > 0", name=f"{column}_positive")


#: How long a SQLite connection waits for another writer before giving up, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Execution option that marks an engine (and the sessions bound to it) as a writer: on SQLite
#: its transactions begin with ``BEGIN IMMEDIATE`` (see :func:`writer_engine`).
WRITER_OPTION = "disburse_writer"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so that
    # SAVEPOINT works (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # The busy timeout comes first: switching to WAL itself needs a lock that a concurrent
    # process may hold at that moment.
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 256 MiB page cache at most (the default is 2 MiB): bulk imports touch large indexes of
    # random keys; the cache only grows as pages are used
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A writer takes the write lock at BEGIN, waiting up to the busy timeout for it. A
    # deferred transaction that reads first and writes later cannot wait: in WAL mode, once
    # another writer has committed since its first read, SQLite refuses the upgrade at once
    # ("database is locked"), whatever the busy timeout says.
    writer = connection.get_execution_options().get(WRITER_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the per-backend settings the service relies on.

    SQLite gets foreign keys, WAL and a busy timeout; the parent directory of the file is
    created so the embedded default works on a fresh checkout.
    """
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _ensure_sqlite_dir(url: str) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory bound to ``engine`` (objects survive commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def writer_engine(engine: Engine) -> Engine:
    """Return ``engine`` marked as a writer: its transactions take the write lock up front.

    On SQLite a writer's transaction begins with ``BEGIN IMMEDIATE``, so it queues behind a
    concurrent writer (for up to the busy timeout) *before* its first read, and everything it
    reads (the credentials, the state it checks) is what it then changes. On PostgreSQL
    nothing changes: row locks (``with_for_update``) and constraints order the writers there.
    The returned engine shares ``engine``'s pool and events.
    """
    if engine.get_execution_options().get(WRITER_OPTION):
        return engine
    return engine.execution_options(**{WRITER_OPTION: True})


def open_session(factory: sessionmaker[Session], *, write: bool = False) -> Session:
    """Open a session from ``factory``; with ``write`` its transaction is a writer's.

    Args:
        factory: a factory from :func:`make_session_factory` (bound to an engine), or one
            bound to a connection whose transaction is already begun.
        write: the entry point is going to change data: take the write lock at the start of
            the transaction (see :func:`writer_engine`).
    """
    bind = factory.kw.get("bind")
    # A factory bound to a connection joins a transaction its owner began (tests run in
    # savepoints of one connection): the owner decided how that transaction locks.
    if not write or isinstance(bind, Connection):
        return factory()
    if not isinstance(bind, Engine):
        raise TypeError("a writing session needs a factory bound to an engine or a connection")
    return factory(bind=writer_engine(bind))


#: Database failures that mean "another transaction got there first": SQLite's lock wait ran
#: out, PostgreSQL aborted one of two clashing transactions (serialization failure, deadlock,
#: lock wait), or a concurrent insert committed the same unique key first.
_CONTENTION_SQLSTATES = frozenset({"40001", "40P01", "55P03", "23505"})
_CONTENTION_MESSAGES = ("database is locked", "database is busy", "database table is locked",
                        "unique constraint failed")


def is_contention(error: BaseException) -> bool:
    """Return True when ``error`` is a database failure caused by a concurrent transaction.

    Such a failure is not a bug in the request: the same request, retried, meets the state
    the other transaction left (and then gets its proper business answer).
    """
    if not isinstance(error, (OperationalError, IntegrityError)):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    if sqlstate is not None:
        return sqlstate in _CONTENTION_SQLSTATES
    message = str(error.orig).lower()
    return any(text in message for text in _CONTENTION_MESSAGES)


def contention_conflict(error: BaseException) -> ConcurrentChange | None:
    """Return the 409 answer for a concurrency failure, or None for any other error."""
    if not is_contention(error):
        return None
    return ConcurrentChange("another change to the same data was being saved at the same "
                            "moment; nothing was changed by this request: try again")


#: A table or column the models expect is missing: the database was never migrated, or was
#: migrated by an older release (PostgreSQL undefined_table / undefined_column; SQLite's text).
_SCHEMA_SQLSTATES = frozenset({"42P01", "42703"})
_SCHEMA_MESSAGES = ("no such table", "no such column")


def missing_schema(error: BaseException) -> ConfigurationError | None:
    """Return a one-line hint when ``error`` means the schema is missing or out of date.

    A command run before ``disburse db upgrade`` then tells the user what to run instead of
    reporting an internal error.
    """
    if not isinstance(error, (OperationalError, ProgrammingError)):
        return None
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    message = str(error.orig).lower()
    if sqlstate not in _SCHEMA_SQLSTATES and not any(t in message for t in _SCHEMA_MESSAGES):
        return None
    return ConfigurationError("the database has no tables yet, or an older schema: run "
                              "`disburse db upgrade`")
