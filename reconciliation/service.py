"""Receiving a bank return file: signature check, safe keeping, then reconciliation.

:func:`import_return_file` is the one path for the CLI, the bank API upload and the
scheduler's fetch. The raw bytes are always kept unchanged under
``<store_dir>/<bank BIN>/<sha256>``. A file whose detached signature is missing or does
not verify with the bank's registered key is *quarantined*: stored, recorded, audited and
never applied. The same file (same bank and SHA-256) a second time changes nothing. A good
file is parsed and handed to :func:`reconciliation.apply.reconcile_records`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bank_adapters.models import (
    MAY_HAVE_REACHED,
    Bank,
    ReceivedReturnFile,
    ReturnFileState,
    ReturnSource,
    Submission,
    on_route_clause,
)
from disburse.core import audit
from disburse.core.errors import NotFound
from disburse.core.keyring import Keyring
from disburse.core.private_files import write_atomically
from disburse.core.signing import PublicKey, load_public_key_pem
from disburse.payments.models import Instruction
from reconciliation.apply import ReconcileOutcome, reconcile_records
from reconciliation.matching import DEFAULT_DATE_WINDOW_DAYS
from reconciliation.parsers.camt import StatementHeader
from reconciliation.parsers.detect import parse_return_file
from reconciliation.parsers.tabular import TabularProfile
from reconciliation.records import ParseError, ReturnRecord, ReturnStatus

_PSS_SALT_LENGTH = 32  # the project's RSA-PSS profile: salt = SHA-256 digest length
#: The bytes of an unsigned (or badly signed) file are kept as evidence only while they are
#: small and the bank's quarantine stays under its quota; the row, its SHA-256 and size are
#: always kept. The same file sent again with a good signature brings its bytes back.
QUARANTINE_FILE_LIMIT = 8 * 1024 * 1024
QUARANTINE_QUOTA = 64 * 1024 * 1024
#: Records a return file may hold beyond what the payments sent to its bank could give.
UNRELATED_RECORDS = 16
#: Bytes a return file may spend on each record it may hold (a verbose camt.053 entry with
#: remittance details stays well under this).
BYTES_PER_RECORD = 4096


class SignatureCheck(StrEnum):
    """What the detached signature check found."""

    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"
    NO_KEY = "no_key"  # the bank has no usable registered key


class ImportOutcome(StrEnum):
    """What became of one received return file."""

    APPLIED = "applied"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"
    REFUSED = "refused"  # signed, but refused whole: nothing in it was applied


@dataclass
class ReturnImportReport:
    """The result of importing one return file, for the CLI, the API and the scheduler.

    Attributes:
        outcome: applied, quarantined or duplicate.
        signature: the signature check's verdict.
        return_file_id: the ``return_files`` row (the earlier one for a duplicate).
        reconciliation: counts of what applying did (empty unless applied).
    """

    outcome: ImportOutcome
    signature: SignatureCheck
    file_name: str
    bank_bin: str
    sha256: str
    size: int
    return_file_id: int | None
    message: str
    reconciliation: ReconcileOutcome = field(default_factory=ReconcileOutcome)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        body = asdict(self)
        body["outcome"] = self.outcome.value
        body["signature"] = self.signature.value
        return body


def check_signature(data: bytes, signature: bytes | None, public_key: PublicKey | None
                    ) -> SignatureCheck:
    """Check a detached signature over the exact bytes of a file.

    Ed25519 signs the bytes; RSA-PSS-SHA256 signs their SHA-256 digest (the same profile
    the project uses for its own payment files).

    Args:
        data: The file's bytes.
        signature: The raw detached signature, or None when none came with the file.
        public_key: The bank's registered key, or None when it has none usable.

    Returns:
        The verdict; never raises for a bad signature.
    """
    if public_key is None:
        return SignatureCheck.NO_KEY
    if not signature:
        return SignatureCheck.MISSING
    try:
        if isinstance(public_key, Ed25519PublicKey):
            public_key.verify(signature, data)
        else:
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=_PSS_SALT_LENGTH)
            public_key.verify(signature, hashlib.sha256(data).digest(), pss,
                              Prehashed(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return SignatureCheck.INVALID
    return SignatureCheck.VALID


def _public_key(pem: str | bytes | None) -> PublicKey | None:
    if not pem:
        return None
    try:
        return load_public_key_pem(pem.encode() if isinstance(pem, str) else pem)
    except ValueError:
        return None  # a broken registered key verifies nothing: the file is quarantined


def store_raw(store_dir: Path, bank_bin: str, sha256: str, data: bytes) -> Path:
    """Keep the file's bytes unchanged under ``<store_dir>/<bin>/<sha256>`` (written once).

    Args:
        store_dir: The returns directory (``settings.data_dir / "returns"``).
        bank_bin: The sending bank's BIN.
        sha256: The hex SHA-256 of ``data``.
        data: The bytes as received.

    Returns:
        The stored path.
    """
    target = store_dir / bank_bin / sha256
    if target.exists():
        return target  # content-addressed: the same name means the same bytes
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(target, data)


def tabular_profile(profile: dict[str, Any]) -> TabularProfile | None:
    """Read a bank's CSV/XLSX return layout from its registered profile (``returns_table``).

    Args:
        profile: The ``banks.profile`` JSON.

    Returns:
        The column mapping, or None when the bank has none (or it is unusable).
    """
    table = profile.get("returns_table")
    if not isinstance(table, dict):
        return None
    try:
        options = {k: v for k, v in table.items() if k not in {"columns", "status_map"}}
        status_map = {str(k): ReturnStatus(v) for k, v in table["status_map"].items()}
        return TabularProfile(columns=dict(table["columns"]), status_map=status_map, **options)
    except (KeyError, TypeError, ValueError):
        return None


def import_return_file(
    session: Session,
    keyring: Keyring,
    *,
    data: bytes,
    file_name: str,
    bank_bin: str,
    signature: bytes | None,
    source: ReturnSource | str,
    actor: str,
    store_dir: Path,
    public_key_pem: str | bytes | None = None,
    date_window_days: int = DEFAULT_DATE_WINDOW_DAYS,
) -> ReturnImportReport:
    """Receive one bank return file: verify, keep, and (when signed) reconcile it.

    Args:
        session: The caller's session; only flushed.
        keyring: For the encrypted account columns and their blind indexes.
        data: The file's exact bytes.
        file_name: The name it came under (format detection and messages).
        bank_bin: The sending bank's BIN; the bank must be registered.
        signature: The raw detached signature (``FILE.sig``), or None.
        source: cli, api or fetch.
        actor: Who (or which job) is importing, for the audit trail and the events.
        store_dir: Where raw files are kept (``settings.data_dir / "returns"``).
        public_key_pem: A key to verify with instead of the bank's registered one.
        date_window_days: Window of the account + amount fallback match.

    Returns:
        The report; a quarantined or duplicate file is a normal outcome, not an error.

    Raises:
        NotFound: no bank is registered under ``bank_bin``.
    """
    bank = session.get(Bank, bank_bin)
    if bank is None:
        raise NotFound(f"no registered bank with BIN {bank_bin}")
    sha256 = hashlib.sha256(data).hexdigest()
    verdict = check_signature(data, signature, _public_key(public_key_pem or bank.public_key_pem))
    base: dict[str, Any] = {"file_name": file_name, "bank_bin": bank_bin, "sha256": sha256,
                            "size": len(data), "signature": verdict}
    existing = _existing_file(session, bank_bin, sha256)
    # only a file quarantined for its signature is released by a good one; a signed file
    # refused whole stays refused
    if existing is not None and (existing.state != ReturnFileState.QUARANTINED.value
                                 or existing.signature_valid
                                 or verdict is not SignatureCheck.VALID):
        return _duplicate(existing, base)
    valid = verdict is SignatureCheck.VALID
    keep = valid or _quarantine_has_room(session, bank_bin, len(data))
    path = store_raw(store_dir, bank_bin, sha256, data) if keep else None
    state = ReturnFileState.RECEIVED if valid else ReturnFileState.QUARANTINED
    try:
        with session.begin_nested():
            row = _record_file(session, existing, base, path, str(source), state)
    except IntegrityError:  # a concurrent import of the same file committed first
        concurrent = _existing_file(session, bank_bin, sha256)
        if concurrent is None:
            raise
        return _duplicate(concurrent, base)
    if state is ReturnFileState.QUARANTINED:
        row.reason = (f"signature {verdict.value}" if keep else
                      f"signature {verdict.value}; bytes not kept (quarantine quota)")
        audit.record(session, actor=actor, action="returns.quarantine", object_type="return_file",
                     object_id=row.id, detail={**_audit_base(base), "signature": verdict.value,
                                               "bytes_kept": keep})
        return ReturnImportReport(outcome=ImportOutcome.QUARANTINED, return_file_id=row.id,
                                  message=f"signature {verdict.value}: the file is recorded "
                                          "but not applied"
                                          + ("" if keep else " (its bytes were not kept: "
                                             "the bank's quarantine is full)"), **base)
    limit = _record_limit(session, bank)
    refusal = limit.refuse_size(len(data))
    if refusal is None:
        statements: list[StatementHeader] = []
        records, errors = parse_return_file(data, file_name,
                                            tabular_profile=tabular_profile(bank.profile or {}),
                                            statements=statements)
        refusal = limit.refuse_records(records, errors)
    if refusal is not None:
        return _refuse(session, row, base, refusal, actor=actor)
    outcome = reconcile_records(session, keyring, row, records, errors, actor=actor,
                                date_window_days=date_window_days, statements=statements)
    audit.record(session, actor=actor, action="returns.apply", object_type="return_file",
                 object_id=row.id, detail={**_audit_base(base), **outcome.summary()})
    return ReturnImportReport(outcome=ImportOutcome.APPLIED, return_file_id=row.id,
                              message=f"{outcome.records} records: {outcome.events} state "
                                      f"changes, {outcome.exceptions} new exceptions",
                              reconciliation=outcome, **base)


def _quarantine_has_room(session: Session, bank_bin: str, size: int) -> bool:
    """Whether an unsigned file of ``size`` bytes may be kept in the bank's quarantine."""
    if size > QUARANTINE_FILE_LIMIT:
        return False
    used = session.execute(
        select(func.coalesce(func.sum(ReceivedReturnFile.size), 0))
        .where(ReceivedReturnFile.bank_bin == bank_bin,
               ReceivedReturnFile.state == ReturnFileState.QUARANTINED.value,
               ReceivedReturnFile.stored_path != "")).scalar_one()
    return int(used) + size <= QUARANTINE_QUOTA


def answerable_payments(session: Session, bank: Bank) -> tuple[int, int]:
    """How many payments, in how many files, this bank may answer for.

    Those of payment files submitted by the bank's route that may have reached it.

    Args:
        session: A session.
        bank: The bank.

    Returns:
        ``(payments, files)``.
    """
    payments, files = session.execute(
        select(func.count(Instruction.id), func.count(func.distinct(Submission.id)))
        .select_from(Submission)
        .join(Instruction, Instruction.payment_file_id == Submission.payment_file_id)
        .where(on_route_clause(bank.route),
               Submission.state.in_(sorted(MAY_HAVE_REACHED)))).one()
    return int(payments), int(files)


@dataclass(frozen=True)
class _RecordLimit:
    """What a signed return file from one bank may hold: the payments it can answer.

    Each payment can have at most a status, a booking and a return in one file, plus a
    whole-file status per payment file, and a statement may carry a few bookings of its own
    (the funding credit, fees): :data:`UNRELATED_RECORDS`. A file larger than
    :data:`BYTES_PER_RECORD` per allowed record is refused before it is parsed.
    """

    payments: int
    files: int

    @property
    def records(self) -> int:
        """The most records the file may hold."""
        return 3 * self.payments + 2 * self.files + UNRELATED_RECORDS

    def refuse_size(self, size: int) -> str | None:
        """Why a file of ``size`` bytes is refused unread, or None."""
        most = self.records * BYTES_PER_RECORD + 1024 * 1024
        if size <= most:
            return None
        return (f"{size} bytes, more than the {self.payments} payments in {self.files} files "
                f"sent to this bank could need (at most {most} bytes); nothing was read")

    def refuse_records(self, records: Sequence[ReturnRecord], errors: Sequence[ParseError]
                       ) -> str | None:
        """Why a parsed file is refused whole, or None when it may be applied.

        A file that gives no record at all (an unknown format, an empty or unreadable file)
        is refused, and so is one with more records than :attr:`records`.
        """
        if not records:
            first = errors[0].reason if errors else "the file holds no record"
            return f"no record could be read: {first}"
        if len(records) > self.records:
            return (f"{len(records)} records, more than the {self.payments} payments in "
                    f"{self.files} files sent to this bank could give (at most "
                    f"{self.records}); nothing was applied")
        return None


def _record_limit(session: Session, bank: Bank) -> _RecordLimit:
    return _RecordLimit(*answerable_payments(session, bank))


def _refuse(session: Session, row: ReceivedReturnFile, base: dict[str, Any], reason: str, *,
            actor: str) -> ReturnImportReport:
    row.state, row.reason = ReturnFileState.QUARANTINED.value, reason[:300]
    session.flush()
    audit.record(session, actor=actor, action="returns.refuse", object_type="return_file",
                 object_id=row.id, detail={**_audit_base(base), "reason": reason})
    return ReturnImportReport(outcome=ImportOutcome.REFUSED, return_file_id=row.id,
                              message=f"refused: {reason}", **base)


def _existing_file(session: Session, bank_bin: str, sha256: str) -> ReceivedReturnFile | None:
    """The ``return_files`` row of these bytes from this bank, locked, if there is one."""
    return session.execute(
        select(ReceivedReturnFile).where(ReceivedReturnFile.bank_bin == bank_bin,
                                         ReceivedReturnFile.sha256 == sha256)
        .with_for_update()).scalar_one_or_none()


def _duplicate(existing: ReceivedReturnFile, base: dict[str, Any]) -> ReturnImportReport:
    return ReturnImportReport(outcome=ImportOutcome.DUPLICATE, return_file_id=existing.id,
                              message=f"already received as return file {existing.id} "
                                      f"({existing.state}); nothing changed", **base)


def _audit_base(base: dict[str, Any]) -> dict[str, Any]:
    return {"file_name": base["file_name"], "bank_bin": base["bank_bin"],
            "sha256": base["sha256"], "size": base["size"]}


def _record_file(session: Session, existing: ReceivedReturnFile | None, base: dict[str, Any],
                 path: Path | None, source: str, state: ReturnFileState) -> ReceivedReturnFile:
    """Insert the ``return_files`` row, or release an earlier quarantined copy of the file.

    ``path`` is None when the bytes were not kept (an unsigned file over the quarantine
    quota): the row then has an empty ``stored_path``.
    """
    valid = state is ReturnFileState.RECEIVED
    stored = "" if path is None else str(path)
    if existing is not None:  # quarantined before, now arriving with a good signature
        existing.state, existing.signature_valid = state.value, valid
        existing.stored_path, existing.reason = stored, None
        session.flush()
        return existing
    row = ReceivedReturnFile(bank_bin=base["bank_bin"], source=source,
                             file_name=base["file_name"][:200], sha256=base["sha256"],
                             size=base["size"], stored_path=stored, signature_valid=valid,
                             state=state.value)
    session.add(row)
    session.flush()
    return row
