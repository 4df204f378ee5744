"""Helpers that start the bank simulator (``disburse.entry.banksim``) as a real process.

The simulator runs as a child process on 127.0.0.1, started the way an operator would
(``python -m disburse.entry.banksim serve``); ``start_banksim`` waits for its "listening" line.
``write_signed_file`` writes a pain.001 with its detached signature and manifest, and
``submit`` uploads one the way the HTTP contract asks. Imported by the tests that need a bank.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import select
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import httpx

from disburse.core.signing import (
    PrivateKey,
    key_id_for,
    manifest_path,
    public_key_pem,
    sign_file,
    signature_path,
)
from disburse.payments.payment_files import BankProfile, FileHeader, PaymentLine, write_pain001
from disburse.payments.payment_files.manifest import write_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]
BANKSIM_TOKEN = "banksim-test-token"
_LISTENING = re.compile(
    r"banksim (\d{6}) listening on http://127\.0\.0\.1:(\d+) \((\d+) accounts\)")


@dataclass
class BanksimProcess:
    """A running simulator process and how to reach it."""

    process: subprocess.Popen[str]
    port: int
    accounts: int
    log: Path
    key_dir: Path
    token: str | None = BANKSIM_TOKEN

    @property
    def base_url(self) -> str:
        """The simulator's root URL."""
        return f"http://127.0.0.1:{self.port}"

    def client(self, *, token: str | None = None, timeout: float = 10.0) -> httpx.Client:
        """Return an HTTP client sending the simulator's token (or ``token``)."""
        bearer = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def stop(self) -> int | None:
        """Stop the process (SIGTERM, then SIGKILL if it lingers); return its exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def start_banksim(
    workdir: Path, *, accounts: Path, service_public_key: Path, bank_bin: str = "970415",
    token: str | None = BANKSIM_TOKEN, faults: bool = True, camt_delay: float = 0.0,
    extra: Sequence[str] = (), timeout: float = 20.0,
) -> BanksimProcess:
    """Start a simulator on a free port and wait until it listens."""
    tag = os.urandom(3).hex()
    log = workdir / f"banksim-{tag}.log"
    key_dir = workdir / "bank-keys"
    args = ["serve", "--bin", bank_bin, "--port", "0", "--accounts", str(accounts),
            "--service-public-key", str(service_public_key), "--key-dir", str(key_dir),
            "--camt-delay", str(camt_delay), "--db", str(workdir / f"banksim-{tag}.sqlite"),
            *(["--token", token] if token else []), *(["--faults"] if faults else []), *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("BANKSIM_TOKEN", None)
    with log.open("w", encoding="utf-8") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "disburse.entry.banksim", *args], stdout=subprocess.PIPE,
            stderr=err, text=True, encoding="utf-8", env=env, cwd=REPO_ROOT,
        )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else ""
    match = _LISTENING.search(line)
    if match is None:
        process.kill()
        process.wait(timeout=5)
        raise RuntimeError(f"banksim did not start: {line!r}\n{log.read_text(encoding='utf-8')}")
    return BanksimProcess(process, int(match.group(2)), int(match.group(3)), log, key_dir, token)


@dataclass
class BanksimLauncher:
    """Starts simulator processes on demand and stops every one of them at teardown."""

    workdir: Path
    started: list[BanksimProcess] = field(default_factory=list)

    def start(self, **options: object) -> BanksimProcess:
        """Start a simulator (see ``start_banksim`` for the options)."""
        server = start_banksim(self.workdir, **options)  # type: ignore[arg-type]
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        """Stop every process this launcher started."""
        for server in self.started:
            server.stop()


# --- payment files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedFile:
    """A payment file on disk with its ``.sig`` and manifest."""

    path: Path
    msg_id: str

    @property
    def content(self) -> bytes:
        """The file's bytes."""
        return self.path.read_bytes()

    @property
    def signature(self) -> bytes:
        """The raw detached signature."""
        return signature_path(self.path).read_bytes()

    @property
    def manifest(self) -> bytes:
        """The manifest JSON."""
        return manifest_path(self.path).read_bytes()


def make_header(msg_id: str, *, debtor_bin: str = "970415") -> FileHeader:
    """A plausible file header for a labour department paying pensions."""
    return FileHeader(
        msg_id=msg_id, created_at=datetime(2026, 11, 20, 1, 30, tzinfo=UTC),
        initiating_party_name="Sở LĐ-TB&XH TP. Hồ Chí Minh", initiating_party_id="SLDTBXH79",
        debtor_name="Sở Lao động - Thương binh và Xã hội", debtor_account="0011001234567",
        debtor_bin=debtor_bin, debtor_bic=None, requested_execution_date=date(2026, 11, 25),
        batch_id="B-2026-11-79", payment_info_id=f"{msg_id}-P1"[:35], category_purpose="PENS",
    )


def make_line(end_to_end_id: str, amount: int, name: str, account: str,
              bank_bin: str = "970415") -> PaymentLine:
    """One pension payment line."""
    return PaymentLine(
        end_to_end_id=end_to_end_id, amount=amount, creditor_name=name,
        creditor_account=account, creditor_bin=bank_bin, creditor_bic=None, purpose="PENS",
        remittance="pension 2026-11", province_code="79", commune_code="26734",
    )


def write_signed_file(directory: Path, key: PrivateKey, msg_id: str,
                      lines: Sequence[PaymentLine]) -> SignedFile:
    """Write a pain.001 for ``lines``, sign it and write its manifest."""
    out = io.BytesIO()
    total = sum(line.amount for line in lines)
    write_pain001(out, make_header(msg_id), lines, profile=BankProfile("test"),
                  nb_of_txs=len(lines), ctrl_sum=total)
    return write_signed_bytes(directory, key, msg_id, out.getvalue(), nb_of_txs=len(lines),
                              ctrl_sum=total)


def write_signed_bytes(directory: Path, key: PrivateKey, msg_id: str, content: bytes, *,
                       nb_of_txs: int = 1, ctrl_sum: int = 1) -> SignedFile:
    """Write any bytes as ``<msg_id>.xml``, sign them and write a manifest claiming totals."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{msg_id}.xml"
    path.write_bytes(content)
    key_id = key_id_for(key.public_key())
    sign_file(path, key, key_id=key_id)
    write_manifest(path, sha256=hashlib.sha256(content).hexdigest(), size=len(content),
                   msg_id=msg_id, nb_of_txs=nb_of_txs, ctrl_sum=ctrl_sum,
                   batch_id="B-2026-11-79", batch_hash="0" * 64, key_id=key_id, alg="ed25519",
                   signed_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    return SignedFile(path, msg_id)


def write_public_key(path: Path, key: PrivateKey) -> Path:
    """Write ``key``'s public half as PEM (what ``--service-public-key`` reads)."""
    path.write_bytes(public_key_pem(key.public_key()))
    return path


def submit(client: httpx.Client, signed: SignedFile, *, content: bytes | None = None,
           signature: bytes | None = None, with_signature: bool = True,
           msg_id: str | None = None) -> httpx.Response:
    """Upload a signed file (optionally with other bytes, another or no signature)."""
    files = {"file": (signed.path.name, content if content is not None else signed.content,
                      "application/xml"),
             "manifest": (signed.path.name + ".manifest.json", signed.manifest,
                          "application/json")}
    if with_signature:
        files["signature"] = (signed.path.name + ".sig",
                              signature if signature is not None else signed.signature,
                              "application/octet-stream")
    return client.post("/v1/payment-files", files=files,
                       headers={"Idempotency-Key": msg_id or signed.msg_id})
