"""One nightly run at a time: an ``flock`` on the data directory, plus a PostgreSQL advisory lock.

The kernel releases the file lock when the process dies, so a crashed run never leaves a stale
lock; the advisory lock excludes schedulers on other hosts that share the database.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from sqlalchemy import Engine, text

from disburse.core.errors import Conflict

LOCK_FILE_NAME: Final = "scheduler.lock"
#: Key of the PostgreSQL advisory lock ("disb" in ASCII): one nightly run per database.
ADVISORY_LOCK_KEY: Final = 0x64697362
#: Exit status of a run refused because another one holds the lock (sysexits EX_TEMPFAIL).
EXIT_BUSY: Final = 75


class SchedulerBusy(Conflict):
    """Another scheduler run holds the lock."""

    code = "scheduler_busy"
    title = "Scheduler busy"
    title_vi = "Lần chạy tự động khác đang chạy"


# --- the lock ---------------------------------------------------------------------------------


@contextmanager
def scheduler_lock(data_dir: Path, engine: Engine | None = None) -> Iterator[Path]:
    """Hold the scheduler lock for the duration of the block.

    Args:
        data_dir: the service's data directory; the lock file lives there.
        engine: on PostgreSQL, an advisory lock is taken too (other hosts, same database).

    Yields:
        The lock file's path (it holds the holder's pid, for operators).

    Raises:
        SchedulerBusy: another run holds the lock; nothing was done.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE_NAME
    handle = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SchedulerBusy(f"another scheduler run holds {path}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        with _advisory_lock(engine):
            yield path
    finally:
        handle.close()  # closing the descriptor releases the flock


@contextmanager
def _advisory_lock(engine: Engine | None) -> Iterator[None]:
    if engine is None or engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                   {"key": ADVISORY_LOCK_KEY}).scalar_one()
        if not taken:
            raise SchedulerBusy("another scheduler run holds the database's advisory lock")
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                               {"key": ADVISORY_LOCK_KEY})
