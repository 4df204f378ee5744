"""What the simulated bank does with a submitted payment file, independent of HTTP.

``SubmissionDesk.receive`` is the whole rule set for one upload:

1. The MsgId already accepted with the same bytes: a retry. Answer 200 with the original
   receipt (byte for byte) and process nothing.
2. The same bytes already refused under this MsgId: answer the stored refusal again.
3. The MsgId already accepted with other bytes: refuse with DUPL (409) and a pain.002.
4. The detached signature, the manifest or the XSD fails, or the Idempotency-Key is not the
   file's MsgId: refuse the whole file with FF01 (422) and a pain.002. A refused file never
   claims its MsgId, so a forged upload cannot block the genuine file.
5. Otherwise accept (202): decide every transaction from the book, store a signed pain.002
   at once and a signed camt.054 of the accepted ones after the configured delay.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from sqlite3 import Connection
from typing import Any, Final
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from disburse.core.private_files import write_atomically
from disburse.core.signing import (
    PublicKey,
    load_private_key_pem,
    private_key_pem,
    public_key_pem,
)
from disburse.entry.banksim.book import AccountBook
from disburse.entry.banksim.decide import (
    DUPLICATE,
    INVALID_FILE,
    Decision,
    Outcome,
    decide_lines,
    file_reference,
    return_reference,
    transaction_reference,
)
from disburse.entry.banksim.returns import (
    PaymentBlock,
    ReceivedFile,
    StatusLine,
    write_camt054_booked,
    write_camt054_return,
    write_pain002_rejection,
    write_pain002_status,
)
from disburse.entry.banksim.store import (
    BankStore,
    Rejection,
    ReturnFileRow,
    StoredTransaction,
    Submission,
)
from disburse.payments.payment_files.manifest import verify_file
from disburse.payments.payment_files.parse import FileHeaderSummary, ParsedLine, parse_pain001
from disburse.payments.payment_files.parse import validate_pain001 as validate_pain001_xsd

_BUSINESS_ZONE: Final = ZoneInfo("Asia/Ho_Chi_Minh")
_SAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]")
_DEFAULT_UPLOAD_NAME: Final = "payment-file.xml"
_MAX_PROBLEMS: Final = 10


class ReturnKind:
    """The kinds of return file (values of ``kind`` in the return-file list)."""

    PAIN002: Final = "pain002"
    CAMT054: Final = "camt054"


@dataclass(frozen=True)
class BankConfig:
    """Everything the simulator is started with.

    Attributes:
        bank_bin: the simulated bank's NAPAS BIN.
        book: the account book.
        service_key: the public key the service signs payment files with.
        token: the bearer token clients must send, or ``None`` for no authentication.
        camt_delay: seconds between accepting a file and its camt.054 becoming available.
        faults: enable ``/v1/_faults`` and ``/v1/_admin/return-payment`` (tests only).
        bin_for_bic: BIN of each known BIC, for files naming banks by BICFI.
    """

    bank_bin: str
    book: AccountBook
    service_key: PublicKey
    token: str | None = None
    camt_delay: float = 0.0
    faults: bool = False
    bin_for_bic: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The HTTP answer to one upload: status, JSON body, and whether it is a replay."""

    http_status: int
    body: str
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class ReturnRefusal:
    """Why a settled payment cannot be returned: HTTP status, problem slug, detail."""

    status: int
    slug: str
    detail: str


def utc_now() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def problem_body(status: int, slug: str, title: str, detail: str, **extra: Any) -> str:
    """Return the text of an RFC 9457 problem document (stored so replays are identical)."""
    payload = {"type": f"urn:banksim:problem:{slug}", "title": title, "status": status,
               "detail": detail, **extra}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def load_or_create_bank_key(key_dir: Path, bank_bin: str) -> Ed25519PrivateKey:
    """Return the bank's Ed25519 signing key, creating it in ``key_dir`` the first time.

    The private key is ``banksim-<BIN>.key.pem`` (PKCS#8, mode 0600) and its public half
    ``banksim-<BIN>.pub.pem``.
    """
    key_dir.mkdir(parents=True, exist_ok=True)
    private_path = key_dir / f"banksim-{bank_bin}.key.pem"
    if private_path.exists():
        key = load_private_key_pem(private_path.read_bytes())
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{private_path} is not an Ed25519 key")
    else:
        key = Ed25519PrivateKey.generate()
        write_atomically(private_path, private_key_pem(key), exclusive=True)
    write_atomically(key_dir / f"banksim-{bank_bin}.pub.pem", public_key_pem(key.public_key()),
                     mode=0o644)
    return key


def _upload_name(manifest: bytes | None) -> str:
    """The name the manifest gives the file (it must match), or a neutral default."""
    try:
        name = json.loads(manifest or b"").get("file")
    except (ValueError, AttributeError):
        return _DEFAULT_UPLOAD_NAME
    if isinstance(name, str) and name == Path(name).name and name not in ("", ".", ".."):
        return name[:200]
    return _DEFAULT_UPLOAD_NAME


def _content_problems(msg_id: str, summary: FileHeaderSummary,
                      lines: list[ParsedLine]) -> list[str]:
    problems = [f"{error.code}: {error.message}" for error in summary.errors]
    if summary.msg_id != msg_id:
        problems.append(f"Idempotency-Key {msg_id!r} is not the file's MsgId "
                        f"{summary.msg_id!r}")
    problems += [f"transaction {line.end_to_end_id!r}: amount must be whole VND above zero"
                 for line in lines if not line.amount or line.currency != "VND"]
    return problems


def _blocks(summary: FileHeaderSummary, lines: list[StatusLine]) -> tuple[PaymentBlock, ...]:
    """Split the file's transactions back into their PmtInf blocks by the counts read."""
    blocks, start = [], 0
    for info in summary.payment_infos:
        end = start + info.counted_txs
        blocks.append(PaymentBlock(info.payment_info_id or "NOTPROVIDED",
                                   tuple(lines[start:end])))
        start = end
    return tuple(blocks)


class SubmissionDesk:
    """Receives payment files, answers status queries and returns settled payments."""

    def __init__(self, config: BankConfig, store: BankStore,
                 bank_key: Ed25519PrivateKey) -> None:
        """Bind the desk to a configuration, a store and the bank's signing key."""
        self.config = config
        self.store = store
        self._key = bank_key

    @property
    def bank_public_key(self) -> Ed25519PublicKey:
        """The key that verifies the bank's return files."""
        return self._key.public_key()

    # --- receiving --------------------------------------------------------------------------

    def receive(self, msg_id: str, content: bytes, signature: bytes | None,
                manifest: bytes | None, *, duplicate_returns: bool = False) -> Answer:
        """Handle one upload (see the module docstring for the rules, in order)."""
        sha256 = hashlib.sha256(content).hexdigest()
        with self.store.lock:
            accepted = self.store.submission(msg_id)
            if accepted is not None and accepted.sha256 == sha256:
                self.store.bump("replays")
                return Answer(200, accepted.receipt, replayed=True)
            refused = self.store.rejection(msg_id, sha256)
            if refused is not None:
                self.store.bump("replays")
                return Answer(refused.http_status, refused.body, replayed=True)
            if accepted is not None:
                detail = (f"MsgId {msg_id} was accepted at {accepted.received_at} with other "
                          f"bytes (sha256 {accepted.sha256})")
                return self._refuse(msg_id, sha256, DUPLICATE, detail, [],
                                    duplicate_returns=duplicate_returns)
            problems = self._problems(msg_id, content, signature, manifest)
            if problems:
                return self._refuse(msg_id, sha256, INVALID_FILE, problems[0], problems,
                                    duplicate_returns=duplicate_returns)
            return self._accept(msg_id, content, sha256, duplicate_returns=duplicate_returns)

    def _problems(self, msg_id: str, content: bytes, signature: bytes | None,
                  manifest: bytes | None) -> list[str]:
        """Everything wrong with the upload: signature and manifest first, then the XSD."""
        with tempfile.TemporaryDirectory(prefix="banksim-") as workdir:
            path = Path(workdir) / _upload_name(manifest)
            path.write_bytes(content)
            if signature is not None:
                path.with_name(path.name + ".sig").write_bytes(signature)
            if manifest is not None:
                path.with_name(path.name + ".manifest.json").write_bytes(manifest)
            problems = [f"{problem.code}: {problem.message}"
                        for problem in verify_file(path, self.config.service_key)]
        if problems:
            return problems  # an unauthenticated file is not parsed any further
        schema_errors = validate_pain001_xsd(content)
        if schema_errors:
            return [f"schema: {error}" for error in schema_errors]
        summary, lines = parse_pain001(content)
        return _content_problems(msg_id, summary, lines)

    def _refuse(self, msg_id: str, sha256: str, reason: str, detail: str,
                problems: list[str], *, duplicate_returns: bool) -> Answer:
        now = utc_now()
        http_status, slug, title = ((409, "duplicate-msg-id", "Duplicate MsgId")
                                    if reason == DUPLICATE
                                    else (422, "file-rejected", "Payment file rejected"))
        report_id = "RJ" + hashlib.sha256(f"{msg_id}\n{sha256}".encode()).hexdigest()[:20]
        report = write_pain002_rejection(msg_id, reason, detail, report_id=report_id.upper(),
                                         created_at=now, bank_bin=self.config.bank_bin)
        with self.store.transaction() as db:
            name = self._add_return(db, ReturnKind.PAIN002, msg_id, report, now, time.time(),
                                    duplicate=duplicate_returns)
            body = problem_body(http_status, slug, title, detail, msg_id=msg_id, reason=reason,
                                return_file=name, problems=problems[:_MAX_PROBLEMS])
            self.store.record_rejection(db, Rejection(msg_id, sha256, reason, http_status, body,
                                                      now.isoformat()))
        self.store.bump("rejected")
        return Answer(http_status, body)

    def _accept(self, msg_id: str, content: bytes, sha256: str, *,
                duplicate_returns: bool) -> Answer:
        now = utc_now()
        summary, parsed = parse_pain001(content)
        decisions = decide_lines(self.config.book, parsed, self.config.bin_for_bic or {})
        bank_bin = self.config.bank_bin
        lines = [StatusLine(line.end_to_end_id or "NOTPROVIDED", line.amount or 0,
                            line.creditor_name or "", line.creditor_account, decision,
                            transaction_reference(bank_bin, msg_id, index))
                 for index, (line, decision) in enumerate(zip(parsed, decisions, strict=True))]
        debtor = summary.payment_infos[0].debtor_account if summary.payment_infos else None
        received = ReceivedFile(msg_id, summary.created_at, debtor or "NOTPROVIDED",
                                _blocks(summary, lines))
        reference = file_reference(bank_bin, msg_id)
        accepted = sum(decision.accepted for decision in decisions)
        receipt = json.dumps({
            "msg_id": msg_id, "status": "accepted", "received_at": now.isoformat(),
            "transactions": len(lines), "bank_reference": reference,
            "accepted": accepted, "rejected": len(lines) - accepted, "sha256": sha256,
        }, ensure_ascii=False, separators=(",", ":"))
        with self.store.transaction() as db:
            self.store.record_submission(
                db, Submission(msg_id, sha256, now.isoformat(), reference, received.debtor_account,
                               len(lines), receipt), content, self._stored(received))
            self._add_accept_returns(db, received, reference, now, duplicate_returns)
        self.store.bump("processed")
        return Answer(202, receipt)

    def _stored(self, received: ReceivedFile) -> list[StoredTransaction]:
        return [StoredTransaction(received.msg_id, index, block.payment_info_id,
                                  line.end_to_end_id, line.amount, line.creditor_name,
                                  line.account or "", line.decision.outcome,
                                  line.decision.reason, line.bank_reference, None)
                for index, (block, line) in enumerate(
                    (block, line) for block in received.blocks for line in block.lines)]

    def _add_accept_returns(self, db: Connection, received: ReceivedFile, reference: str,
                            now: datetime, duplicate: bool) -> None:
        report = write_pain002_status(received, report_id=f"STS{reference}", created_at=now,
                                      bank_bin=self.config.bank_bin)
        self._add_return(db, ReturnKind.PAIN002, received.msg_id, report, now, time.time(),
                         duplicate=duplicate)
        delay = self.config.camt_delay
        booked_at = now + timedelta(seconds=delay)
        notice = write_camt054_booked(received, notification_id=f"NTF{reference}",
                                      created_at=booked_at,
                                      booking_date=_business_date(booked_at))
        if notice is not None:
            self._add_return(db, ReturnKind.CAMT054, received.msg_id, notice, booked_at,
                             time.time() + delay, duplicate=duplicate)

    def _add_return(self, db: Connection, kind: str, msg_id: str, content: bytes,
                    created_at: datetime, available_at: float, *, duplicate: bool) -> str:
        """Sign and store a return file (twice, under two names, when duplicating)."""
        signature = self._key.sign(content)
        sha256 = hashlib.sha256(content).hexdigest()
        names = []
        for _copy in range(2 if duplicate else 1):
            seq = self.store.next_return_seq(db)
            name = f"{seq:06d}-{kind}-{_SAFE_NAME.sub('_', msg_id)}.xml"
            self.store.add_return_file(
                db, ReturnFileRow(seq, name, kind, sha256, created_at.isoformat(), available_at,
                                  None), content, signature)
            names.append(name)
        return names[0]

    # --- status and returns -----------------------------------------------------------------

    def status(self, msg_id: str) -> dict[str, Any]:
        """Return what the bank knows of a MsgId: accepted, rejected or unknown_msg_id."""
        accepted = self.store.submission(msg_id)
        if accepted is not None:
            receipt: dict[str, Any] = json.loads(accepted.receipt)
            return receipt
        refused = self.store.rejection(msg_id)
        if refused is not None:
            return {"msg_id": msg_id, "status": "rejected", "reason": refused.reason,
                    "received_at": refused.received_at, "sha256": refused.sha256}
        return {"msg_id": msg_id, "status": "unknown_msg_id"}

    def return_payment(self, end_to_end_id: str, reason: str) -> dict[str, Any] | ReturnRefusal:
        """Return a settled payment to the disbursement account with ``reason``.

        Returns:
            ``{"name", "end_to_end_id", "reason", "bank_reference"}`` of the camt.054 made,
            or why it cannot be done (unknown, rejected or already returned payment).
        """
        with self.store.lock:
            found = self.store.transaction_by_end_to_end_id(end_to_end_id)
            if found is None:
                return ReturnRefusal(404, "payment-not-found",
                                     f"no accepted file has EndToEndId {end_to_end_id!r}")
            if found.outcome != Outcome.ACCEPTED or found.returned_reason is not None:
                state = found.returned_reason and f"returned ({found.returned_reason})"
                return ReturnRefusal(409, "payment-not-settled",
                                     f"payment {end_to_end_id} was {state or found.reason}")
            submission = self.store.submission(found.msg_id)
            assert submission is not None  # a transaction always has its file
            return self._book_return(found, submission.debtor_account, reason)

    def _book_return(self, found: StoredTransaction, debtor_account: str,
                     reason: str) -> dict[str, Any]:
        now = utc_now()
        line = StatusLine(found.end_to_end_id, found.amount, found.creditor_name,
                          found.account or None, Decision(Outcome.ACCEPTED),
                          found.bank_reference)
        reference = return_reference(found.bank_reference)
        notice = write_camt054_return(
            found.msg_id, line, reason, debtor_account=debtor_account,
            return_reference=reference, notification_id=f"RTN{reference}"[:35],
            created_at=now, booking_date=_business_date(now))
        with self.store.transaction() as db:
            self.store.mark_returned(db, found.msg_id, found.idx, reason)
            name = self._add_return(db, ReturnKind.CAMT054, found.msg_id, notice, now,
                                    time.time(), duplicate=False)
        return {"name": name, "end_to_end_id": found.end_to_end_id, "reason": reason,
                "bank_reference": reference}


def _business_date(moment: datetime) -> date:
    """The business date (Asia/Ho_Chi_Minh) of an instant."""
    return moment.astimezone(_BUSINESS_ZONE).date()
