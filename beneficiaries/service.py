"""Use cases of the beneficiary registry: import a list, list and show beneficiaries.

How one import's rows are written (adds, updates, history, ending absent people) is in
``beneficiaries.import_rows``.

``import_list`` is one transaction (the caller's): rows are validated and written inside a
savepoint, which is rolled back when the file is rejected as a whole. Services only flush.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from beneficiaries import bulk
from beneficiaries.import_rows import ImportRun, clean_key, end_absent, process_chunk
from beneficiaries.importers import ListFileError, ListLayout, RawRow, read_list
from beneficiaries.models import (
    Beneficiary,
    ImportOutcome,
    ListImport,
)
from beneficiaries.pipeline import SealedChunk, ValidationWorker
from beneficiaries.pipeline import available as pipeline_available
from beneficiaries.programmes import AmountRule, Programme, get_programme, rate_on
from beneficiaries.report import ImportReport
from beneficiaries.stored import import_dir, store_original, store_rejected, store_report
from beneficiaries.validation import ValidationContext, validate_chunk
from disburse.core import audit
from disburse.core.clock import utcnow
from disburse.core.errors import ValidationFailed
from disburse.core.keyring import Keyring
from disburse.core.params import fit_file_name
from disburse.core.private_files import file_sha256

#: Room for a file name in ``list_imports.file_name``.
#: A suffix longer than this is not an extension worth keeping whole.


@dataclass
class ImportOptions:
    """How to import: all-or-nothing by default."""

    accept_valid: bool = False
    end_missing: bool = False
    chunk_size: int = 20_000
    store_dir: Path | None = None
    display_name: str | None = None
    #: Validate in a forked worker process: None decides by file size (more than a chunk).
    parallel: bool | None = None


#: No list row is shorter than this many bytes, so a smaller file holds less than a chunk.
_MIN_ROW_BYTES = 64

_PRESCAN_FIELDS = frozenset({"citizen_id", "bank_bin", "account_number"})


def _prescan(layout: ListLayout, path: Path, opts: ImportOptions) -> tuple[set[str], set[str]]:
    """Find citizen IDs and accounts that occur more than once in the file."""
    ids: Counter[str] = Counter()
    accounts: Counter[str] = Counter()
    chunks = read_list(path, chunk_size=max(opts.chunk_size, 100_000),
                       display_name=opts.display_name, only=_PRESCAN_FIELDS)[1]
    clean = clean_key
    for chunk in chunks:
        ids.update([clean(raw.cells.get("citizen_id")) for raw in chunk])
        accounts.update([clean(cells.get("bank_bin")) + ":" + account
                         for cells in (raw.cells for raw in chunk)
                         if (account := clean(cells.get("account_number")))])
    return ({k for k, n in ids.items() if n > 1 and k},
            {k for k, n in accounts.items() if n > 1})


def import_list(session: Session, keyring: Keyring, path: Path, *, programme: str, actor: str,
                today: date, options: ImportOptions | None = None) -> ImportReport:
    """Import a beneficiary list for ``programme``.

    Default all-or-nothing: any row error rejects the file and nothing is written. With
    ``accept_valid`` the valid rows are written and the rest reported. The same file (same
    SHA-256 and programme) applied before changes nothing. Absent beneficiaries of the
    communes in the file are reported, and ended only with ``end_missing``.
    """
    opts = options or ImportOptions()
    prog = get_programme(programme)
    name = fit_file_name(opts.display_name or path.name, ListImport.file_name)
    sha, size = file_sha256(path)
    mode = "accept_valid" if opts.accept_valid else "all_or_nothing"
    report = ImportReport(None, prog.code, name, sha, ImportOutcome.APPLIED.value, mode)
    record = ListImport(programme=prog.code, file_name=name, file_sha256=sha, file_size=size,
                        actor=actor, at=utcnow(), accept_valid=opts.accept_valid,
                        end_missing=opts.end_missing, outcome="pending", counts={})
    session.add(record)
    session.flush()
    report.import_id = record.id
    previous = _previous_application(session, prog.code, sha, record.id)
    if previous is not None:
        report.outcome, report.previous_import_id = ImportOutcome.DUPLICATE_FILE.value, previous
        report.message = f"this file was already imported as import {previous}; nothing changed"
    else:
        _stream(session, keyring, path, prog, record, report, actor, today, opts)
    _finish(session, keyring, record, report, path, opts, actor)
    return report


def _previous_application(session: Session, programme: str, sha: str, current: int) -> int | None:
    return session.execute(
        select(ListImport.id).where(
            ListImport.programme == programme, ListImport.file_sha256 == sha,
            ListImport.outcome == ImportOutcome.APPLIED.value, ListImport.id != current)
        .order_by(ListImport.id).limit(1)
    ).scalar_one_or_none()


def _stream(session: Session, keyring: Keyring, path: Path, prog: Programme,
            record: ListImport, report: ImportReport, actor: str, today: date,
            opts: ImportOptions) -> None:
    try:
        layout, chunks = read_list(path, chunk_size=opts.chunk_size,
                                   display_name=opts.display_name)
    except ListFileError as error:
        report.outcome, report.message = ImportOutcome.REJECTED.value, error.detail
        return
    try:
        ctx: ValidationContext | None = ValidationContext(prog, today, _base_rate(session, prog,
                                                                                  today))
    except ValidationFailed:
        ctx = None  # reported after the pre-scan, as it always was
    worker = _start_worker(path, ctx, keyring, opts)
    try:
        _stream_rows(session, keyring, path, prog, record, report, actor, today, opts,
                     layout, chunks, worker)
    finally:
        if worker is not None:
            worker.close()


def _start_worker(path: Path, ctx: ValidationContext | None, keyring: Keyring,
                  opts: ImportOptions) -> ValidationWorker | None:
    """Validate in a second process when the list surely holds more than one chunk."""
    parallel = opts.parallel
    if parallel is None:  # a second core to run on, and more than one chunk to overlap
        parallel = (pipeline_available()
                    and path.stat().st_size > opts.chunk_size * _MIN_ROW_BYTES)
    if not parallel or ctx is None:
        return None
    return ValidationWorker(path, ctx, keyring, chunk_size=opts.chunk_size,
                            display_name=opts.display_name)


def _stream_rows(session: Session, keyring: Keyring, path: Path, prog: Programme,
                 record: ListImport, report: ImportReport, actor: str, today: date,
                 opts: ImportOptions, layout: ListLayout, chunks: Iterator[list[RawRow]],
                 worker: ValidationWorker | None) -> None:
    try:
        duplicate_ids, shared = _prescan(layout, path, opts)
    except ListFileError as error:
        report.outcome, report.message = ImportOutcome.REJECTED.value, error.detail
        return
    report.ignored_columns = layout.ignored
    ctx = ValidationContext(prog, today, _base_rate(session, prog, today))
    run = ImportRun(session, keyring, prog, record, report, layout, actor, duplicate_ids, shared)
    run.registry_empty = session.execute(select(Beneficiary.id).limit(1)).first() is None
    run.programme_empty = run.registry_empty or session.execute(
        select(Beneficiary.id).where(Beneficiary.programme == prog.code).limit(1)
    ).first() is None
    checked: Iterator[SealedChunk] = worker.chunks() if worker is not None else (
        (validate_chunk(ctx, chunk), {}) for chunk in chunks)
    savepoint = session.begin_nested()
    try:
        for results, sealed in checked:
            process_chunk(run, results, sealed)
    except ListFileError as error:
        savepoint.rollback()
        report.outcome, report.message = ImportOutcome.REJECTED.value, error.detail
        return
    except BaseException:
        savepoint.rollback()  # no chunk of a failed import outlives it, whatever the caller does
        raise
    if report.counts.rejected and not opts.accept_valid:
        savepoint.rollback()
        report.outcome = ImportOutcome.REJECTED.value
        report.message = (f"file rejected: {report.counts.rejected} row(s) have errors; nothing "
                          "was written (fix them, or import with --accept-valid)")
        _zero_written(report)
    else:
        end_absent(run, opts.end_missing)
        bulk.history_for_added(session, record.id, actor)
        savepoint.commit()
        report.message = _applied_message(report)
    _store_rejected(run, opts)


def _base_rate(session: Session, prog: Programme, today: date) -> int | None:
    if prog.amount_rule is AmountRule.RATE_X_COEFFICIENT and prog.rate_name:
        return rate_on(session, prog.rate_name, today).amount
    return None


def _zero_written(report: ImportReport) -> None:
    report.counts.added = report.counts.updated = report.counts.unchanged = 0


def _applied_message(report: ImportReport) -> str:
    c = report.counts
    text = (f"applied: {c.added} added, {c.updated} updated, {c.unchanged} unchanged, "
            f"{c.rejected} rejected, {c.flagged} flagged for review, {c.absent} absent")
    return text + (f", {c.ended} ended" if c.ended else "")


def _store_rejected(run: ImportRun, opts: ImportOptions) -> None:
    if opts.store_dir is None or not run.rejected_rows:
        return
    store_rejected(run.keyring, import_dir(opts.store_dir, run.record.id), run.layout.headers,
                   run.rejected_rows, run.findings_by_row)


def _finish(session: Session, keyring: Keyring, record: ListImport, report: ImportReport,
            path: Path, opts: ImportOptions, actor: str) -> None:
    record.outcome = report.outcome
    record.counts = {k: v for k, v in vars(report.counts).items()}
    if opts.store_dir is not None:  # sealed: they name everyone on the list
        target = import_dir(opts.store_dir, record.id)
        store_original(keyring, target, path)
        store_report(keyring, target, report)
        record.stored_dir = str(target)
    audit.record(session, actor=actor, action=f"beneficiaries.import.{report.outcome}",
                 object_type="list_import", object_id=record.id,
                 detail={"programme": record.programme, "file": record.file_name,
                         "sha256": record.file_sha256, "mode": report.mode,
                         "counts": record.counts})
    session.flush()
