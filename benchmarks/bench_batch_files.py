"""Build a 1,000,000-instruction batch, then write and sign its pain.001 files, from SQLite.

Run: ``PYTHONPATH=. python -m benchmarks.bench_batch_files [--count N] [--profile-build]``

Set-up (not measured): a fresh SQLite file is migrated, a keyring and signing keys are made,
users ``lan`` (preparer) and ``minh`` (approver) are added, and N active pension beneficiaries
with bank accounts are bulk-inserted (Core ``executemany``), each with a fresh ``verified``
verification row of its current record version, so the build never needs the registry.

Measured, each in its own child process (so peak RSS is the step's own):

* ``build``: ``prepare_and_build`` as the entry points call it: the search for stale checks
  (payability of every beneficiary, in read transactions), then ``create_batch``
  (``build_batch`` + summary) and the commit: payability of every beneficiary again, the
  already-instructed and arrears history queries, routing, the sorted plan, bulk insert of N
  instructions, the batch digest, the audit entry. The registry stand-in raises if it is ever
  called (nobody is stale).
* ``approve``: ``submit_batch`` then ``approve_batch`` (two more batch digests) and commits.
* ``write``: ``write_batch_files`` end to end and the commit: approval check (the batch
  digest over every instruction), per-route aggregates, streaming the rows in seq order with
  account decryption, ``PaymentLine`` checks, the pain.001 writer, Ed25519 signature,
  manifest, linking the instructions to their file, the state change. XSD validation is off
  here (``validate=False``) and measured on its own.
* ``template``: the raw baseline: the same XML shape from a bare f-string template, for the
  same number of transactions, into a file; no database, no checks.
* ``sha256``: the other raw baseline: hashing the bytes of the written file.
* ``xsd``: ``validate_pain001`` (lxml, streaming) on the written file.

``--profile-build`` runs the build step under cProfile instead and prints the top functions
(cumulative), for finding hotspots at e.g. ``--count 100000``; ``--profile-write`` builds and
approves as usual, then does the same for the write step.

Targets from the issue: build + write + sign under 60 s and under 1 GiB peak RSS.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from benchmarks.common import (
    StepResult,
    Stopwatch,
    audit_with_keyring,
    mib,
    peak_rss_bytes,
    run_child,
)
from beneficiaries.models import LOCALITY_VERSION_2025, Beneficiary, ListImport
from beneficiaries.registry.models import LookupResult, ProgressCallback
from beneficiaries.verification.models import Verification
from disburse.core.clock import utcnow
from disburse.core.db import make_engine, make_session_factory
from disburse.core.keyring import Keyring
from disburse.core.signing_keys import ensure_signing_keys
from disburse.core.users import User
from disburse.payments.files import write_batch_files
from disburse.payments.models import PaymentFile
from disburse.payments.payment_files.parse import validate_pain001
from disburse.payments.preparation import prepare_and_build
from disburse.payments.routing import load_routing
from disburse.payments.service import approve_batch, submit_batch
from disburse.payments.state import batch_digest

MODULE = "benchmarks.bench_batch_files"
CHUNK = 20_000
BINS = ("970436", "970415", "970418", "970405", "970422")
NAMES = ("Nguyễn Văn An", "Trần Thị Đào", "Lê Hữu Phúc", "Phạm Ngọc Lan", "Đặng Quốc Sơn")
PERIOD = "2026-11"
TODAY = date(2026, 11, 23)
MAX_AGE_DAYS = 30
#: Users are never signed in here, so any string does as a password hash.
_NO_PASSWORD = "benchmark-user-never-signs-in"


class NeverCalledRegistry:
    """A population-registry stand-in for a build in which everyone is freshly verified.

    Any lookup means the benchmark set-up is wrong (someone looked stale), so it raises.
    """

    def lookup_many(self, citizen_ids: Sequence[str], *,
                    on_batch: ProgressCallback | None = None) -> dict[str, LookupResult]:
        """Refuse: the build should not need the registry."""
        raise RuntimeError(f"the registry was asked about {len(citizen_ids)} people; "
                           "the set-up should have left nobody stale")

    def health(self) -> bool:
        """Answer that the stand-in is up."""
        return True


# --- set-up (not measured) ------------------------------------------------------------------


def _migrate(url: str) -> None:
    from alembic import command

    from disburse.entry.migrate import alembic_config

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


def _verifications(people: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """A fresh ``verified`` answer for each person's current record version."""
    return [{"beneficiary_id": p["id"], "beneficiary_version": p["version"],
             "outcome": "verified", "differences": {}, "date_of_death": None,
             "evidence_digest": f"{p['id']:064x}", "request_id": f"bench-{p['id']}",
             "registry_served_at": now, "checked_at": now, "actor": "benchmark"}
            for p in people]


def setup(workdir: Path, count: int) -> tuple[str, float]:
    """Create the database, keys, users and N verified beneficiaries; return (url, seconds)."""
    url = f"sqlite:///{workdir / 'files.sqlite3'}"
    _migrate(url)
    keyring = Keyring.init(workdir / "keys")
    audit_with_keyring(workdir / "keys")
    ensure_signing_keys(workdir / "keys", keyring)
    engine = make_engine(url)
    now = utcnow()
    with Stopwatch() as watch, engine.begin() as connection:
        connection.execute(insert(User), [
            {"name": name, "role": role, "bank_bin": None, "password_hash": _NO_PASSWORD,
             "active": True, "created_at": now}
            for name, role in (("lan", "preparer"), ("minh", "approver"))])
        import_id = connection.execute(insert(ListImport).values(
            programme="pension", file_name="bench.csv", file_sha256="0" * 64, file_size=0,
            actor="benchmark", at=now, accept_valid=True, end_missing=False,
            outcome="applied", counts={}).returning(ListImport.id)).scalar_one()
        for start in range(0, count, CHUNK):
            people = _people(keyring, start, min(start + CHUNK, count), import_id, now)
            connection.execute(insert(Beneficiary), people)
            connection.execute(insert(Verification), _verifications(people, now))
    engine.dispose()
    return url, watch.seconds


# --- measured steps (children) --------------------------------------------------------------


def _finish(name: str, watch: Stopwatch, rows: int, **detail: Any) -> StepResult:
    return StepResult(name, watch.seconds, watch.cpu_seconds, rows, mib(peak_rss_bytes()),
                      detail)


def _print_profile(profiler: cProfile.Profile, top: int) -> None:
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    print(text.getvalue())


def _create(url: str, key_dir: Path) -> dict[str, Any]:
    """Build the batch through the service and commit; return its summary."""
    engine = make_engine(url)
    keyring = Keyring.load(key_dir)
    audit_with_keyring(key_dir)
    summary = prepare_and_build(make_session_factory(engine), keyring, NeverCalledRegistry(),
                                programme="pension", period=PERIOD, actor="lan",
                                routing=load_routing(), max_age_days=MAX_AGE_DAYS,
                                today=TODAY).to_dict()
    engine.dispose()
    return summary


def step_build(url: str, key_dir: Path) -> StepResult:
    """Build the batch (``prepare_and_build``) and commit it."""
    with Stopwatch() as watch:
        summary = _create(url, key_dir)
    return _finish("build batch (create_batch)", watch, int(summary["count"]),
                   batch_id=summary["batch_id"], total=summary["total"],
                   excluded=summary["excluded"], by_route=summary["by_route"])


def profile_build(url: str, key_dir: Path, top: int = 30) -> StepResult:
    """Build the batch under cProfile; print the top functions by cumulative time."""
    profiler = cProfile.Profile()
    with Stopwatch() as watch:
        summary = profiler.runcall(_create, url, key_dir)
    _print_profile(profiler, top)
    return _finish("build batch (cProfile)", watch, int(summary["count"]),
                   batch_id=summary["batch_id"])


def step_approve(url: str, batch_id: int) -> StepResult:
    """Submit (preparer) and approve (checker) the batch, each in its own transaction."""
    engine = make_engine(url)
    with Stopwatch() as watch:
        with Session(engine) as session, session.begin():
            submit_batch(session, batch_id, actor="lan")
        with Session(engine) as session, session.begin():
            approval = approve_batch(session, batch_id, actor="minh")
            count = approval.count
    engine.dispose()
    return _finish("submit + approve", watch, count)


def step_write(url: str, key_dir: Path, batch_id: int, out: Path) -> StepResult:
    """Write and sign the batch's files through the service, commit included."""
    engine = make_engine(url)
    keyring = Keyring.load(key_dir)
    audit_with_keyring(key_dir)
    with Stopwatch() as watch, Session(engine) as session, session.begin():
        files = write_batch_files(session, keyring, batch_id, out_dir=out, actor="benchmark",
                                  routing=load_routing(), key_dir=key_dir, validate=False)
        summary: list[dict[str, Any]] = [
            {"file": f.file_name, "nb_of_txs": f.nb_of_txs, "size": f.size} for f in files]
    with Stopwatch() as digest_watch, Session(engine) as session:
        batch_digest(session, batch_id)
    with Session(engine) as session:
        linked = session.scalar(select(PaymentFile.nb_of_txs).where(
            PaymentFile.batch_id == batch_id))
    engine.dispose()
    return _finish("write + sign (service)", watch, sum(int(f["nb_of_txs"]) for f in summary),
                   files=summary, digest_seconds=round(digest_watch.seconds, 2),
                   linked=linked)


def profile_write(url: str, key_dir: Path, batch_id: int, out: Path,
                  top: int = 30) -> StepResult:
    """Write and sign the batch under cProfile; print the top functions."""
    profiler = cProfile.Profile()
    with Stopwatch() as watch:
        result = profiler.runcall(step_write, url, key_dir, batch_id, out)
    _print_profile(profiler, top)
    return _finish("write + sign (cProfile)", watch, result.rows)


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
    key_dir = Path(args.key_dir) if args.key_dir else out
    audit_with_keyring(key_dir)  # every step keys the audit trail with the run's keyring
    steps = {
        "build": lambda: step_build(args.url, key_dir),
        "profile-build": lambda: profile_build(args.url, key_dir),
        "profile-write": lambda: profile_write(args.url, key_dir, args.batch, out),
        "approve": lambda: step_approve(args.url, args.batch),
        "write": lambda: step_write(args.url, key_dir, args.batch, out),
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


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (database and files) afterwards")
    parser.add_argument("--profile-build", action="store_true",
                        help="profile the build step (cProfile) and stop after it")
    parser.add_argument("--profile-write", action="store_true",
                        help="build and approve, then profile the write step and stop")
    parser.add_argument("--step", choices=["build", "profile-build", "approve", "write",
                                           "profile-write", "template", "sha256", "xsd"])
    for name in ("url", "key-dir", "out", "file", "result"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--batch", type=int)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Set up, run the measured steps in children, print and save the figures."""
    args = _parse(argv)
    if args.step:
        run_step(args)
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench-files."))
    out = workdir / "files"
    out.mkdir()
    print(f"setting up {args.count:,} verified beneficiaries in {workdir} (not measured) ...",
          flush=True)
    url, setup_seconds = setup(workdir, args.count)
    print(f"  set up in {setup_seconds:.1f} s", flush=True)
    common = ["--count", str(args.count), "--out", str(out), "--url", url,
              "--key-dir", str(workdir / "keys")]
    if args.profile_build:
        subprocess_profile("profile-build", common, workdir, args.timeout)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    build = run_child(MODULE, ["--step", "build", *common], workdir=workdir,
                      timeout=args.timeout)
    batch = ["--batch", str(build.detail["batch_id"])]
    approve = run_child(MODULE, ["--step", "approve", *common, *batch], workdir=workdir,
                        timeout=args.timeout)
    if args.profile_write:
        subprocess_profile("profile-write", [*common, *batch], workdir, args.timeout)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    write = run_child(MODULE, ["--step", "write", *common, *batch], workdir=workdir,
                      timeout=args.timeout)
    written = out / write.detail["files"][0]["file"]
    results = [build, approve, write] + [
        run_child(MODULE, ["--step", step, "--file", str(written), *common], workdir=workdir,
                  timeout=args.timeout) for step in ("template", "sha256", "xsd")]
    print_table(results, write)
    whole = build.seconds + approve.seconds + write.seconds
    whole_cpu = build.cpu_seconds + approve.cpu_seconds + write.cpu_seconds
    print(f"\nbuild + approve + write + sign: {whole:.1f} s wall, {whole_cpu:.1f} s CPU; "
          f"peak RSS {max(build.peak_rss_mib, approve.peak_rss_mib, write.peak_rss_mib):.0f} MiB")
    _save(args.count, setup_seconds, results)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


def subprocess_profile(step: str, common: list[str], workdir: Path, timeout: float) -> None:
    """Run a step under cProfile in a child, echoing its printed profile."""
    import subprocess

    done = subprocess.run([sys.executable, "-m", MODULE, "--step", step, *common,
                           "--result", str(workdir / "profile.json")],
                          capture_output=True, text=True, timeout=timeout, check=False)
    print(done.stdout)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return
    result = StepResult.load(workdir / "profile.json")
    print(f"profiled {step}: {result.rows:,} instructions in {result.seconds:.1f} s "
          f"(with profiler overhead), peak {result.peak_rss_mib:.0f} MiB")


def _save(count: int, setup_seconds: float, results: list[StepResult]) -> None:
    record = {"count": count, "setup_seconds": round(setup_seconds, 1),
              "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                          "loadavg_1m": round(os.getloadavg()[0], 2),
                          "at": datetime.now(UTC).isoformat()},
              "results": [vars(r) for r in results]}
    target = Path(__file__).resolve().parent / "out" / (
        f"batch-files-{count}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json")
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    print(f"\nsaved {target}")


if __name__ == "__main__":
    main()
