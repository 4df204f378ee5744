"""The unit of work: one transaction per entry point (request, CLI command, scheduler job).

Services receive the session and only ``flush()``; the entry point commits on success and rolls
back on any error. An entry point that changes data says so (``write=True``): on SQLite its
transaction then takes the write lock before its first read, so two writers queue instead of
one failing with "database is locked" half way through (see ``disburse.core.db.writer_engine``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from disburse.core.db import open_session


@contextmanager
def unit_of_work(factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
    """Yield a session; commit when the block ends normally, roll back on any exception.

    Args:
        factory: the session factory of the entry point.
        write: the block changes data: take the write lock at the start of the transaction
            (SQLite ``BEGIN IMMEDIATE``; no change on PostgreSQL, where row locks order
            writers).
    """
    session = open_session(factory, write=write)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
