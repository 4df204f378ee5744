"""The service's payment-file signing keys, kept in the key directory and sealed by the keyring.

Layout of ``<key_dir>/signing/`` (directory mode 0700), one set of files per algorithm:

* ``<alg>.key``: base64 of the keyring's AES-GCM ciphertext of the PKCS#8 PEM private key
  (field ``signing_key``), mode 0600: no plaintext ``PRIVATE KEY`` ever reaches the disk.
* ``<alg>.pub.pem``: the SubjectPublicKeyInfo PEM that banks register.
* ``<alg>.json``: the algorithm, the key id (``signing.key_id_for``) and the creation time.

Ed25519 is the default; an RSA-3072 key serves banks whose profile asks for RSA-PSS-SHA256.
Creation runs under an exclusive ``flock`` so two processes never create two different keys.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from disburse.core import signing
from disburse.core.clock import utcnow
from disburse.core.errors import ConfigurationError
from disburse.core.keyring import Keyring
from disburse.core.private_files import write_atomically
from disburse.core.signing import SignatureAlg

#: The keyring field the private keys are sealed under (bound in as AES-GCM associated data).
SIGNING_FIELD: Final = "signing_key"
SIGNING_DIR: Final = "signing"
ALGORITHMS: Final = (SignatureAlg.ED25519, SignatureAlg.RSA_PSS_SHA256)
_RSA_BITS: Final = 3072


def signing_dir(key_dir: Path) -> Path:
    """Return the directory holding the signing keys inside the key directory ``key_dir``."""
    return key_dir / SIGNING_DIR


def private_key_path(key_dir: Path, alg: SignatureAlg | str) -> Path:
    """Return the sealed private key file of ``alg``."""
    return signing_dir(key_dir) / f"{SignatureAlg(alg).value}.key"


def public_key_path(key_dir: Path, alg: SignatureAlg | str) -> Path:
    """Return the public key PEM file of ``alg``."""
    return signing_dir(key_dir) / f"{SignatureAlg(alg).value}.pub.pem"


def _meta_path(key_dir: Path, alg: SignatureAlg) -> Path:
    return signing_dir(key_dir) / f"{alg.value}.json"


def ensure_signing_keys(key_dir: Path, keyring: Keyring) -> None:
    """Create whichever signing keys (Ed25519, RSA-3072) are missing in ``key_dir``.

    Existing keys are never replaced: banks have registered their public halves.

    Args:
        key_dir: the keyring directory (the keys go to its ``signing`` sub-directory).
        keyring: seals the private keys at rest.
    """
    with _creation_lock(key_dir):
        for alg in ALGORITHMS:
            if not private_key_path(key_dir, alg).exists():
                _create(key_dir, keyring, alg)


@contextmanager
def _creation_lock(key_dir: Path) -> Iterator[None]:
    folder = signing_dir(key_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    fd = os.open(folder / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _create(key_dir: Path, keyring: Keyring, alg: SignatureAlg) -> None:
    private_key: signing.PrivateKey = (
        signing.generate_ed25519() if alg is SignatureAlg.ED25519
        else signing.generate_rsa(_RSA_BITS))
    public = private_key.public_key()
    sealed = keyring.encrypt(SIGNING_FIELD, signing.private_key_pem(private_key).decode("ascii"))
    meta = {"alg": alg.value, "key_id": signing.key_id_for(public),
            "created_at": utcnow().isoformat()}
    write_atomically(public_key_path(key_dir, alg), signing.public_key_pem(public), mode=0o644)
    write_atomically(_meta_path(key_dir, alg), json.dumps(meta, indent=2).encode() + b"\n",
                     mode=0o644)
    # The private key goes last: its presence is what marks the set as complete.
    write_atomically(private_key_path(key_dir, alg), base64.b64encode(sealed))


def load_signing_key(
    key_dir: Path, keyring: Keyring, alg: SignatureAlg | str = SignatureAlg.ED25519
) -> tuple[signing.PrivateKey, str]:
    """Open the private signing key of ``alg`` and return it with its key id.

    Raises:
        ConfigurationError: the key is missing, readable by others, cannot be opened, or does
            not match its public key and recorded key id.
    """
    alg = SignatureAlg(alg)
    path = private_key_path(key_dir, alg)
    if not path.exists():
        raise ConfigurationError(f"no {alg.value} signing key in {signing_dir(key_dir)}: "
                                 "run `disburse keys init`")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(f"signing key {path} is readable by others (mode {mode:o}); "
                                 "chmod 600 it")
    pem = keyring.decrypt(SIGNING_FIELD, base64.b64decode(path.read_bytes()))
    private_key = signing.load_private_key_pem(pem.encode("ascii"))
    key_id = signing.key_id_for(private_key.public_key())
    if signing.alg_for(private_key) is not alg or key_id != key_id_of(key_dir, alg) \
            or key_id != signing.key_id_for(load_public_key(key_dir, alg)):
        raise ConfigurationError(f"signing key {path} does not match its public key or key id")
    return private_key, key_id


def load_public_key(key_dir: Path, alg: SignatureAlg | str = SignatureAlg.ED25519
                    ) -> signing.PublicKey:
    """Return the service's public verification key of ``alg``.

    Raises:
        ConfigurationError: there is no such key.
    """
    return signing.load_public_key_pem(export_public(key_dir, alg))


def export_public(key_dir: Path, alg: SignatureAlg | str = SignatureAlg.ED25519) -> bytes:
    """Return the PEM public key of ``alg`` (what a bank registers to check our files).

    Raises:
        ConfigurationError: there is no such key.
    """
    path = public_key_path(key_dir, alg)
    if not path.exists():
        raise ConfigurationError(f"no {SignatureAlg(alg).value} signing key in "
                                 f"{signing_dir(key_dir)}: run `disburse keys init`")
    return path.read_bytes()


def key_id_of(key_dir: Path, alg: SignatureAlg | str = SignatureAlg.ED25519) -> str:
    """Return the recorded key id of the signing key ``alg``.

    Raises:
        ConfigurationError: the key's metadata is missing or unreadable.
    """
    path = _meta_path(key_dir, SignatureAlg(alg))
    try:
        key_id = json.loads(path.read_text(encoding="utf-8"))["key_id"]
    except (OSError, ValueError, KeyError) as error:
        raise ConfigurationError(f"signing key metadata {path} is unreadable: {error}") from None
    if not isinstance(key_id, str):
        raise ConfigurationError(f"signing key metadata {path} has no key id")
    return key_id
