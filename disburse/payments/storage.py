"""Where signed payment files live on disk, beside their signature and manifest.

One home for the layout, so the writer's callers, the downloads, the outbox and the bank API
find the same files: ``<data_dir>/payment_files/<batch_id>/<file_name>``.

Files written somewhere else (``disburse batch files --out DIR``) are copied into this store
by ``stage_payment_files``, each checked first (the SHA-256 recorded when it was signed, the
detached signature and the manifest); before sending, ``check_stored_files`` checks the store
the same way, so the outbox sends exactly the bytes that were signed and recorded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from disburse.core import signing
from disburse.core.errors import Conflict
from disburse.core.private_files import file_sha256, private_dir, write_atomically
from disburse.core.signing import SignatureAlg
from disburse.core.signing_keys import load_public_key
from disburse.payments.file_checks import verify_payment_file
from disburse.payments.models import PaymentFile


def payment_files_root(data_dir: Path) -> Path:
    """Return where signed payment files live: ``<data_dir>/payment_files/<batch_id>/``."""
    return data_dir / "payment_files"


def payment_file_path(payment_file: PaymentFile, files_root: Path) -> Path:
    """Return the path of a recorded payment file.

    ``file_name`` is taken as is when absolute, else under ``<files_root>/<batch_id>/``.
    """
    name = Path(payment_file.file_name)
    return name if name.is_absolute() else files_root / str(payment_file.batch_id) / name


def file_problems(path: Path, payment_file: PaymentFile, key_dir: Path) -> list[str]:
    """Return what is wrong with ``path`` as the signed file ``payment_file`` (empty: intact).

    The bytes must have the SHA-256 recorded when the file was signed, and the detached
    signature, the manifest and the totals must hold (``verify_payment_file``) under the
    service's public key for the manifest's algorithm.
    """
    if not path.is_file():
        return [f"{path} is missing"]
    if file_sha256(path)[0] != payment_file.sha256:
        return [f"{path} is not the signed file {payment_file.msg_id} (SHA-256 differs)"]
    public_key = load_public_key(key_dir, _manifest_alg(path))
    return [f"{path.name}: {problem.code.value} [{problem.field}]: {problem.message}"
            for problem in verify_payment_file(path, public_key)]


def _manifest_alg(path: Path) -> SignatureAlg:
    """The manifest's algorithm; Ed25519 when it cannot be read (the check then says why)."""
    try:
        manifest = json.loads(signing.manifest_path(path).read_text(encoding="utf-8"))
        return SignatureAlg(manifest["alg"])
    except (OSError, ValueError, KeyError, TypeError):
        return SignatureAlg.ED25519


def stage_payment_files(files: Sequence[PaymentFile], source_dir: Path, files_root: Path,
                        key_dir: Path) -> int:
    """Copy signed files from ``source_dir`` into the store, each checked before it is copied.

    The signature and the manifest are put in place before the file itself, so a reader that
    finds the file finds them complete. A file already in the store with the recorded
    SHA-256 is left as it is. Nothing is copied unless every file checks.

    Returns:
        How many files were copied.

    Raises:
        Conflict: a file is missing from ``source_dir`` or is not the signed, recorded one.
    """
    sources = [(f, source_dir / Path(f.file_name).name) for f in files]
    problems = [p for f, source in sources for p in file_problems(source, f, key_dir)]
    if problems:
        raise Conflict("the payment files cannot be taken from "
                       f"{source_dir}: " + "; ".join(problems))
    copied = 0
    for payment_file, source in sources:
        target = payment_file_path(payment_file, files_root)
        if target.is_file() and file_sha256(target)[0] == payment_file.sha256 and \
                not file_problems(target, payment_file, key_dir):
            continue
        private_dir(target.parent)
        for made in (signing.signature_path, signing.manifest_path):
            write_atomically(made(target), made(source))
        write_atomically(target, source)
        copied += 1
    return copied


def check_stored_files(files: Sequence[PaymentFile], files_root: Path, key_dir: Path) -> None:
    """Check that the store holds every file exactly as signed, before any is sent.

    Raises:
        Conflict: a file is missing from the store or fails its checks; the message says how
            to put it there.
    """
    problems = [p for f in files
                for p in file_problems(payment_file_path(f, files_root), f, key_dir)]
    if problems:
        raise Conflict("the signed payment files are not in the service's store: "
                       + "; ".join(problems) + " (write them again with `disburse batch "
                       "files BATCH_ID`, or give --files-dir DIR where they were written)")


__all__ = ["check_stored_files", "file_problems", "payment_file_path", "payment_files_root",
           "stage_payment_files"]
