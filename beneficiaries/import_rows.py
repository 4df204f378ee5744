"""One import's rows into the registry: new people added, changed ones updated with history.

``ImportRun`` is the state of one import while it streams through the file; ``process_chunk``
writes a validated chunk (duplicates in the file and shared accounts flagged, Core bulk
inserts and updates, a history row per change) and ``end_absent`` ends the people of the
file's communes who are no longer on it. Called by ``beneficiaries.service.import_list``, in
its transaction; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, tuple_, update
from sqlalchemy.orm import Session

from beneficiaries import bulk
from beneficiaries.importers import ListLayout, RawRow
from beneficiaries.models import (
    LOCALITY_VERSION_2025,
    Beneficiary,
    BeneficiaryStatus,
    ListImport,
)
from beneficiaries.programmes import Programme
from beneficiaries.report import ImportReport, RowFinding
from beneficiaries.rules import RuleError, Severity
from beneficiaries.sealing import Sealed, account_index, seal_phone
from beneficiaries.validation import Checked, ValidRow
from disburse.core.clock import utcnow
from disburse.core.keyring import Keyring

#: Fields compared on re-import; a difference makes the row "updated".
COMPARED_FIELDS = ("full_name", "date_of_birth", "gender", "province_code", "commune_code",
                   "monthly_amount", "coefficient_x100", "channel", "bank_bin", "account_idx",
                   "account_holder", "phone")
#: Compared fields never written to the history, even as a blind index: only "changed".
_PII_FIELDS = {"account_idx": "account_number", "phone": "phone"}


def clean_key(value: Any) -> str:
    """Return an ID or account cell as a lookup key: no spaces, dashes or leading quote."""
    if value.__class__ is str and value.isalnum():
        return value  # nothing to remove: the common case of a well-formed cell
    return "".join(str(value or "").split()).replace("-", "").lstrip("'")


@dataclass
class ImportRun:
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
        cid = clean_key(raw.cells.get("citizen_id"))
        if len(cid) == 12 and cid.isdigit():
            self.rejected_ids.add(self.keyring.blind_index("citizen_id", cid))

    def note(self, row: int, errors: list[RuleError]) -> None:
        for error in errors:
            finding = RowFinding.of(self.report.file_name, row, self.layout.headers, error)
            (self.report.errors if error.blocking else self.report.flags).append(finding)
            self.findings_by_row.setdefault(row, []).append(finding)


def process_chunk(run: ImportRun, checked: list[Checked], sealed: dict[int, Sealed]) -> None:
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


def _file_duplicates(run: ImportRun, raw: RawRow, row: ValidRow | None) -> list[RuleError]:
    found: list[RuleError] = []
    if clean_key(raw.cells.get("citizen_id")) in run.duplicate_ids:
        found.append(RuleError(
            "duplicate_in_file", "citizen_id",
            "This citizen ID appears on more than one row of the file; every such row is refused.",
            "Số CCCD xuất hiện ở nhiều dòng trong tệp; tất cả các dòng đó bị từ chối."))
    account = clean_key(raw.cells.get("account_number"))
    key = clean_key(raw.cells.get("bank_bin")) + ":" + account
    if row is not None and account and key in run.shared_accounts:
        found.append(RuleError(
            "account_shared", "account_number",
            "The same account is given for several beneficiaries in this file.",
            "Cùng một số tài khoản được khai cho nhiều người thụ hưởng trong tệp.",
            Severity.REVIEW))
    return found


def _apply_valid(run: ImportRun, pairs: list[tuple[RawRow, ValidRow]],
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


def _accounts_in_use(run: ImportRun, accounts: dict[int, str], idx: dict[int, str]
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

    def __init__(self, run: ImportRun, now: datetime) -> None:
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


def _update_or_keep(run: ImportRun, current: Beneficiary, row: ValidRow, values: dict[str, Any],
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


def end_absent(run: ImportRun, end_missing: bool) -> None:
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


def _end(run: ImportRun, rows: Sequence[Any]) -> None:
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
