"""Detached signatures over the exact bytes of a file: keys, signing and checking.

A file ``F`` travels with ``F.sig``: the **raw** signature bytes over the exact bytes of ``F``
(no PEM, no base64, no ASN.1 wrapper): 64 bytes for Ed25519 (PureEdDSA, what
``openssl pkeyutl -verify -rawin`` checks), the modulus length for RSA-PSS-SHA256 (MGF1-SHA256,
salt length 32, what ``openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt
rsa_pss_saltlen:32 -verify`` checks). The manifest beside a payment file, and the checks of a
payment file against it, belong to the payments domain
(``disburse.payments.payment_files.manifest``).

Ed25519 signs the whole message, not a digest, so files are memory-mapped rather than read
into Python objects; RSA-PSS signs a SHA-256 computed while streaming.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from disburse.core.private_files import file_sha256, write_atomically

PrivateKey = Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = Ed25519PublicKey | rsa.RSAPublicKey

_PSS_SALT_LENGTH = 32  # equal to the SHA-256 digest length, as banks' HSMs expect


class SignatureAlg(StrEnum):
    """Detached-signature algorithms a bank may ask for."""

    ED25519 = "ed25519"
    RSA_PSS_SHA256 = "rsa-pss-sha256"


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
    return write_atomically(signature_path(path), signature)


# --- verification ---------------------------------------------------------------------------


def signature_valid(path: Path, signature: bytes, public_key: PublicKey) -> bool:
    """Return whether ``signature`` (raw bytes) verifies over the exact bytes of ``path``."""
    try:
        if isinstance(public_key, Ed25519PublicKey):
            with _mapped(path) as data:
                public_key.verify(signature, data)
        else:
            digest = bytes.fromhex(file_sha256(path)[0])
            public_key.verify(signature, digest, _pss(), Prehashed(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


__all__ = [
    "PrivateKey",
    "PublicKey",
    "SignatureAlg",
    "alg_for",
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
    "signature_valid",
]
