"""E-wallet adapter: one submission per transaction, idempotent per EndToEndId.

E-wallet and mobile-money providers credit wallets one by one. The adapter splits the signed
pain.001 of a route into one-transaction pain.001 messages whose MsgId *is* the EndToEndId
(unique for all time, at most 35 characters), signs each with the service key, and posts them
through the provider's HTTP API (the same contract as ``bank_adapters.http_api``, e.g. the
bank simulator started at an e-wallet BIN) with ``Idempotency-Key: <EndToEndId>``. A retry
of the whole file re-sends the same bytes under the same keys, so the provider answers each
transaction it already has with its original receipt.

The EndToEndIds of a file are written to ``<state_dir>/<msg_id>.json`` before the first
transaction leaves, so ``status(msg_id)`` can ask about every one of them:
``unknown_msg_id`` if any is unknown (a resend is safe), ``rejected`` if all were refused,
else ``accepted`` (single refusals come back through the provider's status reports).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from bank_adapters.http_api import HttpApiAdapter
from bank_adapters.protocol import (
    OutgoingFile,
    ReturnFile,
    SubmissionReceipt,
    SubmissionRefused,
    SubmissionStatus,
)
from disburse.core import signing
from disburse.core.private_files import file_sha256, make_private, private_dir, write_atomically
from disburse.payments.payment_files import manifest as file_manifest

#: Writes ``<part>.sig`` and ``<part>.manifest.json`` for a one-transaction part.
PartSigner = Callable[[Path, str, int, dict[str, Any]], None]
_PARSER: Final = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass(frozen=True)
class TransactionPart:
    """One transaction of a file as a complete one-transaction pain.001."""

    end_to_end_id: str
    amount: int
    content: bytes


def _child(parent: Any, ns: str, name: str) -> Any:
    found = parent.find(f"{{{ns}}}{name}")
    if found is None:
        raise ValueError(f"pain.001 without {name}")
    return found


def split_transactions(path: Path) -> Iterator[TransactionPart]:
    """Yield each CdtTrfTxInf of a pain.001 as its own message (MsgId = EndToEndId).

    GrpHdr and PmtInf are copied with NbOfTxs 1 and CtrlSum the transaction's amount, so
    each part is valid against the same schema.
    """
    root = etree.parse(str(path), _PARSER).getroot()
    ns = etree.QName(root).namespace or ""
    initiation = _child(root, ns, "CstmrCdtTrfInitn")
    header, info = _child(initiation, ns, "GrpHdr"), _child(initiation, ns, "PmtInf")
    transactions = info.findall(f"{{{ns}}}CdtTrfTxInf")
    for transaction in transactions:
        info.remove(transaction)
    for transaction in transactions:
        e2e = _child(_child(transaction, ns, "PmtId"), ns, "EndToEndId").text or ""
        amount = int(_child(_child(transaction, ns, "Amt"), ns, "InstdAmt").text or "0")
        _child(header, ns, "MsgId").text = e2e
        _child(info, ns, "PmtInfId").text = e2e
        for block in (header, info):
            for name, value in (("NbOfTxs", "1"), ("CtrlSum", str(amount))):
                element = block.find(f"{{{ns}}}{name}")
                if element is not None:
                    element.text = value
        info.append(copy.deepcopy(transaction))
        yield TransactionPart(e2e, amount, etree.tostring(root, xml_declaration=True,
                                                          encoding="UTF-8"))
        info.remove(info[-1])


def key_signer(private_key: signing.PrivateKey) -> PartSigner:
    """Return a signer that signs parts with ``private_key`` (deterministic for Ed25519)."""
    key_id, alg = signing.key_id_for(private_key.public_key()), signing.alg_for(private_key)

    def sign(path: Path, msg_id: str, amount: int, original: dict[str, Any]) -> None:
        sha, size = file_sha256(path)
        signing.sign_file(path, private_key, key_id=key_id, alg=alg)
        file_manifest.write_manifest(path, sha256=sha, size=size, msg_id=msg_id, nb_of_txs=1,
                                     ctrl_sum=amount, batch_id=str(original["batch_id"]),
                                     batch_hash=str(original["batch_hash"]), key_id=key_id, alg=alg,
                                     signed_at=datetime.fromisoformat(original["signed_at"]))

    return sign


class EwalletAdapter:
    """Credit wallets one transaction at a time through the provider's API."""

    def __init__(self, api: HttpApiAdapter, state_dir: Path, sign: PartSigner) -> None:
        """Create the adapter.

        Args:
            api: the provider's HTTP API (base URL, token, timeouts).
            state_dir: where the per-transaction files and the per-file index live.
            sign: signs each one-transaction part (see ``key_signer``).
        """
        self.api = api
        self.state_dir = state_dir
        self.sign = sign
        # each part names one person and their wallet number: owner-only, like payment files
        private_dir(state_dir)
        private_dir(state_dir / "parts")

    def _index(self, msg_id: str) -> Path:
        return self.state_dir / f"{msg_id}.json"

    def submit(self, payment_file: OutgoingFile) -> SubmissionReceipt:
        """Post every transaction of the file; refused ones are listed in the receipt.

        Raises:
            SubmissionRefused: every transaction was refused.
            SubmissionTimeout | BankUnavailable: a transaction's outcome is unknown (the
                whole file is retried later; done transactions answer as replays).
        """
        original = json.loads(payment_file.manifest_path.read_text(encoding="utf-8"))
        parts = list(split_transactions(payment_file.path))
        index = {"msg_id": payment_file.msg_id, "end_to_end_ids": [p.end_to_end_id
                                                                   for p in parts]}
        write_atomically(self._index(payment_file.msg_id),
                         json.dumps(index, sort_keys=True).encode("utf-8"))
        accepted: dict[str, str | None] = {}
        refused: dict[str, str] = {}
        for part in parts:
            try:
                receipt = self.api.submit(self._part_file(part, payment_file, original))
            except SubmissionRefused as error:
                refused[part.end_to_end_id] = error.code
                continue
            accepted[part.end_to_end_id] = receipt.bank_reference
        if parts and not accepted:
            raise SubmissionRefused(f"every transaction of {payment_file.msg_id} was refused",
                                    code=sorted(set(refused.values()))[0])
        return SubmissionReceipt(msg_id=payment_file.msg_id,
                                 detail={"accepted": accepted, "refused": refused})

    def _part_file(self, part: TransactionPart, whole: OutgoingFile,
                   original: dict[str, Any]) -> OutgoingFile:
        path = self.state_dir / "parts" / f"{part.end_to_end_id}.xml"
        if not path.is_file() or path.read_bytes() != part.content:
            write_atomically(path, part.content)
            self.sign(path, part.end_to_end_id, part.amount, original)
            make_private(path, signing.signature_path(path), signing.manifest_path(path))
        return OutgoingFile(path, signing.signature_path(path), signing.manifest_path(path),
                            part.end_to_end_id, whole.route)

    def status(self, msg_id: str) -> SubmissionStatus:
        """Combine the provider's answers about each transaction of ``msg_id``."""
        index = self._index(msg_id)
        if not index.is_file():
            return SubmissionStatus.UNKNOWN_MSG_ID
        ids = json.loads(index.read_text(encoding="utf-8"))["end_to_end_ids"]
        answers = {self.api.status(e2e) for e2e in ids}
        if SubmissionStatus.UNKNOWN_MSG_ID in answers or not answers:
            return SubmissionStatus.UNKNOWN_MSG_ID
        if answers == {SubmissionStatus.REJECTED}:
            return SubmissionStatus.REJECTED
        return SubmissionStatus.ACCEPTED

    def fetch_returns(self) -> list[ReturnFile]:
        """Return the provider's status reports and credit notifications."""
        return self.api.fetch_returns()

    def ack_return(self, name: str) -> None:
        """Acknowledge a return file at the provider."""
        self.api.ack_return(name)

    def health(self) -> bool:
        """Return True when the provider's API answers."""
        return self.api.health()


__all__ = ["EwalletAdapter", "PartSigner", "TransactionPart", "key_signer",
           "split_transactions"]
