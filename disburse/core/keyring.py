"""Encryption of personal data at rest, and keyed blind indexes for equality lookups.

The keyring is a directory outside the repository (mode 0700, files 0600) holding versioned
AES-256-GCM data keys and one HMAC key for blind indexes. Each ciphertext carries the version
of the key that sealed it, so ``rotate`` can add a key and re-encrypt in bulk while old
ciphertexts stay readable.

Ciphertext layout: ``b"\\x01" | version (4 bytes, big-endian) | nonce (12) | AES-GCM output``.
The field name is bound in as associated data, so a ciphertext moved to another column fails.

The directory also holds ``audit.key``: the HMAC key of the audit chain (see
``disburse.core.audit``), created by ``keys init`` (or on first use with an older keyring) and
never replaced by ``rotate``. Next to the key it records where the keyed chain begins: entries
up to ``legacy_until`` were written before the chain was keyed and are checked with plain
SHA-256, and the last of them must still have the hash ``legacy_head``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, Table, bindparam, select, update
from sqlalchemy.orm import Session

from disburse.core.errors import ConfigurationError, DomainError
from disburse.core.private_files import write_atomically

FORMAT_BYTE = b"\x01"
_MANIFEST = "keyring.json"
_INDEX_KEY = "index.key"
_AUDIT_KEY = "audit.key"


class DecryptionFailed(DomainError):
    """A ciphertext could not be opened: wrong key, wrong field, or tampering."""

    status = 500
    code = "decryption_failed"
    title = "Encrypted data cannot be read"
    title_vi = "Không đọc được dữ liệu đã mã hoá"


@dataclass(frozen=True)
class EncryptedColumn:
    """A column holding ciphertexts of ``field``, re-encrypted by ``rotate``."""

    table: Table
    primary_key: Column[object]
    column: Column[bytes]
    field: str


ENCRYPTED_COLUMNS: list[EncryptedColumn] = []


def register_encrypted_column(
    table: Table, primary_key: str, column: str, field: str
) -> None:
    """Declare that ``table.column`` holds ciphertexts of ``field`` (for bulk rotation)."""
    ENCRYPTED_COLUMNS.append(
        EncryptedColumn(table, table.c[primary_key], table.c[column], field)
    )


def _write_secret(path: Path, data: bytes) -> None:
    """Create a key file (0600) complete and durable; never replace an existing one."""
    write_atomically(path, data, exclusive=True)


def _read_secret(path: Path) -> bytes:
    if not path.exists():
        raise ConfigurationError(
            f"key file {path} is missing: run `disburse keys init` (or set DISBURSE_KEY_DIR)"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"key file {path} is readable by others (mode {mode:o}); chmod 600 it"
        )
    return base64.b64decode(path.read_bytes())


class Keyring:
    """Versioned data keys plus the blind-index key, loaded from a key directory."""

    def __init__(self, data_keys: dict[int, bytes], current: int, index_key: bytes) -> None:
        self._data_keys = data_keys
        self.current = current
        self._index_key = index_key
        # keyed once: copying a primed HMAC is far cheaper than re-keying per value
        self._index_hmac = hmac.new(index_key, digestmod=hashlib.sha256)
        self._aead = {version: AESGCM(key) for version, key in data_keys.items()}

    @classmethod
    def load(cls, key_dir: Path) -> Keyring:
        """Load the keyring from ``key_dir``.

        Raises:
            ConfigurationError: when the directory or a key is missing or too widely readable.
        """
        manifest_path = key_dir / _MANIFEST
        if not manifest_path.exists():
            raise ConfigurationError(
                f"no keyring in {key_dir}: run `disburse keys init` (or set DISBURSE_KEY_DIR)"
            )
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        keys = {int(v): _read_secret(key_dir / f"data-v{int(v)}.key") for v in manifest["versions"]}
        return cls(keys, int(manifest["current"]), _read_secret(key_dir / _INDEX_KEY))

    @staticmethod
    def init(key_dir: Path) -> Keyring:
        """Create a new keyring in ``key_dir`` (version 1); refuse to overwrite one."""
        if (key_dir / _MANIFEST).exists():
            raise ConfigurationError(f"a keyring already exists in {key_dir}; use `keys rotate`")
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(key_dir, 0o700)
        _write_secret(key_dir / _INDEX_KEY, base64.b64encode(os.urandom(32)))
        _write_secret(key_dir / "data-v1.key", base64.b64encode(AESGCM.generate_key(256)))
        _write_manifest(key_dir, [1], 1)
        return Keyring.load(key_dir)

    def add_version(self, key_dir: Path) -> Keyring:
        """Add a new data key version to ``key_dir`` and make it current."""
        version = max(self._data_keys) + 1
        _write_secret(key_dir / f"data-v{version}.key", base64.b64encode(AESGCM.generate_key(256)))
        _write_manifest(key_dir, sorted([*self._data_keys, version]), version)
        return Keyring.load(key_dir)

    def encrypt(self, field: str, plaintext: str) -> bytes:
        """Seal ``plaintext`` for ``field`` with the current key."""
        nonce = os.urandom(12)
        sealed = self._aead[self.current].encrypt(nonce, plaintext.encode("utf-8"), field.encode())
        return FORMAT_BYTE + self.current.to_bytes(4, "big") + nonce + sealed

    def decrypt(self, field: str, blob: bytes) -> str:
        """Open a ciphertext of ``field`` sealed with any known key version."""
        version = key_version(blob)
        aead = self._aead.get(version)
        if aead is None:
            raise DecryptionFailed(f"ciphertext uses key version {version}, not in the keyring")
        try:
            return aead.decrypt(blob[5:17], blob[17:], field.encode()).decode("utf-8")
        except InvalidTag:
            raise DecryptionFailed(f"ciphertext for {field} failed authentication") from None

    def blind_index(self, field: str, value: str) -> str:
        """Return the keyed HMAC-SHA256 of ``value`` for equality lookups on ``field``.

        The tag is truncated to 128 bits (32 hex characters), as HMAC-SHA256-128 is: far
        beyond collision range for any national register, and half the index size.
        """
        mac = self._index_hmac.copy()
        mac.update(field.encode() + b"\x00" + value.encode("utf-8"))
        return mac.hexdigest()[:32]

    def versions(self) -> list[int]:
        """Return the key versions this keyring can open."""
        return sorted(self._data_keys)


def key_version(blob: bytes) -> int:
    """Return the key version a ciphertext was sealed with."""
    if len(blob) < 17 + 16 or blob[:1] != FORMAT_BYTE:
        raise DecryptionFailed("not a disburse ciphertext")
    return int.from_bytes(blob[1:5], "big")


def _write_manifest(key_dir: Path, versions: list[int], current: int) -> None:
    write_atomically(key_dir / _MANIFEST,
                     json.dumps({"versions": versions, "current": current}).encode())


def reencrypt_all(
    session: Session, keyring: Keyring, *, chunk: int = 2000,
    columns: Iterable[EncryptedColumn] | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> int:
    """Re-encrypt every registered ciphertext not sealed with the current key, in chunks.

    Returns the number of values re-encrypted. Runs in the caller's transaction.
    """
    total = 0
    for target in columns if columns is not None else ENCRYPTED_COLUMNS:
        total += _reencrypt_column(session, keyring, target, chunk)
        if on_progress:
            on_progress(target.table.name + "." + target.column.name, total)
    return total


def _reencrypt_column(session: Session, keyring: Keyring, target: EncryptedColumn,
                      chunk: int) -> int:
    done, last = 0, None
    while True:
        query = select(target.primary_key, target.column).order_by(target.primary_key).limit(chunk)
        if last is not None:
            query = query.where(target.primary_key > last)
        rows = session.execute(query).all()
        if not rows:
            return done
        updates = [
            {"_pk": pk, "_blob": keyring.encrypt(target.field, keyring.decrypt(target.field, blob))}
            for pk, blob in rows
            if blob is not None and key_version(blob) != keyring.current
        ]
        if updates:
            stmt = (update(target.table)
                    .where(target.primary_key == bindparam("_pk"))
                    .values({target.column.name: bindparam("_blob")}))
            session.connection().execute(stmt, updates)
            done += len(updates)
        last = rows[-1][0]


@dataclass(frozen=True)
class AuditMacKey:
    """The audit chain's HMAC key and the switch point from the unkeyed (legacy) chain.

    Attributes:
        key: 32 random bytes keying HMAC-SHA256 of every entry after ``legacy_until``.
        legacy_until: the last sequence number written before the chain was keyed (0: none).
        legacy_head: the entry hash of entry ``legacy_until`` (the genesis hash when 0).
    """

    key: bytes
    legacy_until: int
    legacy_head: str


def audit_key_path(key_dir: Path) -> Path:
    """Return the file holding the audit chain's HMAC key in ``key_dir``."""
    return key_dir / _AUDIT_KEY


def load_audit_key(key_dir: Path) -> AuditMacKey | None:
    """Return the audit MAC key kept in ``key_dir``, or None when there is none yet.

    Raises:
        ConfigurationError: no keyring in ``key_dir``, or the key file is unreadable or too
            widely readable.
    """
    if not (key_dir / _MANIFEST).exists():
        raise ConfigurationError(
            f"no keyring in {key_dir}: run `disburse keys init` (or set DISBURSE_KEY_DIR)"
        )
    path = audit_key_path(key_dir)
    if not path.exists():
        return None
    try:
        data = json.loads(_read_secret(path))
        key = base64.b64decode(data["key"])
        found = AuditMacKey(key, int(data["legacy_until"]), str(data["legacy_head"]))
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(f"audit key file {path} is unreadable: {error}") from None
    if len(found.key) != 32 or found.legacy_until < 0:
        raise ConfigurationError(f"audit key file {path} is damaged")
    return found


def create_audit_key(key_dir: Path, *, legacy_until: int, legacy_head: str) -> AuditMacKey:
    """Create the audit MAC key in ``key_dir``; when another process won the race, load theirs.

    Args:
        key_dir: an existing keyring directory.
        legacy_until: the audit chain's last sequence number at this moment (0 when empty).
        legacy_head: that entry's hash.

    Raises:
        ConfigurationError: there is no keyring in ``key_dir``.
    """
    existing = load_audit_key(key_dir)
    if existing is not None:
        return existing
    body = {"key": base64.b64encode(os.urandom(32)).decode("ascii"),
            "legacy_until": legacy_until, "legacy_head": legacy_head}
    # Written whole under a private name, then linked into place: link() refuses an existing
    # target, so of two concurrent creators exactly one key wins and nobody reads half a file.
    temporary = key_dir / f".{_AUDIT_KEY}.{os.getpid()}.{os.urandom(4).hex()}"
    _write_secret(temporary, base64.b64encode(json.dumps(body).encode()))
    try:
        os.link(temporary, audit_key_path(key_dir))
    except FileExistsError:
        pass  # another process created it first: use theirs
    finally:
        temporary.unlink()
    created = load_audit_key(key_dir)
    if created is None:  # pragma: no cover - the file was just written or found
        raise ConfigurationError(f"audit key file {audit_key_path(key_dir)} vanished")
    return created
