"""The one way a bank return file comes in: the CLI import, the bank API upload, the fetch.

Whichever door a file comes through, :func:`take_in_return_file` hands it to
:func:`reconciliation.service.import_return_file` with the bank's registered key and the
service's returns store (``<data_dir>/returns``): the signature is checked, the raw bytes are
kept, an unsigned or tampered file is quarantined, the same file twice changes nothing, and a
good file is reconciled at once. The bank's detached signature is kept beside the raw file
(``<sha256>.sig``) so an auditor can check it again later.

:func:`fetch_and_take_in` is what ``disburse outbox fetch-returns`` and the nightly scheduler
run: for every registered bank whose route has an adapter it fetches the waiting files,
takes each one in within a transaction of its own, and acknowledges it at the bank only
after that transaction committed (a crash in between means the file is fetched again and
recognised as a duplicate, never lost).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bank_adapters.banks import list_banks
from bank_adapters.models import ReturnSource
from bank_adapters.protocol import BankAdapter
from disburse.core.config import Settings
from disburse.core.errors import ConfigurationError
from disburse.core.keyring import Keyring
from disburse.core.private_files import write_atomically
from disburse.core.uow import unit_of_work
from reconciliation.service import ImportOutcome, ReturnImportReport, import_return_file

log = logging.getLogger(__name__)


def returns_store(settings: Settings) -> Path:
    """Return where raw return files are kept: ``<data_dir>/returns/<bin>/<sha256>``."""
    return settings.data_dir / "returns"


def take_in_return_file(
    session: Session, keyring: Keyring, settings: Settings, *, bank_bin: str, file_name: str,
    data: bytes, signature: bytes | None, source: ReturnSource | str, actor: str,
) -> ReturnImportReport:
    """Receive one return file from a bank: verify, keep, and reconcile it.

    Args:
        session: the entry point's transaction; only flushed here.
        keyring: opens the encrypted account columns during matching.
        settings: gives the returns store (``settings.data_dir / "returns"``).
        bank_bin: the sending bank's BIN; its registered public key verifies the file.
        file_name: the name the file came under (format detection, messages).
        data: the file's exact bytes.
        signature: the raw detached signature, or None when none came with it.
        source: ``cli``, ``api`` or ``fetch``.
        actor: who or which job takes it in (audit trail and instruction events).

    Returns:
        The import report: applied, quarantined or duplicate, with reconciliation counts.

    Raises:
        NotFound: no bank is registered under ``bank_bin``.
    """
    store = returns_store(settings)
    report = import_return_file(session, keyring, data=data, file_name=file_name,
                                bank_bin=bank_bin, signature=signature, source=source,
                                actor=actor, store_dir=store)
    if signature and report.outcome is not ImportOutcome.DUPLICATE:
        # Kept for a later re-check; the verdict itself is already recorded in the row.
        write_atomically(store / bank_bin / f"{report.sha256}.sig", signature)
    return report


@dataclass(frozen=True)
class FetchedFile:
    """One file fetched from a bank and what became of it."""

    bank_bin: str
    name: str
    outcome: str  # applied | quarantined | duplicate | failed
    records: int = 0
    events: int = 0
    exceptions: int = 0
    error: str | None = None


@dataclass
class FetchReport:
    """What one fetch over all banks did.

    Attributes:
        files: every file fetched, in the order taken in.
        failed_banks: BIN -> why its files could not be fetched (the others still were).
        skipped_banks: BIN -> why the bank has no adapter here (e.g. a route not configured).
    """

    files: list[FetchedFile] = field(default_factory=list)
    failed_banks: dict[str, str] = field(default_factory=dict)
    skipped_banks: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when a bank could not be fetched from or a file could not be taken in."""
        return bool(self.failed_banks) or any(f.outcome == "failed" for f in self.files)

    def counts(self) -> dict[str, int]:
        """Return counts per outcome plus records, state changes and new exceptions."""
        by_outcome = Counter(f.outcome for f in self.files)
        return {"files": len(self.files),
                **{o: by_outcome.get(o, 0)
                   for o in (*(i.value for i in ImportOutcome), "failed")},
                "records": sum(f.records for f in self.files),
                "state_changes": sum(f.events for f in self.files),
                "new_exceptions": sum(f.exceptions for f in self.files),
                "failed_banks": len(self.failed_banks)}

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {"counts": self.counts(), "files": [vars(f) for f in self.files],
                "failed_banks": self.failed_banks, "skipped_banks": self.skipped_banks}


def _fetched(bank_bin: str, name: str, report: ReturnImportReport) -> FetchedFile:
    r = report.reconciliation
    return FetchedFile(bank_bin, name, report.outcome.value, r.records, r.events, r.exceptions)


def fetch_and_take_in(
    session_factory: sessionmaker[Session], keyring: Keyring, settings: Settings,
    adapters: Callable[[str], BankAdapter], *, actor: str,
) -> FetchReport:
    """Fetch the return files of every registered bank and take each one in.

    Each file is taken in within its own transaction and acknowledged at the bank only once
    that transaction has committed. A bank that cannot be reached is recorded in
    ``failed_banks`` and the other banks are still fetched; a file that fails to be taken in
    is left unacknowledged (fetched again next time) and the bank's other files go on.

    Args:
        session_factory: opens the short transactions.
        keyring: for matching on encrypted accounts.
        settings: the returns store.
        adapters: route name -> adapter (an ``AdapterRegistry``).
        actor: who the audit trail names.

    Returns:
        What was fetched and what became of it.
    """
    with unit_of_work(session_factory) as session:
        registered = [(bank.bin, bank.route) for bank in list_banks(session)]
    report = FetchReport()
    for bank_bin, route in registered:
        try:
            adapter = adapters(route)
        except ConfigurationError as error:
            report.skipped_banks[bank_bin] = str(error)
            continue
        try:
            waiting = adapter.fetch_returns()
        except Exception as error:  # one bank down must not stop the others
            log.warning("fetching returns from %s failed: %s", bank_bin, error)
            report.failed_banks[bank_bin] = f"{type(error).__name__}: {error}"
            continue
        for found in waiting:
            report.files.append(_take_in_fetched(session_factory, keyring, settings, adapter,
                                                 bank_bin, found.name, found.data,
                                                 found.signature, actor))
    return report


def _take_in_fetched(session_factory: sessionmaker[Session], keyring: Keyring,
                     settings: Settings, adapter: BankAdapter, bank_bin: str, name: str,
                     data: bytes, signature: bytes | None, actor: str) -> FetchedFile:
    try:
        with unit_of_work(session_factory) as session:
            taken = take_in_return_file(session, keyring, settings, bank_bin=bank_bin,
                                        file_name=name, data=data, signature=signature,
                                        source=ReturnSource.FETCH, actor=actor)
    except Exception as error:  # rolled back and not acknowledged: fetched again next run
        log.exception("taking in %s from %s failed", name, bank_bin)
        return FetchedFile(bank_bin, name, "failed", error=f"{type(error).__name__}: {error}")
    try:
        adapter.ack_return(name)  # only after the commit above
    except Exception as error:  # stored already: the next fetch sees a duplicate
        log.warning("acknowledging %s at %s failed: %s", name, bank_bin, error)
    return _fetched(bank_bin, name, taken)


__all__ = [
    "FetchReport",
    "FetchedFile",
    "fetch_and_take_in",
    "returns_store",
    "take_in_return_file",
]
