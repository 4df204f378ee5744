"""Signed checkpoints of the audit chain's head.

The keyed chain (``disburse.core.audit``) stops anyone without the audit key from rewriting entries,
but not from cutting off the newest ones and moving ``audit_head`` back to an older entry. A
checkpoint fixes the head at a moment: its sequence number, its entry hash and the time, signed
with the service's Ed25519 signing key. ``check`` then proves the chain still holds that entry
with that hash; a truncated or rewritten tail cannot.

The file is JSON: ``{"checkpoint": {...}, "signature": "<base64 Ed25519 signature>"}``, the
signature over the canonical JSON (sorted keys, no spaces) of ``checkpoint``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from disburse.core.audit import AuditEntry, chain_head
from disburse.core.clock import utcnow
from disburse.core.errors import ConfigurationError, ValidationFailed
from disburse.core.keyring import Keyring
from disburse.core.private_files import write_atomically

FORMAT: Final = "disburse-audit-checkpoint/1"
#: A checkpoint is a few hundred bytes; anything much larger is not one.
MAX_FILE_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at a moment, and which signing key vouches for it."""

    seq: int
    entry_hash: str
    at: datetime
    key_id: str

    def body(self) -> dict[str, Any]:
        """Return the signed fields as JSON-ready values."""
        return {"format": FORMAT, "seq": self.seq, "entry_hash": self.entry_hash,
                "at": self.at.isoformat(), "key_id": self.key_id}


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def take(session: Session, key_id: str) -> Checkpoint:
    """Return a checkpoint of the chain's current head."""
    seq, entry_hash = chain_head(session)
    return Checkpoint(seq, entry_hash, utcnow(), key_id)


def sign(checkpoint: Checkpoint, private_key: Ed25519PrivateKey) -> bytes:
    """Return the signed checkpoint file's content."""
    body = checkpoint.body()
    signature = base64.b64encode(private_key.sign(_canonical(body))).decode("ascii")
    return json.dumps({"checkpoint": body, "signature": signature}, indent=2).encode() + b"\n"


def write(path: Path, data: bytes) -> Path:
    """Write a checkpoint file (owner-only), creating its directory; return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return write_atomically(path, data)


def default_path(data_dir: Path, checkpoint: Checkpoint) -> Path:
    """Return where a checkpoint is kept in the data directory (one file per checkpoint)."""
    stamp = checkpoint.at.strftime("%Y%m%dT%H%M%S%fZ")
    return data_dir / "audit" / "checkpoints" / f"checkpoint-{stamp}-seq{checkpoint.seq}.json"


def read(path: Path, public_key: Ed25519PublicKey, key_id: str) -> Checkpoint:
    """Read a checkpoint file and check its signature with the service's public key.

    Raises:
        ValidationFailed: not a checkpoint, or its signature does not hold.
    """
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValidationFailed(f"{path.name} is too large to be an audit checkpoint")
        document = json.loads(path.read_bytes())
        body, signature = document["checkpoint"], base64.b64decode(document["signature"],
                                                                   validate=True)
        checkpoint = Checkpoint(int(body["seq"]), str(body["entry_hash"]),
                                datetime.fromisoformat(body["at"]), str(body["key_id"]))
    except OSError as error:
        raise ValidationFailed(f"cannot read {path.name}: {error.strerror}") from None
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ValidationFailed(f"{path.name} is not an audit checkpoint file") from None
    if body.get("format") != FORMAT or checkpoint.body() != body:
        raise ValidationFailed(f"{path.name} is not an audit checkpoint file ({FORMAT})")
    if checkpoint.key_id != key_id:
        raise ValidationFailed(f"{path.name} was signed by key {checkpoint.key_id}, "
                               f"not by this service's key {key_id}")
    try:
        public_key.verify(signature, _canonical(body))
    except InvalidSignature:
        raise ValidationFailed(f"the signature of {path.name} does not hold: "
                               "the checkpoint was altered") from None
    return checkpoint


def check(session: Session, checkpoint: Checkpoint) -> str | None:
    """Return why the chain does not contain ``checkpoint``'s head, or None when it does."""
    if checkpoint.seq == 0:
        return None  # taken of an empty chain: any chain extends it
    found = session.execute(select(AuditEntry.entry_hash)
                            .where(AuditEntry.seq == checkpoint.seq)).scalar_one_or_none()
    if found is None:
        head_seq = chain_head(session)[0]
        return (f"entry {checkpoint.seq} of the checkpoint of {checkpoint.at.isoformat()} is "
                f"missing (the chain now ends at {head_seq}): entries were removed")
    if found != checkpoint.entry_hash:
        return (f"entry {checkpoint.seq} differs from the checkpoint of "
                f"{checkpoint.at.isoformat()}: the chain was rewritten")
    return None


def ed25519_private(key: object) -> Ed25519PrivateKey:
    """Return ``key`` as an Ed25519 private key (checkpoints are signed with Ed25519 only)."""
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError("the audit checkpoint needs the service's Ed25519 signing key")
    return key


def ed25519_public(key: object) -> Ed25519PublicKey:
    """Return ``key`` as an Ed25519 public key."""
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigurationError("the audit checkpoint needs the service's Ed25519 public key")
    return key


def export(session: Session, *, key_dir: Path, keyring: Keyring, data_dir: Path,
           out: Path | None = None) -> tuple[Checkpoint, Path]:
    """Take, sign and write a checkpoint of the head (to ``out``, else into ``data_dir``).

    Raises:
        ConfigurationError: the signing key is missing (run ``disburse keys init``).
    """
    from disburse.core.signing_keys import load_signing_key

    private_key, key_id = load_signing_key(key_dir, keyring)
    checkpoint = take(session, key_id)
    data = sign(checkpoint, ed25519_private(private_key))
    return checkpoint, write(out or default_path(data_dir, checkpoint), data)


def verify_file(session: Session, path: Path, *, key_dir: Path) -> tuple[Checkpoint, str | None]:
    """Check the checkpoint file ``path`` and that the chain still contains its head.

    Returns:
        The checkpoint, and why the chain does not contain it (None when it does).

    Raises:
        ValidationFailed: the file is not a checkpoint signed by this service.
    """
    from disburse.core.signing_keys import key_id_of, load_public_key

    checkpoint = read(path, ed25519_public(load_public_key(key_dir)), key_id_of(key_dir))
    return checkpoint, check(session, checkpoint)
