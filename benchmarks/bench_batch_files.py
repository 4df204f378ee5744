"""Write and sign the pain.001 files of a 1,000,000-instruction batch, streaming from SQLite.

Run: ``PYTHONPATH=. python -m benchmarks.bench_batch_files [--count N]``

Set-up (not measured): a fresh SQLite file is migrated, a keyring and signing keys are made,
and N pension beneficiaries with bank accounts plus an approved batch of N instructions are
bulk-inserted (Core ``executemany``), with an approval pinned to the batch digest.

Measured, each in its own child process (so peak RSS is the step's own):

* ``write``: ``write_batch_files`` end to end and the commit: approval check (the batch
  digest over every instruction), per-route aggregates, streaming the rows in seq order with
  account decryption, ``PaymentLine`` checks, the pain.001 writer, Ed25519 signature,
  manifest, linking the instructions to their file, the state change. XSD validation is off
  here (``validate=False``) and measured on its own.
* ``template``: the raw baseline: the same XML shape from a bare f-string template, for the
  same number of transactions, into a file; no database, no checks.
* ``sha256``: the other raw baseline: hashing the bytes of the written file.
* ``xsd``: ``validate_pain001`` (lxml, streaming) on the written file.

Targets from the issue: write + sign under 60 s and under 1 GiB peak RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from benchmarks.common import StepResult, Stopwatch, mib, peak_rss_bytes, run_child
from beneficiaries.models import LOCALITY_VERSION_2025, Beneficiary, ListImport
from disburse.batches.files import write_batch_files
from disburse.batches.models import Approval, Batch, Instruction, PaymentFile
from disburse.batches.routing import load_routing
from disburse.batches.state import batch_digest
from disburse.db import make_engine
from disburse.keyring import Keyring
from disburse.payment_files.parse import validate_pain001
from disburse.signing_keys import ensure_signing_keys

MODULE = "benchmarks.bench_batch_files"
CHUNK = 20_000
BINS = ("970436", "970415", "970418", "970405", "970422")
NAMES = ("Nguyễn Văn An", "Trần Thị Đào", "Lê Hữu Phúc", "Phạm Ngọc Lan", "Đặng Quốc Sơn")
APPROVED_AT = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


# --- set-up (not measured) ------------------------------------------------------------------


def _migrate(url: str) -> None:
    from alembic import command

    from migrations import alembic_config

    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    engine.dispose()


def _people(keyring: Keyring, start: int, stop: int, import_id: int,
            now: datetime) -> list[dict[str, Any]]:
    rows = []
    for n in range(start, stop):
        account = f"{n:012d}"
        rows.append({
            "id": n + 1, "programme": "pension",
            "citizen_id_enc": keyring.encrypt("citizen_id", f"079{n:09d}"),
            "citizen_id_idx": f"{n:064x}", "full_name": f"{NAMES[n % 5]} {n}",
            "date_of_birth": date(1955, 1, 1), "gender": "male", "province_code": "79",
            "commune_code": f"{26734 + n % 40}", "locality_version": LOCALITY_VERSION_2025,
            "monthly_amount": 3_000_000 + n % 1000, "channel": "bank",
            "bank_bin": BINS[n % 5], "account_enc": keyring.encrypt("account_number", account),
            "account_idx": f"{n:064x}", "status": "active", "review_flags": [],
            "source_import_id": import_id, "source_row": n + 2,
            "last_seen_import_id": import_id, "created_at": now, "updated_at": now,
            "version": 1})
    return rows


def _instructions(people: list[dict[str, Any]], batch_id: int) -> list[dict[str, Any]]:
    return [{
        "batch_id": batch_id, "beneficiary_id": p["id"], "programme": "pension",
        "period": "2026-11", "seq": p["id"], "amount": p["monthly_amount"],
        "base_amount": p["monthly_amount"], "arrears_amount": 0, "channel": "bank",
        "route": "vcb", "bank_bin": p["bank_bin"], "account_enc": p["account_enc"],
        "account_idx": p["account_idx"], "creditor_name": p["full_name"],
        "province_code": "79", "commune_code": p["commune_code"],
        "end_to_end_id": f"PENS202611-{p['id']:010d}", "state": "instructed",
        "created_at": p["created_at"]} for p in people]


def build(workdir: Path, count: int) -> tuple[str, int, float]:
    """Create the database, keys and the approved batch; return (url, batch id, seconds)."""
    url = f"sqlite:///{workdir / 'files.sqlite3'}"
    _migrate(url)
    keyring = Keyring.init(workdir / "keys")
    ensure_signing_keys(workdir / "keys", keyring)
    engine = make_engine(url)
    now = datetime.now(UTC)
    with Stopwatch() as watch:
        with engine.begin() as connection:
            import_id = connection.execute(insert(ListImport).values(
                programme="pension", file_name="bench.csv", file_sha256="0" * 64, file_size=0,
                actor="benchmark", at=now, accept_valid=True, end_missing=False,
                outcome="applied", counts={}).returning(ListImport.id)).scalar_one()
            batch_id = connection.execute(insert(Batch).values(
                programme="pension", period="2026-11", province_code="79", state="approved",
                preparer="lan", requested_execution_date=date(2026, 11, 25), count=0, total=0,
                content_hash="", exclusions={}, created_at=now, updated_at=now,
                version=1).returning(Batch.id)).scalar_one()
            for start in range(0, count, CHUNK):
                people = _people(keyring, start, min(start + CHUNK, count), import_id, now)
                connection.execute(insert(Beneficiary), people)
                connection.execute(insert(Instruction), _instructions(people, batch_id))
        with Session(engine) as session, session.begin():
            digest = batch_digest(session, batch_id)
            session.add(Approval(batch_id=batch_id, approver="minh", batch_hash=digest.sha256,
                                 count=digest.count, total=digest.total, at=APPROVED_AT))
    engine.dispose()
    return url, batch_id, watch.seconds


# --- measured steps (children) --------------------------------------------------------------


def _finish(name: str, watch: Stopwatch, rows: int, **detail: Any) -> StepResult:
    return StepResult(name, watch.seconds, watch.cpu_seconds, rows, mib(peak_rss_bytes()),
                      detail)


def step_write(url: str, key_dir: Path, batch_id: int, out: Path) -> StepResult:
    """Write and sign the batch's files through the service, commit included."""
    engine = make_engine(url)
    keyring = Keyring.load(key_dir)
    with Stopwatch() as watch, Session(engine) as session, session.begin():
        files = write_batch_files(session, keyring, batch_id, out_dir=out, actor="benchmark",
                                  routing=load_routing(), key_dir=key_dir, validate=False)
        summary = [{"file": f.file_name, "nb_of_txs": f.nb_of_txs, "size": f.size}
                   for f in files]
    with Stopwatch() as digest_watch, Session(engine) as session:
        batch_digest(session, batch_id)
    with Session(engine) as session:
        linked = session.scalar(select(PaymentFile.nb_of_txs).where(
            PaymentFile.batch_id == batch_id))
    engine.dispose()
    return _finish("write + sign (service)", watch, sum(f["nb_of_txs"] for f in summary),
                   files=summary, digest_seconds=round(digest_watch.seconds, 2),
                   linked=linked)


def step_template(count: int, out: Path) -> StepResult:
    """The raw baseline: the same XML shape from a bare f-string, no checks, no database."""
    path = out / "template.xml"
    with Stopwatch() as watch, path.open("wb") as handle:
        handle.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<Document><CstmrCdtTrfInitn>\n')
        buffer: list[str] = []
        for n in range(count):
            buffer.append(
                f"<CdtTrfTxInf><PmtId><EndToEndId>PENS202611-{n:010d}</EndToEndId></PmtId>"
                f'<Amt><InstdAmt Ccy="VND">{3_000_000 + n % 1000}</InstdAmt></Amt>'
                f"<CdtrAgt><FinInstnId><ClrSysMmbId><MmbId>{BINS[n % 5]}</MmbId></ClrSysMmbId>"
                f"</FinInstnId></CdtrAgt><Cdtr><Nm>{NAMES[n % 5]} {n}</Nm></Cdtr>"
                f"<CdtrAcct><Id><Othr><Id>{n:012d}</Id></Othr></Id></CdtrAcct>"
                "<Purp><Cd>PENS</Cd></Purp><RmtInf><Ustrd>pension 2026-11</Ustrd></RmtInf>"
                "</CdtTrfTxInf>\n")
            if len(buffer) == 4096:
                handle.write("".join(buffer).encode())
                buffer.clear()
        handle.write(("".join(buffer) + "</CstmrCdtTrfInitn></Document>\n").encode())
    return _finish("raw baseline: f-string template", watch, count,
                   size=path.stat().st_size)


def step_sha256(path: Path, count: int) -> StepResult:
    """The raw baseline: SHA-256 of the written file's bytes, 1 MiB at a time."""
    digest = hashlib.sha256()
    with Stopwatch() as watch, path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return _finish("raw baseline: sha256 of the file", watch, count, sha256=digest.hexdigest())


def step_xsd(path: Path, count: int) -> StepResult:
    """Validate the written file against the official pain.001.001.09 XSD (streaming lxml)."""
    with Stopwatch() as watch:
        errors = validate_pain001(path)
    return _finish("XSD validation (separate)", watch, count, errors=errors[:3])


def run_step(args: argparse.Namespace) -> None:
    """Child mode: run one step and save its result."""
    out = Path(args.out)
    steps = {
        "write": lambda: step_write(args.url, Path(args.key_dir), args.batch, out),
        "template": lambda: step_template(args.count, out),
        "sha256": lambda: step_sha256(Path(args.file), args.count),
        "xsd": lambda: step_xsd(Path(args.file), args.count),
    }
    steps[args.step]().save(Path(args.result))


# --- the parent -----------------------------------------------------------------------------


def print_table(results: list[StepResult], write: StepResult) -> None:
    """Print each step with throughput, peak RSS and its ratio to the write step."""
    print(f"\n{'step':<36}{'seconds':>9}{'CPU s':>8}{'rows/s':>11}{'peak MiB':>10}"
          f"{'write/step':>11}")
    for result in results:
        ratio = write.seconds / result.seconds if result.seconds else 0.0
        print(f"{result.name:<36}{result.seconds:>9.2f}{result.cpu_seconds:>8.2f}"
              f"{result.rows_per_second:>11,.0f}{result.peak_rss_mib:>10.0f}{ratio:>11.1f}")


def main(argv: list[str] | None = None) -> None:
    """Build the batch, run the measured steps in children, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--step", choices=["write", "template", "sha256", "xsd"])
    for name in ("url", "key-dir", "out", "file", "result"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--batch", type=int)
    args = parser.parse_args(argv)
    if args.step:
        run_step(args)
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench-files."))
    out = workdir / "files"
    out.mkdir()
    print(f"building {args.count:,} instructions in {workdir} (not measured) ...", flush=True)
    url, batch_id, build_seconds = build(workdir, args.count)
    print(f"  built in {build_seconds:.1f} s", flush=True)
    common = ["--count", str(args.count), "--out", str(out)]
    write = run_child(MODULE, ["--step", "write", "--url", url, "--key-dir",
                               str(workdir / "keys"), "--batch", str(batch_id), *common],
                      workdir=workdir, timeout=args.timeout)
    written = out / write.detail["files"][0]["file"]
    results = [write] + [run_child(MODULE, ["--step", step, "--file", str(written), *common],
                                   workdir=workdir, timeout=args.timeout)
                         for step in ("template", "sha256", "xsd")]
    print_table(results, write)
    record = {"count": args.count, "build_seconds": round(build_seconds, 1),
              "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                          "loadavg_1m": round(os.getloadavg()[0], 2),
                          "at": datetime.now(UTC).isoformat()},
              "results": [vars(r) for r in results]}
    target = Path(__file__).resolve().parent / "out" / (
        f"batch-files-{args.count}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json")
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    print(f"\nsaved {target}; work directory {workdir} (delete it when done)")


if __name__ == "__main__":
    sys.exit(main())
