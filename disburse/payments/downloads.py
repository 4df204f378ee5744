"""Serving payment files to staff: who may take which part, checked bytes, an audit entry each.

A payment file names every person of a route with their account or wallet number (the cash
list with a masked CCCD and phone): it is the most complete list of personal data the service
writes. Its signature and manifest hold none (a signature, and the SHA-256, size, MsgId,
NbOfTxs and CtrlSum that the approver and the auditor compare with the approved totals).

Who may download what through the staff API (banks collect their own routes' files through
the bank API, scoped to the bank and to sent batches):

============  ===========  ===========  ============
role          file         manifest     signature
============  ===========  ===========  ============
preparer      no           yes          yes
approver      no           yes          yes
auditor       no           yes          yes
admin         yes          yes          yes
bank          no (bank API, own routes)
============  ===========  ===========  ============

The file goes to the administrator only: the one who hands it to a bank by hand when a route
has no automated exchange. Approving needs the totals, which the batch summary and the
manifest give; auditing needs the manifest and the signature to check what was sent.

Every download, of any part, through either API, is written to the audit trail with the user
(or the bank's system user), the file and the SHA-256 of the bytes served, in the request's
transaction (committed before the bytes leave).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from sqlalchemy.orm import Session

from disburse.core import audit, signing
from disburse.core.errors import Conflict, Forbidden, NotFound
from disburse.core.private_files import file_sha256
from disburse.core.users import Role
from disburse.payments.models import PaymentFile
from disburse.payments.storage import payment_file_path


class FilePart(StrEnum):
    """What of a payment file is downloaded."""

    FILE = "file"
    SIGNATURE = "signature"
    MANIFEST = "manifest"


#: Staff roles allowed each part (see the module docstring for the reasons).
DOWNLOADERS: Final[dict[FilePart, frozenset[Role]]] = {
    FilePart.FILE: frozenset({Role.ADMIN}),
    FilePart.SIGNATURE: frozenset({Role.PREPARER, Role.APPROVER, Role.AUDITOR, Role.ADMIN}),
    FilePart.MANIFEST: frozenset({Role.PREPARER, Role.APPROVER, Role.AUDITOR, Role.ADMIN}),
}
_MIMETYPES: Final = {
    "pain001": "application/xml",
    "csv": "text/csv",
    "cash_list": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Download:
    """A checked part of a payment file, ready to send."""

    path: Path
    name: str
    mimetype: str
    sha256: str


def _payment_file(session: Session, batch_id: int, file_id: int) -> PaymentFile:
    found = session.get(PaymentFile, file_id)
    if found is None or found.batch_id != batch_id:
        raise NotFound(f"batch {batch_id} has no payment file {file_id}")
    return found


def _checked(record: PaymentFile, part: FilePart, files_root: Path) -> Download:
    file_path = payment_file_path(record, files_root)
    if part is FilePart.FILE:
        path = file_path
        if not path.is_file():
            raise NotFound(f"payment file {record.file_name} is not on disk; write the files "
                           "again")
        sha256, size = file_sha256(path)
        if (sha256, size) != (record.sha256, record.size):
            raise Conflict(f"payment file {record.file_name} on disk has SHA-256 {sha256} "
                           f"({size} bytes), not the recorded {record.sha256}; it is not served")
        return Download(path, record.file_name,
                        _MIMETYPES.get(record.layout, "application/octet-stream"), sha256)
    path = (signing.signature_path(file_path) if part is FilePart.SIGNATURE
            else signing.manifest_path(file_path))
    if not path.is_file():
        raise NotFound(f"the {part.value} of payment file {record.file_name} is not on disk")
    mimetype = "application/json" if part is FilePart.MANIFEST else "application/octet-stream"
    return Download(path, path.name, mimetype, file_sha256(path)[0])


def download_payment_file(session: Session, files_root: Path, batch_id: int, file_id: int,
                          part: FilePart, *, actor: str, role: str) -> Download:
    """Check who asks and what is on disk, audit the download, and return what to send.

    Raises:
        Forbidden: the role may not download this part (``DOWNLOADERS``).
        NotFound: no such file in the batch, or the part is not on disk.
        Conflict: the file on disk no longer has the SHA-256 recorded when it was signed.
    """
    allowed = DOWNLOADERS[part]
    if role not in {r.value for r in allowed}:
        raise Forbidden(
            f"role {role} may not download the {part.value} of a payment file (it names and "
            f"pays people); allowed: {', '.join(sorted(r.value for r in allowed))}")
    record = _payment_file(session, batch_id, file_id)
    download = _checked(record, part, files_root)
    audit.record(session, actor=actor, action=f"payment_file.download.{part.value}",
                 object_type="payment_file", object_id=record.id,
                 detail={"batch_id": record.batch_id, "file": record.file_name,
                         "part": part.value, "msg_id": record.msg_id,
                         "sha256": download.sha256})
    return download


def bank_download(session: Session, files_root: Path, record: PaymentFile, part: FilePart, *,
                  actor: str) -> Download:
    """Check a part of a payment file a bank collects, audit it, and return what to send.

    The bank API has already scoped ``record`` to the bank's own routes and sent batches.

    Raises:
        NotFound: the part is not on disk.
        Conflict: the file on disk no longer has the SHA-256 recorded when it was signed.
    """
    download = _checked(record, part, files_root)
    audit.record(session, actor=actor, action=f"payment_file.download.{part.value}",
                 object_type="payment_file", object_id=record.id,
                 detail={"batch_id": record.batch_id, "file": record.file_name,
                         "part": part.value, "msg_id": record.msg_id,
                         "sha256": download.sha256, "via": "bank_api"})
    return download
