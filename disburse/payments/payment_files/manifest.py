"""The manifest beside each payment file, and the check of a file against it.

A payment file ``F`` travels with ``F.sig`` (see ``disburse.core.signing``) and
``F.manifest.json`` (UTF-8, sorted keys), which states the file's SHA-256, size, MsgId,
NbOfTxs, CtrlSum, batch id and hash, key id and algorithm.

``verify_file`` checks the signature, the manifest against the bytes, and, for pain.001, the
manifest against the group header and the header against the transactions actually in the
file. The manifest itself is not signed: a forged manifest is caught only where it disagrees
with the signed file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from disburse.core import signing
from disburse.core.private_files import file_sha256, write_atomically
from disburse.core.signing import (
    PublicKey,
    SignatureAlg,
    alg_for,
    key_id_for,
    manifest_path,
    signature_path,
)
from disburse.payments.payment_files.parse import FileHeaderSummary, scan_pain001

MANIFEST_VERSION = 1
SIGNATURE_ENCODING = "raw"
_PAIN001_MARK = b"urn:iso:std:iso:20022:tech:xsd:pain.001"
_MANIFEST_FIELDS: dict[str, type] = {
    "file": str, "sha256": str, "size": int, "msg_id": str, "nb_of_txs": int, "ctrl_sum": int,
    "batch_id": str, "batch_hash": str, "key_id": str, "alg": str, "signed_at": str,
}


class VerificationCode(StrEnum):
    """What ``verify_file`` found wrong."""

    FILE_MISSING = "file_missing"
    SIGNATURE_MISSING = "signature_missing"
    SIGNATURE_INVALID = "signature_invalid"
    MANIFEST_MISSING = "manifest_missing"
    MANIFEST_UNREADABLE = "manifest_unreadable"
    MANIFEST_FIELD_INVALID = "manifest_field_invalid"
    FILE_NAME_MISMATCH = "file_name_mismatch"
    SHA256_MISMATCH = "sha256_mismatch"
    SIZE_MISMATCH = "size_mismatch"
    ALG_MISMATCH = "alg_mismatch"
    KEY_ID_MISMATCH = "key_id_mismatch"
    MSG_ID_MISMATCH = "msg_id_mismatch"
    MANIFEST_TOTALS_MISMATCH = "manifest_totals_mismatch"
    FILE_TOTALS_MISMATCH = "file_totals_mismatch"
    FILE_UNPARSEABLE = "file_unparseable"


@dataclass(frozen=True, slots=True)
class VerificationProblem:
    """One failed check: its code, the manifest or file field concerned, and a message."""

    code: VerificationCode
    field: str
    message: str


# --- writing ---------------------------------------------------------------------------------


def write_manifest(
    path: Path,
    *,
    sha256: str,
    size: int,
    msg_id: str,
    nb_of_txs: int,
    ctrl_sum: int,
    batch_id: str,
    batch_hash: str,
    key_id: str,
    alg: SignatureAlg | str,
    signed_at: datetime,
) -> Path:
    """Write ``<name>.manifest.json`` next to the payment file ``path``.

    Args:
        path: the payment file the manifest describes.
        sha256, size: of the file's exact bytes (the writer's ``WriteResult``).
        msg_id, nb_of_txs, ctrl_sum: what the file's header announces.
        batch_id, batch_hash: the approved batch and the hash the approval pinned.
        key_id, alg: the signing key's id and the algorithm of ``<name>.sig``.
        signed_at: timezone-aware signing time (written in UTC).

    Returns:
        The path of the manifest.
    """
    if signed_at.tzinfo is None:
        raise ValueError("signed_at must be timezone-aware")
    manifest = {
        "version": MANIFEST_VERSION, "file": path.name, "sha256": sha256, "size": size,
        "msg_id": msg_id, "nb_of_txs": nb_of_txs, "ctrl_sum": ctrl_sum, "batch_id": batch_id,
        "batch_hash": batch_hash, "key_id": key_id, "alg": str(SignatureAlg(alg)),
        "signature_file": signature_path(path).name, "signature_encoding": SIGNATURE_ENCODING,
        "signed_at": signed_at.astimezone(UTC).isoformat(),
    }
    text = json.dumps(manifest, sort_keys=True, ensure_ascii=False, indent=2) + "\n"
    return write_atomically(manifest_path(path), text.encode("utf-8"))


# --- verification ---------------------------------------------------------------------------


def verify_file(
    path: Path, public_key: PublicKey, *, expected_key_id: str | None = None
) -> list[VerificationProblem]:
    """Check a payment file against its detached signature and its manifest.

    Args:
        path: the payment file.
        public_key: the key the file should have been signed with.
        expected_key_id: when given, the key id the manifest must name.

    Returns:
        Every problem found; an empty list means the file is intact and consistent.
    """
    if not path.is_file():
        return [_problem(VerificationCode.FILE_MISSING, "file", f"{path} does not exist")]
    problems = _check_signature(path, public_key)
    sha256, size = file_sha256(path)
    manifest, manifest_problems = _load_manifest(path)
    problems += manifest_problems
    if manifest is not None:
        problems += _check_manifest(path, manifest, public_key, sha256, size, expected_key_id)
        if _is_pain001(path):
            problems += _check_pain001(path, manifest)
    return problems


def _problem(code: VerificationCode, field: str, message: str) -> VerificationProblem:
    return VerificationProblem(code, field, message)


def _check_signature(path: Path, public_key: PublicKey) -> list[VerificationProblem]:
    sig_path = signature_path(path)
    if not sig_path.is_file():
        return [_problem(VerificationCode.SIGNATURE_MISSING, "signature",
                         f"{sig_path.name} is missing")]
    if not signing.signature_valid(path, sig_path.read_bytes(), public_key):
        return [_problem(VerificationCode.SIGNATURE_INVALID, "signature",
                         f"{sig_path.name} does not verify over the bytes of {path.name} "
                         f"with key {key_id_for(public_key)}")]
    return []


def _load_manifest(path: Path) -> tuple[dict[str, Any] | None, list[VerificationProblem]]:
    target = manifest_path(path)
    if not target.is_file():
        return None, [_problem(VerificationCode.MANIFEST_MISSING, "manifest",
                               f"{target.name} is missing")]
    try:
        manifest = json.loads(target.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return None, [_problem(VerificationCode.MANIFEST_UNREADABLE, "manifest",
                               f"{target.name} is not JSON: {exc}")]
    if not isinstance(manifest, dict):
        return None, [_problem(VerificationCode.MANIFEST_UNREADABLE, "manifest",
                               f"{target.name} is not a JSON object")]
    bad = [name for name, kind in _MANIFEST_FIELDS.items()
           if not isinstance(manifest.get(name), kind) or isinstance(manifest.get(name), bool)]
    if bad:
        return None, [_problem(VerificationCode.MANIFEST_FIELD_INVALID, name,
                               f"manifest field {name} is missing or not a "
                               f"{_MANIFEST_FIELDS[name].__name__}") for name in bad]
    return manifest, []


def _check_manifest(
    path: Path, manifest: dict[str, Any], public_key: PublicKey, sha256: str, size: int,
    expected_key_id: str | None,
) -> list[VerificationProblem]:
    actual_key_id = key_id_for(public_key)
    checks = [
        (manifest["file"] == path.name, VerificationCode.FILE_NAME_MISMATCH, "file",
         f"manifest describes {manifest['file']!r}, not {path.name!r}"),
        (manifest["sha256"] == sha256, VerificationCode.SHA256_MISMATCH, "sha256",
         f"manifest sha256 {manifest['sha256']} but the file's is {sha256}"),
        (manifest["size"] == size, VerificationCode.SIZE_MISMATCH, "size",
         f"manifest size {manifest['size']} but the file has {size} bytes"),
        (manifest["alg"] == alg_for(public_key), VerificationCode.ALG_MISMATCH, "alg",
         f"manifest alg {manifest['alg']!r} does not fit a {alg_for(public_key)} key"),
        (manifest["key_id"] == actual_key_id, VerificationCode.KEY_ID_MISMATCH, "key_id",
         f"manifest key_id {manifest['key_id']} but the verifying key is {actual_key_id}"),
        (expected_key_id in (None, manifest["key_id"]), VerificationCode.KEY_ID_MISMATCH,
         "key_id", f"manifest key_id {manifest['key_id']} but {expected_key_id} was expected"),
    ]
    return [_problem(code, field, message) for ok, code, field, message in checks if not ok]


def _is_pain001(path: Path) -> bool:
    with path.open("rb") as handle:
        return _PAIN001_MARK in handle.read(4096)


def _check_pain001(path: Path, manifest: dict[str, Any]) -> list[VerificationProblem]:
    summary = scan_pain001(path)
    if summary.errors:
        return [_problem(VerificationCode.FILE_UNPARSEABLE, error.field or "file",
                         f"{error.code}: {error.message}") for error in summary.errors]
    problems: list[VerificationProblem] = []
    if manifest["msg_id"] != summary.msg_id:
        problems.append(_problem(VerificationCode.MSG_ID_MISMATCH, "msg_id",
                                 f"manifest MsgId {manifest['msg_id']!r} but the file's "
                                 f"GrpHdr has {summary.msg_id!r}"))
    for name, in_file in (("nb_of_txs", summary.nb_of_txs), ("ctrl_sum", summary.ctrl_sum)):
        if manifest[name] != in_file:
            problems.append(_problem(VerificationCode.MANIFEST_TOTALS_MISMATCH, name,
                                     f"manifest {name} {manifest[name]} but the file's "
                                     f"GrpHdr says {in_file}"))
    return problems + file_totals_problems(summary)


def file_totals_problems(summary: FileHeaderSummary) -> list[VerificationProblem]:
    """Compare what a pain.001 announces (GrpHdr and each PmtInf) with what it contains."""
    announced = [("GrpHdr", summary.nb_of_txs, summary.ctrl_sum, summary.counted_txs,
                  summary.counted_sum)]
    announced += [(f"PmtInf {info.payment_info_id}", info.nb_of_txs, info.ctrl_sum,
                   info.counted_txs, info.counted_sum) for info in summary.payment_infos]
    problems = []
    for where, count, total, counted, summed in announced:
        # NbOfTxs is mandatory in GrpHdr; the optional PmtInf figures are checked when present.
        if (count is not None or where == "GrpHdr") and count != counted:
            problems.append(_problem(VerificationCode.FILE_TOTALS_MISMATCH, f"{where}/NbOfTxs",
                                     f"{where} announces {count} transactions, "
                                     f"the file holds {counted}"))
        if total is not None and total != summed:
            problems.append(_problem(VerificationCode.FILE_TOTALS_MISMATCH, f"{where}/CtrlSum",
                                     f"{where} announces {total} dong, "
                                     f"its transactions sum to {summed}"))
    return problems


__all__ = [
    "MANIFEST_VERSION",
    "SIGNATURE_ENCODING",
    "VerificationCode",
    "VerificationProblem",
    "file_totals_problems",
    "verify_file",
    "write_manifest",
]
