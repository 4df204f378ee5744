"""File-exchange adapter: outbox and inbox folders per bank, the layout an SFTP job picks up.

Layout under ``<data_dir>/exchange/<bin>/``::

    outbox/   files for the bank: <name>, <name>.sig, <name>.manifest.json
    inbox/    files from the bank: <return>, <return>.sig
    archive/  inbox files we have stored (moved here by ``ack_return``)
    sent/     <msg_id>.json: our delivery receipt, written after the file is in place

Conventions both sides keep:

* Every file is written atomically (``disburse.core.private_files.write_atomically``): a
  temporary name starting with ``.`` in the same folder, fsync of the file, rename, fsync of
  the folder. A reader ignores names starting with ``.``.
* The signature and manifest are renamed into place before the payment file, so a job that
  sees ``<name>`` also finds its ``.sig`` and manifest complete.
* The bank's job refuses a file by writing ``outbox/<msg_id>.rejected`` (its first line is
  the ISO reason code); it may write ``outbox/<name>.done`` when it has taken a file.
* ``status(msg_id)``: ``rejected`` when the bank wrote a refusal, ``accepted`` when our
  delivery receipt exists, otherwise ``unknown_msg_id`` (the file never fully arrived).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from bank_adapters.protocol import (
    BankUnavailable,
    OutgoingFile,
    ReturnFile,
    SubmissionReceipt,
    SubmissionRefused,
    SubmissionStatus,
)
from disburse.core.private_files import file_sha256, replace_durably, write_atomically

FOLDERS: Final = ("outbox", "inbox", "archive", "sent")
_SKIP_SUFFIXES: Final = (".sig", ".done", ".rejected", ".manifest.json")


def exchange_root(data_dir: Path, bank_bin: str) -> Path:
    """Return ``<data_dir>/exchange/<bin>``, the folder tree shared with one bank."""
    return data_dir / "exchange" / bank_bin


class FileExchangeAdapter:
    """Deliver payment files to a bank's exchange folder and collect its return files."""

    def __init__(self, root: Path, bank_bin: str, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """Create the adapter (and its folders) for the exchange tree at ``root``.

        Args:
            root: the bank's exchange folder, usually ``exchange_root(data_dir, bin)``.
            bank_bin: the bank's BIN (stamped on the return files).
            clock: the time written on delivery receipts.
        """
        self.root = root
        self.bank_bin = bank_bin
        self._clock = clock
        for name in FOLDERS:
            (root / name).mkdir(parents=True, exist_ok=True)

    def folder(self, name: str) -> Path:
        """Return one of ``outbox``, ``inbox``, ``archive``, ``sent``."""
        return self.root / name

    def _receipt_path(self, msg_id: str) -> Path:
        return self.folder("sent") / f"{msg_id}.json"

    def submit(self, payment_file: OutgoingFile) -> SubmissionReceipt:
        """Put the file, its signature and manifest into the outbox; idempotent per MsgId.

        Raises:
            SubmissionRefused: DUPL, this MsgId was delivered before with other bytes.
            BankUnavailable: the folder could not be written (nothing counts as delivered).
        """
        sha = file_sha256(payment_file.path)[0]
        earlier = self._earlier_receipt(payment_file.msg_id, sha)
        if earlier is not None:
            return earlier
        try:
            return self._deliver(payment_file, sha)
        except OSError as error:
            raise BankUnavailable(f"cannot write to {self.root}: {error}",
                                  code="io_error") from error

    def _earlier_receipt(self, msg_id: str, sha: str) -> SubmissionReceipt | None:
        path = self._receipt_path(msg_id)
        if not path.is_file():
            return None
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored["sha256"] != sha:
            raise SubmissionRefused(f"MsgId {msg_id} was delivered before with other bytes",
                                    code="DUPL")
        return SubmissionReceipt(msg_id=msg_id, received_at=stored["received_at"],
                                 replayed=True, detail=stored)

    def _deliver(self, payment_file: OutgoingFile, sha: str) -> SubmissionReceipt:
        outbox = self.folder("outbox")
        target = outbox / payment_file.path.name
        if target.is_file() and file_sha256(target)[0] != sha:
            raise SubmissionRefused(f"{target.name} is in the outbox with other bytes",
                                    code="DUPL")
        write_atomically(outbox / payment_file.signature_path.name, payment_file.signature_path)
        write_atomically(outbox / payment_file.manifest_path.name, payment_file.manifest_path)
        write_atomically(target, payment_file.path)  # last: its presence means "complete"
        stored = {"msg_id": payment_file.msg_id, "file": target.name, "sha256": sha,
                  "route": payment_file.route, "received_at": self._clock().isoformat()}
        data = json.dumps(stored, sort_keys=True).encode("utf-8")
        write_atomically(self._receipt_path(payment_file.msg_id), data)
        return SubmissionReceipt(msg_id=payment_file.msg_id, received_at=stored["received_at"],
                                 detail=stored)

    def status(self, msg_id: str) -> SubmissionStatus:
        """Read the bank's refusal or our delivery receipt for ``msg_id``."""
        if (self.folder("outbox") / f"{msg_id}.rejected").is_file():
            return SubmissionStatus.REJECTED
        if self._receipt_path(msg_id).is_file():
            return SubmissionStatus.ACCEPTED
        return SubmissionStatus.UNKNOWN_MSG_ID

    def fetch_returns(self) -> list[ReturnFile]:
        """Return every complete file in the inbox with its ``.sig`` (None when absent)."""
        found = []
        for path in sorted(self.folder("inbox").iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            if path.name.endswith(_SKIP_SUFFIXES):
                continue
            sig = path.with_name(path.name + ".sig")
            found.append(ReturnFile(name=path.name, data=path.read_bytes(),
                                    signature=sig.read_bytes() if sig.is_file() else None,
                                    bank_bin=self.bank_bin))
        return found

    def ack_return(self, name: str) -> None:
        """Move the inbox file ``name`` (and its ``.sig``) to the archive once it is stored."""
        inbox, archive = self.folder("inbox"), self.folder("archive")
        for file_name in (name + ".sig", name):
            source = inbox / file_name
            if source.is_file():
                replace_durably(source, archive / file_name)

    def health(self) -> bool:
        """Return True when every exchange folder exists and is writable."""
        return all(os.access(self.folder(name), os.W_OK) for name in FOLDERS)


__all__ = ["FOLDERS", "FileExchangeAdapter", "exchange_root"]
