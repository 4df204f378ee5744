"""Detached signatures and manifests for payment files, and their verification.

A payment file ``F`` travels with ``F.sig`` and ``F.manifest.json``:

* ``F.sig`` holds the **raw** signature bytes over the exact bytes of ``F`` (no PEM, no base64,
  no ASN.1 wrapper): 64 bytes for Ed25519 (PureEdDSA, what ``openssl pkeyutl -verify -rawin``
  checks), the modulus length for RSA-PSS-SHA256 (MGF1-SHA256, salt length 32, what
  ``openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -verify``
  checks).
* ``F.manifest.json`` (UTF-8, sorted keys) states the file's SHA-256, size, MsgId, NbOfTxs,
  CtrlSum, batch id and hash, key id and algorithm.

``verify_file`` checks the signature, the manifest against the bytes, and, for pain.001, the
manifest against the group header and the header against the transactions actually in the
file. The manifest itself is not signed: a forged manifest is caught only where it disagrees
with the signed file.

Ed25519 signs the whole message, not a digest, so files are memory-mapped rather than read
into Python objects; RSA-PSS signs a SHA-256 computed while streaming.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from disburse.payment_files.model import SignatureAlg
from disburse.payment_files.parse import FileHeaderSummary, scan_pain001

PrivateKey = Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = Ed25519PublicKey | rsa.RSAPublicKey

MANIFEST_VERSION = 1
SIGNATURE_ENCODING = "raw"
_PSS_SALT_LENGTH = 32  # equal to the SHA-256 digest length, as banks' HSMs expect
_READ_CHUNK = 1 << 20
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


# --- keys -----------------------------------------------------------------------------------


def generate_ed25519() -> Ed25519PrivateKey:
    """Return a new Ed25519 private key (the default signing algorithm)."""
    return Ed25519PrivateKey.generate()


def generate_rsa(bits: int = 3072) -> rsa.RSAPrivateKey:
    """Return a new RSA private key for banks that verify RSA-PSS-SHA256."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_key_pem(public_key: PublicKey) -> bytes:
    """Return ``public_key`` as a PEM SubjectPublicKeyInfo (what ``openssl -pubin`` reads)."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_key_pem(private_key: PrivateKey, password: bytes | None = None) -> bytes:
    """Return ``private_key`` as PKCS#8 PEM, encrypted when ``password`` is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password
        else serialization.NoEncryption()
    )
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def load_public_key_pem(data: bytes) -> PublicKey:
    """Load an Ed25519 or RSA public key from PEM.

    Raises:
        ValueError: the PEM is malformed or holds another kind of key.
    """
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey | rsa.RSAPublicKey):
        raise ValueError(f"unsupported public key type {type(key).__name__}")
    return key


def load_private_key_pem(data: bytes, password: bytes | None = None) -> PrivateKey:
    """Load an Ed25519 or RSA private key from PEM.

    Raises:
        ValueError: the PEM is malformed, the password wrong, or the key of another kind.
    """
    key = serialization.load_pem_private_key(data, password)
    if not isinstance(key, Ed25519PrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def key_id_for(public_key: PublicKey) -> str:
    """Return the first 16 hex digits of the SHA-256 of the key's DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def alg_for(key: PrivateKey | PublicKey) -> SignatureAlg:
    """Return the only algorithm this project uses with ``key``'s type."""
    if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        return SignatureAlg.ED25519
    return SignatureAlg.RSA_PSS_SHA256


# --- paths ----------------------------------------------------------------------------------


def signature_path(path: Path) -> Path:
    """Return where the detached signature of ``path`` lives: ``<name>.sig``."""
    return path.with_name(path.name + ".sig")


def manifest_path(path: Path) -> Path:
    """Return where the manifest of ``path`` lives: ``<name>.manifest.json``."""
    return path.with_name(path.name + ".manifest.json")


# --- signing --------------------------------------------------------------------------------


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=_PSS_SALT_LENGTH)


def file_sha256(path: Path) -> tuple[str, int]:
    """Return the hex SHA-256 and the size of the file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@contextmanager
def _mapped(path: Path) -> Iterator[bytes | memoryview]:
    """Give the file's bytes without copying them into the Python heap."""
    with path.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            yield b""  # an empty file cannot be mapped
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped, \
                memoryview(mapped) as view:  # released before the map closes
            yield view


def sign_file(
    path: Path,
    private_key: PrivateKey,
    *,
    key_id: str,
    alg: SignatureAlg | str = SignatureAlg.ED25519,
) -> Path:
    """Sign the exact bytes of ``path`` and write the raw signature to ``<name>.sig``.

    Args:
        path: the payment file, complete and closed.
        private_key: an Ed25519 key for ``ed25519``, an RSA key for ``rsa-pss-sha256``.
        key_id: the id the manifest will name; must be ``key_id_for`` of the public key, so a
            manifest can never point at a key other than the one that signed.
        alg: the bank's signature algorithm.

    Returns:
        The path of the signature file.

    Raises:
        ValueError: ``alg`` does not fit the key, or ``key_id`` is not this key's id.
    """
    alg = SignatureAlg(alg)
    if alg_for(private_key) is not alg:
        raise ValueError(f"a {type(private_key).__name__} cannot sign with {alg}")
    if key_id != key_id_for(private_key.public_key()):
        raise ValueError(f"key_id {key_id!r} is not the id of this key")
    if isinstance(private_key, Ed25519PrivateKey):
        with _mapped(path) as data:
            signature = private_key.sign(data)
    else:
        digest = bytes.fromhex(file_sha256(path)[0])
        signature = private_key.sign(digest, _pss(), Prehashed(hashes.SHA256()))
    return _write_atomically(signature_path(path), signature)


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
    return _write_atomically(manifest_path(path), text.encode("utf-8"))


def _write_atomically(target: Path, data: bytes) -> Path:
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, target)
    return target


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
    signature = sig_path.read_bytes()
    try:
        if isinstance(public_key, Ed25519PublicKey):
            with _mapped(path) as data:
                public_key.verify(signature, data)
        else:
            digest = bytes.fromhex(file_sha256(path)[0])
            public_key.verify(signature, digest, _pss(), Prehashed(hashes.SHA256()))
    except InvalidSignature:
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
    "PrivateKey",
    "PublicKey",
    "VerificationCode",
    "VerificationProblem",
    "alg_for",
    "file_sha256",
    "file_totals_problems",
    "generate_ed25519",
    "generate_rsa",
    "key_id_for",
    "load_private_key_pem",
    "load_public_key_pem",
    "manifest_path",
    "private_key_pem",
    "public_key_pem",
    "sign_file",
    "signature_path",
    "verify_file",
    "write_manifest",
]
