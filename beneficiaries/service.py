"""Use cases of the beneficiary registry: import a list, list and show beneficiaries.

``import_list`` is one transaction (the caller's): rows are validated and written inside a
savepoint, which is rolled back when the file is rejected as a whole. Services only flush.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, tuple_, update
from sqlalchemy.orm import Session

from beneficiaries import bulk
from beneficiaries.importers import ListFileError, ListLayout, RawRow, read_list
from beneficiaries.models import (
    LOCALITY_VERSION_2025,
    Beneficiary,
    BeneficiaryStatus,
    ImportOutcome,
    ListImport,
)
from beneficiaries.pipeline import SealedChunk, ValidationWorker
from beneficiaries.pipeline import available as pipeline_available
from beneficiaries.programmes import AmountRule, Programme, get_programme, rate_on
from beneficiaries.report import ImportReport, RowFinding
from beneficiaries.rules import RuleError, Severity
from beneficiaries.sealing import Sealed, account_index, seal_phone
from beneficiaries.stored import import_dir, store_original, store_rejected, store_report
from beneficiaries.validation import Checked, ValidationContext, ValidRow, validate_chunk
from disburse.core import audit
from disburse.core.clock import utcnow
from disburse.core.errors import ValidationFailed
from disburse.core.keyring import Keyring

#: Fields compared on re-import; a difference makes the row "updated".
COMPARED_FIELDS = ("full_name", "date_of_birth", "gender", "province_code", "commune_code",
                   "monthly_amount", "coefficient_x100", "channel", "bank_bin", "account_idx",
                   "account_holder", "phone")
#: Compared fields never written to the history, even as a blind index: only "changed".
_PII_FIELDS = {"account_idx": "account_number", "phone": "phone"}
#: Room for a file name in ``list_imports.file_name``.
_FILE_NAME_LENGTH: int = ListImport.__table__.c.file_name.type.length  # type: ignore[attr-defined]
#: A suffix longer than this is not an extension worth keeping whole.
_MAX_SUFFIX = 16


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


def file_sha256(path: Path) -> tuple[str, int]:
    """Return the SHA-256 (hex) and size of a file, reading it in blocks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def fit_file_name(name: str, limit: int = _FILE_NAME_LENGTH) -> str:
    """Cut a file name to ``limit`` characters, keeping its extension visible.

    ``a-very-long-name….xlsx``: the stem is cut and marked with an ellipsis, so staff still
    see what kind of file it was and that the name was shortened.
    """
    if len(name) <= limit:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix) + 1 > _MAX_SUFFIX:
        return name[:limit - 1] + "…"
    return stem[:limit - len(suffix) - 2] + "…." + suffix


def _clean_key(value: Any) -> str:
    if value.__class__ is str and value.isalnum():
        return value  # nothing to remove: the common case of a well-formed cell
    return "".join(str(value or "").split()).replace("-", "").lstrip("'")


#: No list row is shorter than this many bytes, so a smaller file holds less than a chunk.
_MIN_ROW_BYTES = 64

_PRESCAN_FIELDS = frozenset({"citizen_id", "bank_bin", "account_number"})


def _prescan(layout: ListLayout, path: Path, opts: ImportOptions) -> tuple[set[str], set[str]]:
    """Find citizen IDs and accounts that occur more than once in the file."""
    ids: Counter[str] = Counter()
    accounts: Counter[str] = Counter()
    chunks = read_list(path, chunk_size=max(opts.chunk_size, 100_000),
                       display_name=opts.display_name, only=_PRESCAN_FIELDS)[1]
    clean = _clean_key
    for chunk in chunks:
        ids.update([clean(raw.cells.get("citizen_id")) for raw in chunk])
        accounts.update([clean(cells.get("bank_bin")) + ":" + account
                         for cells in (raw.cells for raw in chunk)
                         if (account := clean(cells.get("account_number")))])
    return ({k for k, n in ids.items() if n > 1 and k},
            {k for k, n in accounts.items() if n > 1})


@dataclass
class _Run:
    """State of one import while it streams through the file."""

    session: Session
    keyring: Keyring
    programme: Programme
    record: ListImport
    report: ImportReport
    layout: ListLayout
    actor: str
    duplicate_ids: set[str]
    shared_accounts: set[str]
    writing: bool = True
    # nothing to compare with on a first import: skip the per-chunk lookups (in-file
    # duplicates and shared accounts are already known from the pre-scan)
    programme_empty: bool = False
    registry_empty: bool = False
    scopes: set[tuple[str, str]] = field(default_factory=set)
    rejected_rows: list[RawRow] = field(default_factory=list)
    rejected_ids: set[str] = field(default_factory=set)  # blind indexes of refused rows
    findings_by_row: dict[int, list[RowFinding]] = field(default_factory=dict)

    def reject(self, raw: RawRow) -> None:
        """Count a refused row and remember who it named, so they are never 'absent'."""
        self.report.counts.rejected += 1
        self.rejected_rows.append(raw)
        cid = _clean_key(raw.cells.get("citizen_id"))
        if len(cid) == 12 and cid.isdigit():
            self.rejected_ids.add(self.keyring.blind_index("citizen_id", cid))

    def note(self, row: int, errors: list[RuleError]) -> None:
        for error in errors:
            finding = RowFinding.of(self.report.file_name, row, self.layout.headers, error)
            (self.report.errors if error.blocking else self.report.flags).append(finding)
            self.findings_by_row.setdefault(row, []).append(finding)


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
    name = fit_file_name(opts.display_name or path.name)
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
    run = _Run(session, keyring, prog, record, report, layout, actor, duplicate_ids, shared)
    run.registry_empty = session.execute(select(Beneficiary.id).limit(1)).first() is None
    run.programme_empty = run.registry_empty or session.execute(
        select(Beneficiary.id).where(Beneficiary.programme == prog.code).limit(1)
    ).first() is None
    checked: Iterator[SealedChunk] = worker.chunks() if worker is not None else (
        (validate_chunk(ctx, chunk), {}) for chunk in chunks)
    savepoint = session.begin_nested()
    try:
        for results, sealed in checked:
            _process_chunk(run, results, sealed)
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
        _absent(run, opts.end_missing)
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


def _process_chunk(run: _Run, checked: list[Checked], sealed: dict[int, Sealed]) -> None:
    valid: list[tuple[RawRow, ValidRow]] = []
    run.report.counts.rows += len(checked)
    # with no duplicate in the file the in-file check can find nothing: skip it
    check_file = bool(run.duplicate_ids or run.shared_accounts)
    for raw, row, errors in checked:
        in_file = _file_duplicates(run, raw, row) if check_file else []
        if not errors and not in_file and row is not None:
            valid.append((raw, row))  # the common case: nothing to note
            continue
        errors += in_file
        run.note(raw.row, errors)
        if row is None or any(e.blocking for e in errors):
            run.reject(raw)
        else:
            extra = tuple(e.code for e in in_file if not e.blocking)
            valid.append((raw, replace(row, flags=row.flags + extra) if extra else row))
    _apply_valid(run, valid, sealed)


def _file_duplicates(run: _Run, raw: RawRow, row: ValidRow | None) -> list[RuleError]:
    found: list[RuleError] = []
    if _clean_key(raw.cells.get("citizen_id")) in run.duplicate_ids:
        found.append(RuleError(
            "duplicate_in_file", "citizen_id",
            "This citizen ID appears on more than one row of the file; every such row is refused.",
            "Số CCCD xuất hiện ở nhiều dòng trong tệp; tất cả các dòng đó bị từ chối."))
    account = _clean_key(raw.cells.get("account_number"))
    key = _clean_key(raw.cells.get("bank_bin")) + ":" + account
    if row is not None and account and key in run.shared_accounts:
        found.append(RuleError(
            "account_shared", "account_number",
            "The same account is given for several beneficiaries in this file.",
            "Cùng một số tài khoản được khai cho nhiều người thụ hưởng trong tệp.",
            Severity.REVIEW))
    return found


def _apply_valid(run: _Run, pairs: list[tuple[RawRow, ValidRow]],
                 sealed: dict[int, Sealed]) -> None:
    """Insert, update or keep the valid rows of a chunk.

    ``sealed`` holds the blind indexes and ciphertexts of rows already computed by the
    validation worker; the others are computed here.
    """
    if not pairs:
        return
    rows = [row for _, row in pairs]
    raw_by_row = {raw.row: raw for raw, _ in pairs}
    keyring, session = run.keyring, run.session
    idx: dict[int, str] = {}
    account_idx: dict[int, str] = {}
    for r in rows:
        known = sealed.get(r.row)
        if known is None:
            idx[r.row] = keyring.blind_index("citizen_id", r.citizen_id)
            if r.account_number:
                account_idx[r.row] = account_index(keyring, r.bank_bin, r.account_number)
        else:
            idx[r.row] = known[0]
            if known[1]:
                account_idx[r.row] = known[1]
    existing = {} if run.programme_empty else {
        b.citizen_id_idx: b for b in session.execute(
            select(Beneficiary).where(Beneficiary.programme == run.programme.code,
                                      Beneficiary.citizen_id_idx.in_(list(idx.values())))
        ).scalars()
    }
    shared_in_db = _accounts_in_use(run, account_idx, idx)
    inserts: list[tuple[Any, ...]] = []
    updates: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    seen: list[int] = []
    counts = run.report.counts
    scopes = run.scopes
    new_row = _NewRow(run, utcnow())  # one timestamp for the rows this chunk creates
    for row in rows:
        number = row.row
        citizen_idx = idx[number]
        account = account_idx.get(number)
        flags = list(row.flags)
        if account and shared_in_db and account in shared_in_db.get(citizen_idx, ()):
            flags.append("account_shared")
            run.note(number, [_shared_account_flag()])
        if flags:
            counts.flagged += 1
        current = existing.get(citizen_idx) if existing else None
        if current is None:
            inserts.append(new_row(row, citizen_idx, account, flags, sealed.get(number)))
            counts.added += 1
        elif _conflicting_source(current, row):
            run.note(number, [_programme_duplicate(current)])
            run.reject(raw_by_row[number])
            continue
        else:
            _update_or_keep(run, current, row, _values(row, account), flags, updates,
                            history, seen)
        scopes.add((row.province_code, row.commune_code))
    if counts.rejected and not run.record.accept_valid:
        return  # the file will be rejected: stop writing, keep validating
    bulk.insert_beneficiaries(session, inserts)
    _write_updates(session, updates)
    bulk.insert_history(session, history)
    bulk.mark_seen(session, seen, run.record.id)


def _write_updates(session: Session, updates: list[dict[str, Any]]) -> None:
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for u in updates:
        by_keys.setdefault(tuple(sorted(u)), []).append(u)
    for group in by_keys.values():
        bulk.update_beneficiaries(session, group)


def _shared_account_flag() -> RuleError:
    return RuleError(
        "account_shared", "account_number",
        "This account is already registered for another beneficiary.",
        "Số tài khoản này đã được đăng ký cho một người thụ hưởng khác.", Severity.REVIEW)


def _programme_duplicate(current: Beneficiary) -> RuleError:
    return RuleError(
        "duplicate_in_programme", "citizen_id",
        f"This citizen ID is already active in the programme from another list "
        f"(commune {current.commune_code}, import {current.source_import_id}).",
        f"Số CCCD này đã có trong chương trình từ danh sách khác "
        f"(xã {current.commune_code}, lần nhập {current.source_import_id}).")


def _conflicting_source(current: Beneficiary, row: ValidRow) -> bool:
    same_scope = (current.province_code, current.commune_code) == (row.province_code,
                                                                     row.commune_code)
    return current.status == BeneficiaryStatus.ACTIVE.value and not same_scope


def _accounts_in_use(run: _Run, accounts: dict[int, str], idx: dict[int, str]
                     ) -> dict[str, set[str]]:
    """Map citizen blind index -> account indexes that other citizens already use."""
    if not accounts or run.registry_empty:
        return {}
    owners: dict[str, set[str]] = {}
    for account_idx, citizen_idx in run.session.execute(
        select(Beneficiary.account_idx, Beneficiary.citizen_id_idx)
        .where(Beneficiary.account_idx.in_(list(set(accounts.values()))))
    ):
        owners.setdefault(account_idx, set()).add(citizen_idx)
    return {idx[row]: {a} for row, a in accounts.items() if owners.get(a, set()) - {idx[row]}}


def _values(row: ValidRow, account_idx: str | None) -> dict[str, Any]:
    """The compared fields of a valid row, as stored (``COMPARED_FIELDS``)."""
    return {
        "full_name": row.full_name, "date_of_birth": row.date_of_birth, "gender": row.gender,
        "province_code": row.province_code, "commune_code": row.commune_code,
        "monthly_amount": row.amount, "coefficient_x100": row.coefficient_x100,
        "channel": row.channel, "bank_bin": row.bank_bin, "account_idx": account_idx,
        "account_holder": row.account_holder, "phone": row.phone,
    }


class _NewRow:
    """Build ``bulk.INSERT_COLUMNS`` tuples for new beneficiaries of one chunk."""

    def __init__(self, run: _Run, now: datetime) -> None:
        self.programme = run.programme.code
        self.encrypt = run.keyring.encrypt
        self.import_id = run.record.id
        self.now = now

    def __call__(self, row: ValidRow, citizen_idx: str, account_idx: str | None,
                 flags: list[str], known: Sealed | None) -> tuple[Any, ...]:
        account = row.account_number
        encrypt, import_id, now = self.encrypt, self.import_id, self.now
        if known is None:
            citizen_enc = encrypt("citizen_id", row.citizen_id)
            account_enc = encrypt("account_number", account) if account else None
            phone_enc = encrypt("phone", row.phone) if row.phone else None
        else:
            citizen_enc, account_enc, phone_enc = known[2], known[3], known[4]
        return (
            self.programme, citizen_enc, citizen_idx, row.full_name,
            row.date_of_birth, row.gender, row.province_code, row.commune_code,
            LOCALITY_VERSION_2025, row.amount, row.coefficient_x100, row.channel,
            row.bank_bin, account_enc, account_idx, row.account_holder, phone_enc, _ACTIVE,
            None, flags, import_id, row.row, import_id, now, now, 1,
        )


_ACTIVE = BeneficiaryStatus.ACTIVE.value


def _update_or_keep(run: _Run, current: Beneficiary, row: ValidRow, values: dict[str, Any],
                    flags: list[str], updates: list[dict[str, Any]],
                    history: list[dict[str, Any]], seen: list[int]) -> None:
    stored = _stored_values(run.keyring, current)
    changed = {f: (stored[f], values[f]) for f in COMPARED_FIELDS if stored[f] != values[f]}
    reactivate = current.status == BeneficiaryStatus.ENDED.value
    if not changed and not reactivate and sorted(current.review_flags or []) == sorted(flags):
        seen.append(current.id)
        run.report.counts.unchanged += 1
        return
    update_values: dict[str, Any] = {f: values[f] for f in changed}
    if "account_idx" in changed:
        plain = row.account_number
        update_values["account_enc"] = (run.keyring.encrypt("account_number", plain)
                                        if plain else None)
    if "phone" in changed:
        update_values["phone_enc"] = seal_phone(run.keyring, update_values.pop("phone"))
    if reactivate:  # a suspended person (deceased, mismatch) is never reactivated by a list
        update_values.update(status=BeneficiaryStatus.ACTIVE.value, status_reason=None)
    update_values.update(review_flags=flags, last_seen_import_id=run.record.id,
                         updated_at=utcnow(), _id=current.id, _version=current.version + 1)
    updates.append(update_values)
    history.append({
        "beneficiary_id": current.id, "version": current.version + 1,
        "change": "reactivated" if reactivate else "updated",
        "changed": {_PII_FIELDS.get(f, f): _history_value(f, old, new)
                    for f, (old, new) in changed.items()},
        "actor": run.actor, "import_id": run.record.id, "reason": None, "at": utcnow(),
    })
    run.report.counts.updated += 1


def _stored_values(keyring: Keyring, current: Beneficiary) -> dict[str, Any]:
    """The compared fields of a stored beneficiary; the phone is decrypted to compare."""
    values = {f: getattr(current, f) for f in COMPARED_FIELDS if f != "phone"}
    values["phone"] = keyring.decrypt("phone", current.phone_enc) if current.phone_enc else None
    return values


def _history_value(field_name: str, old: Any, new: Any) -> dict[str, Any] | str:
    if field_name in _PII_FIELDS:
        return "changed"  # never write the account or phone number, even as a blind index
    return {"from": str(old) if old is not None else None,
            "to": str(new) if new is not None else None}


def _absent(run: _Run, end_missing: bool) -> None:
    if not run.scopes:
        return
    b = Beneficiary
    where = and_(b.programme == run.programme.code,
                 b.status == BeneficiaryStatus.ACTIVE.value,
                 b.last_seen_import_id != run.record.id,
                 or_(*[tuple_(b.province_code, b.commune_code) == s for s in sorted(run.scopes)])
                 if len(run.scopes) < 200 else
                 b.commune_code.in_({c for _, c in run.scopes}))
    rows = [r for r in run.session.execute(
        select(b.id, b.full_name, b.commune_code, b.version, b.source_import_id, b.source_row,
               b.citizen_id_idx).where(where)).all()
        if r.citizen_id_idx not in run.rejected_ids]  # a refused row is present, not absent
    run.report.counts.absent = len(rows)
    run.report.absent = [{"beneficiary_id": r.id, "full_name": r.full_name,
                          "commune_code": r.commune_code, "source_import_id": r.source_import_id,
                          "source_row": r.source_row} for r in rows[:10_000]]
    if end_missing and rows:
        _end(run, rows)


def _end(run: _Run, rows: Sequence[Any]) -> None:
    now = utcnow()
    for r in rows:
        run.session.execute(update(Beneficiary).where(Beneficiary.id == r.id).values(
            status=BeneficiaryStatus.ENDED.value, status_reason="absent from a newer list",
            version=r.version + 1, updated_at=now))
    bulk.insert_history(run.session, [{
        "beneficiary_id": r.id, "version": r.version + 1, "change": "ended",
        "changed": {"status": {"from": "active", "to": "ended"}}, "actor": run.actor,
        "import_id": run.record.id, "reason": "absent from a newer list (--end-missing)",
        "at": now} for r in rows])
    run.report.counts.ended = len(rows)


def _store_rejected(run: _Run, opts: ImportOptions) -> None:
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
