"""Read-side queries of the registry: filtered pages and one beneficiary with its history."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary, BeneficiaryHistory, ListImport
from beneficiaries.stored import StoredPart, download_name, has_part, open_part, read_report
from disburse.core import audit
from disburse.core.errors import NotFound
from disburse.core.keyring import Keyring


@dataclass(frozen=True)
class BeneficiaryFilter:
    """Optional filters; None means any."""

    programme: str | None = None
    province: str | None = None
    commune: str | None = None
    status: str | None = None
    channel: str | None = None


#: Characters a mask leaves visible, all at the end: with the date of birth, the last four
#: digits of a CCCD leave some 10,000 candidates per birth date and province, where the old
#: first-four-and-last-three left about 1,000.
MASK_VISIBLE = 4
#: Values shorter than this are masked whole: four visible digits would be half of them.
_MASK_MIN_LENGTH = 8


def mask(value: str | None) -> str | None:
    """Mask all but the last 4 characters: ********4567 (a short value is masked whole)."""
    if value is None:
        return None
    if len(value) < _MASK_MIN_LENGTH:
        return "***"
    return "*" * (len(value) - MASK_VISIBLE) + value[-MASK_VISIBLE:]


def _summary(b: Beneficiary, keyring: Keyring) -> dict[str, Any]:
    account = keyring.decrypt("account_number", b.account_enc) if b.account_enc else None
    return {
        "id": b.id, "programme": b.programme,
        "citizen_id": mask(keyring.decrypt("citizen_id", b.citizen_id_enc)),
        "full_name": b.full_name, "date_of_birth": b.date_of_birth.isoformat(),
        "gender": b.gender, "province_code": b.province_code, "commune_code": b.commune_code,
        "locality_version": b.locality_version, "monthly_amount": b.monthly_amount,
        "coefficient_x100": b.coefficient_x100, "channel": b.channel, "bank_bin": b.bank_bin,
        "account_number": mask(account), "account_holder": b.account_holder,
        "status": b.status, "status_reason": b.status_reason, "review_flags": b.review_flags,
        "source": {"import_id": b.source_import_id, "row": b.source_row},
        "version": b.version,
    }


def list_beneficiaries(session: Session, keyring: Keyring, filters: BeneficiaryFilter, *,
                       limit: int, offset: int) -> dict[str, Any]:
    """Return one page of beneficiaries, ordered by id, with the total count."""
    conditions = [
        column == value for column, value in (
            (Beneficiary.programme, filters.programme), (Beneficiary.province_code,
                                                         filters.province),
            (Beneficiary.commune_code, filters.commune), (Beneficiary.status, filters.status),
            (Beneficiary.channel, filters.channel),
        ) if value is not None
    ]
    total = session.execute(select(func.count()).select_from(Beneficiary).where(*conditions)
                            ).scalar_one()
    rows = session.execute(select(Beneficiary).where(*conditions).order_by(Beneficiary.id)
                           .limit(limit).offset(offset)).scalars()
    return {"total": total, "limit": limit, "offset": offset,
            "items": [_summary(b, keyring) for b in rows]}


def show_beneficiary(session: Session, keyring: Keyring, beneficiary_id: int, *,
                     reveal: bool = False, actor: str = "") -> dict[str, Any]:
    """Return one beneficiary with its history; ``reveal`` unmasks IDs and is audited."""
    b = session.get(Beneficiary, beneficiary_id)
    if b is None:
        raise NotFound(f"no beneficiary {beneficiary_id}")
    detail = _summary(b, keyring)
    if reveal:
        detail["citizen_id"] = keyring.decrypt("citizen_id", b.citizen_id_enc)
        if b.account_enc:
            detail["account_number"] = keyring.decrypt("account_number", b.account_enc)
        audit.record(session, actor=actor, action="beneficiary.reveal",
                     object_type="beneficiary", object_id=b.id)
    history = session.execute(select(BeneficiaryHistory).where(
        BeneficiaryHistory.beneficiary_id == b.id).order_by(BeneficiaryHistory.id)).scalars()
    detail["history"] = [{"version": h.version, "change": h.change, "changed": h.changed,
                          "actor": h.actor, "import_id": h.import_id, "reason": h.reason,
                          "at": h.at.isoformat()} for h in history]
    return detail


def get_import(session: Session, import_id: int) -> ListImport:
    """Return a list import by id."""
    record = session.get(ListImport, import_id)
    if record is None:
        raise NotFound(f"no list import {import_id}")
    return record


@dataclass(frozen=True)
class StoredFile:
    """A stored file of an import, opened for streaming: its name and plaintext chunks."""

    name: str
    chunks: Iterator[bytes]


def stored_report(session: Session, keyring: Keyring, import_id: int) -> tuple[ListImport,
                                                                               dict[str, Any]]:
    """Return an import and its stored report as data ({} when none was stored)."""
    record = get_import(session, import_id)
    return record, read_report(keyring, record)


def has_rejected_rows(record: ListImport) -> bool:
    """Whether the import kept a rejected-rows workbook."""
    return has_part(record, StoredPart.REJECTED)


def open_stored_file(session: Session, keyring: Keyring, import_id: int, part: StoredPart, *,
                     actor: str) -> StoredFile:
    """Open a stored file of an import for download, decrypting on the fly; audited.

    Raises:
        NotFound: no such import, or it did not keep ``part``.
        DecryptionFailed: the file cannot be opened with the keyring.
    """
    record = get_import(session, import_id)
    chunks = open_part(keyring, record, part)
    if chunks is None:
        what = "rejected rows" if part is StoredPart.REJECTED else f"stored {part.value} file"
        raise NotFound(f"list import {import_id} has no {what}")
    audit.record(session, actor=actor, action=f"beneficiaries.import.download.{part.value}",
                 object_type="list_import", object_id=record.id,
                 detail={"part": part.value, "file": record.file_name})
    return StoredFile(download_name(record, part), chunks)
