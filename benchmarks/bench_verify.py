"""Verify 1,000,000 beneficiaries against the reference population registry on loopback.

Run: ``python -m benchmarks.bench_verify [--count 1000000] [--keep] [--profile]``

Set-up (not measured): a synthetic population of ``--count`` people (``beneficiaries.synth``,
cached under ``benchmarks/out/``) is served by a real registry process (``python -m
disburse.entry.popdb serve``); a fresh SQLite database is migrated and filled with one active
pension beneficiary per person, inserted with Core ``executemany`` of pre-encrypted rows. One
person in 100 carries a wrong name (name mismatch) and one in 100 an ID the registry does not
know (not found); the population's own deceased share decides the suspensions.

Measured, each in a child process of its own so that its peak RSS is its own:

* ``baseline``: ``HttpPopulationRegistry.lookup_many`` over the same IDs in the same
  5,000-ID chunks as ``verify`` asks for them: the same HTTP round trips, no database work.
* ``baseline one call``: one ``lookup_many`` over all IDs (the pool never drains between
  chunks): the floor of the registry on this machine.
* ``verify``: ``verify(...)`` over every active beneficiary in one unit of work, commit
  included.

The ratio printed is verify's seconds over the chunked baseline's. The issue's target
(under 5 minutes for 1,000,000) is printed as met or not; timings are never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import os
import pstats
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from benchmarks.common import (
    OUT_DIR,
    BenchmarkError,
    StepResult,
    Stopwatch,
    audit_with_keyring,
    machine,
    mib,
    peak_rss_bytes,
    run_child,
)
from beneficiaries.bulk import BENEFICIARIES
from beneficiaries.models import LOCALITY_VERSION_2025, ListImport
from beneficiaries.registry import HttpPopulationRegistry
from beneficiaries.synth import DEFAULT_TODAY, write_population_csv
from beneficiaries.verification import service
from disburse.core.db import make_engine, make_session_factory
from disburse.core.keyring import Keyring
from disburse.core.uow import unit_of_work

MODULE = "benchmarks.bench_verify"
TARGET_SECONDS = 300.0
TOKEN = "bench-verify-token"
#: IDs per registry request: the registry's default limit and the service's default setting.
BATCH_SIZE = 1000
INSERT_CHUNK = 20_000
#: Every 100th beneficiary gets a wrong name, and another every 100th an unknown ID.
NAME_MISMATCH_SLOT, NOT_FOUND_SLOT = 37, 71
_LISTENING = re.compile(r"popdb listening on (http://127\.0\.0\.1:\d+) \((\d+) records\)")


# --- inputs (not measured) ----------------------------------------------------------------


def population_path(count: int, seed: int, deceased_share: float) -> Path:
    """Return the cache path of the population CSV for these parameters."""
    return OUT_DIR / f"population_{count}_seed{seed}_dead{deceased_share:g}.csv"


def ensure_population(count: int, seed: int, deceased_share: float) -> tuple[Path, float | None]:
    """Return the cached population, generating it first if needed (with the seconds taken)."""
    path = population_path(count, seed, deceased_share)
    if path.exists():
        return path, None
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with Stopwatch() as watch:
        write_population_csv(partial, count, seed=seed, deceased_share=deceased_share,
                             today=DEFAULT_TODAY)
    partial.replace(path)
    return path, watch.seconds


@dataclass
class Registry:
    """A registry process started for the benchmark."""

    process: subprocess.Popen[str]
    base_url: str
    records: int

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def start_registry(population: Path, workdir: Path, timeout: float) -> Registry:
    """Start ``python -m disburse.entry.popdb serve`` on a free port; wait for "listening".

    Raises:
        BenchmarkError: the registry did not start within ``timeout`` seconds.
    """
    log = (workdir / "popdb.log").open("w", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "disburse.entry.popdb", "serve", "--data", str(population),
         "--port", "0", "--token", TOKEN, "--db", str(workdir / "popdb.sqlite"),
         "--max-batch", str(BATCH_SIZE)],
        stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ,
                                                            "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    match = _LISTENING.search(process.stdout.readline() if ready else "")
    if match is None:
        process.kill()
        raise BenchmarkError(f"the registry did not start; see {workdir / 'popdb.log'}")
    return Registry(process, match.group(1), int(match.group(2)))


def _migrate(url: str) -> None:
    from alembic import command

    from disburse.entry.migrate import alembic_config

    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    engine.dispose()


def _people(population: Path) -> Iterator[dict[str, str]]:
    with population.open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


def _claimed(number: int, person: dict[str, str]) -> tuple[str, str]:
    """The citizen ID and name the list claims: a few are wrong on purpose."""
    if number % 100 == NOT_FOUND_SLOT:
        return f"99{number:010d}", person["full_name"]  # no 099 province: never issued
    if number % 100 == NAME_MISMATCH_SLOT:
        return person["citizen_id"], f"{person['full_name']} An"
    return person["citizen_id"], person["full_name"]


def _row(keyring: Keyring, number: int, person: dict[str, str], import_id: int,
         now: datetime) -> dict[str, Any]:
    citizen_id, name = _claimed(number, person)
    return {
        "programme": "pension", "citizen_id_enc": keyring.encrypt("citizen_id", citizen_id),
        "citizen_id_idx": keyring.blind_index("citizen_id", citizen_id), "full_name": name,
        "date_of_birth": date.fromisoformat(person["date_of_birth"]),
        "gender": person["gender"], "province_code": person["province_code"],
        "commune_code": person["commune_code"], "locality_version": LOCALITY_VERSION_2025,
        "monthly_amount": 3_500_000, "coefficient_x100": None, "channel": "cash",
        "bank_bin": None, "account_enc": None, "account_idx": None, "account_holder": None,
        "phone_enc": None, "status": "active", "status_reason": None, "review_flags": [],
        "source_import_id": import_id, "source_row": number + 2,
        "last_seen_import_id": import_id, "created_at": now, "updated_at": now, "version": 1,
    }


def prepare_database(population: Path, workdir: Path) -> tuple[str, Path, Path, float]:
    """Migrate a fresh SQLite file and bulk-insert one beneficiary per person.

    Returns:
        The database URL, the key directory, a file of the claimed citizen IDs in beneficiary
        id order (for the baseline), and the seconds the insert took.
    """
    url = f"sqlite:///{workdir / 'verify.sqlite3'}"
    _migrate(url)
    keyring = Keyring.init(workdir / "keys")
    audit_with_keyring(workdir / "keys")
    ids_path = workdir / "citizen_ids.txt"
    engine = make_engine(url)
    now = datetime.now(UTC)
    with Stopwatch() as watch, engine.begin() as connection, ids_path.open("w") as ids:
        import_id = connection.execute(insert(ListImport).values(
            programme="pension", file_name="bench.csv", file_sha256="0" * 64, file_size=0,
            actor="benchmark", at=now, accept_valid=True, end_missing=False,
            outcome="applied", counts={}).returning(ListImport.id)).scalar_one()
        chunk: list[dict[str, Any]] = []
        for number, person in enumerate(_people(population)):
            chunk.append(_row(keyring, number, person, import_id, now))
            ids.write(_claimed(number, person)[0] + "\n")
            if len(chunk) == INSERT_CHUNK:
                connection.execute(insert(BENEFICIARIES), chunk)
                chunk = []
        if chunk:
            connection.execute(insert(BENEFICIARIES), chunk)
    engine.dispose()
    return url, workdir / "keys", ids_path, watch.seconds


# --- child steps ----------------------------------------------------------------------------


def _finish(name: str, watch: Stopwatch, rows: int, **detail: Any) -> StepResult:
    return StepResult(name, watch.seconds, watch.cpu_seconds, rows, mib(peak_rss_bytes()),
                      detail)


def _client(base_url: str) -> HttpPopulationRegistry:
    return HttpPopulationRegistry(base_url, TOKEN, batch_size=BATCH_SIZE)


def step_baseline(base_url: str, ids_path: Path, chunked: bool) -> StepResult:
    """Look up every ID over HTTP with no database work, in verify's chunks or in one call."""
    ids = ids_path.read_text(encoding="utf-8").split()
    size = service.CHUNK if chunked else len(ids)
    answered: dict[str, int] = {}
    with _client(base_url) as registry, Stopwatch() as watch:
        for start in range(0, len(ids), size):
            for result in registry.lookup_many(ids[start:start + size]).values():
                key = ("unavailable" if result.unavailable else
                       "found" if result.found else "not_found")
                answered[key] = answered.get(key, 0) + 1
    name = "baseline (lookup_many per chunk)" if chunked else "baseline (one lookup_many)"
    return _finish(name, watch, len(ids), answers=answered)


def run_verify(url: str, key_dir: Path, base_url: str) -> tuple[Stopwatch, dict[str, Any]]:
    """Verify every active beneficiary in one unit of work; return its timing and summary."""
    keyring = Keyring.load(key_dir)
    audit_with_keyring(key_dir)
    factory = make_session_factory(make_engine(url))
    with _client(base_url) as registry, Stopwatch() as watch, \
            unit_of_work(factory) as session:
        summary = service.verify(session, keyring, registry, scope=service.VerifyScope(),
                                 actor="benchmark")
    return watch, {"checked": summary.checked, "outcomes": dict(summary.outcomes),
                   "suspended": len(summary.suspended_deceased)}


def step_verify(url: str, key_dir: Path, base_url: str) -> StepResult:
    """Measure ``verify`` end to end, commit included."""
    watch, summary = run_verify(url, key_dir, base_url)
    return _finish("verify (service, SQLite)", watch, summary["checked"], summary=summary)


def run_step(args: argparse.Namespace) -> None:
    """Child mode: run one step and save its result to ``args.result``."""
    if args.step == "verify":
        result = step_verify(args.url, Path(args.key_dir), args.registry)
    else:
        result = step_baseline(args.registry, Path(args.ids), args.step == "baseline")
    result.save(Path(args.result))


# --- the parent: orchestrate, print, record -----------------------------------------------


def _child(step: str, args: argparse.Namespace, extra: list[str],
           workdir: Path) -> StepResult | None:
    print(f"  running {step} ...", flush=True)
    try:
        return run_child(MODULE, ["--step", step, *extra], workdir=workdir,
                         timeout=args.timeout)
    except BenchmarkError as error:
        print(f"  {step} FAILED: {error}", file=sys.stderr, flush=True)
        return None


def print_table(results: list[StepResult], baseline: StepResult | None) -> None:
    """Print each step with throughput, CPU, peak RSS and verify's ratio to the baseline."""
    print(f"\n{'step':<36}{'seconds':>9}{'CPU s':>8}{'lookups/s':>11}{'peak MiB':>10}"
          f"{'ratio':>7}")
    for result in results:
        ratio = (f"{result.seconds / baseline.seconds:.2f}"
                 if baseline and result.name.startswith("verify") else "")
        print(f"{result.name:<36}{result.seconds:>9.2f}{result.cpu_seconds:>8.2f}"
              f"{result.rows_per_second:>11,.0f}{result.peak_rss_mib:>10.0f}{ratio:>7}")
    for result in results:
        if result.name.startswith("verify"):
            met = "met" if result.seconds < TARGET_SECONDS else "NOT met"
            scaled = result.seconds * 1_000_000 / max(result.rows, 1)
            print(f"\nverify: {result.seconds:.1f} s for {result.rows:,} "
                  f"(~{scaled:.0f} s per 1,000,000 at this rate; target < "
                  f"{TARGET_SECONDS:.0f} s for 1,000,000: {met})")
            print(f"  outcomes: {result.detail['summary']}")


def _record(args: argparse.Namespace, setup: dict[str, Any],
            results: list[StepResult]) -> Path:
    document = {"count": args.count, "seed": args.seed, "setup": setup,
                "machine_at_end": machine(),
                "steps": [{**vars(r), "rows_per_second": r.rows_per_second} for r in results]}
    target = OUT_DIR / f"verify-{args.count}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    target.write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    return target


def profile(url: str, key_dir: Path, base_url: str, count: int) -> None:
    """Run ``verify`` in this process under cProfile and print the hotspots."""
    # CPU time, not wall time: other work on a shared machine must not skew the shares. The
    # registry's own work happens in its process and shows here only as waiting on sockets.
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    watch, summary = run_verify(url, key_dir, base_url)
    profiler.disable()
    stats_path = OUT_DIR / f"profile-verify-{count}.pstats"
    profiler.dump_stats(stats_path)
    print(f"profiled verify: {watch.seconds:.1f} s wall, {watch.cpu_seconds:.1f} s CPU "
          f"(with profiler overhead), {summary}")
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(35)
    print(f"stats saved to {stats_path}")


def run_all(args: argparse.Namespace) -> None:
    """Parent mode: generate (cached), start the registry, fill the database, measure."""
    population, generated = ensure_population(args.count, args.seed, args.deceased_share)
    made = f"generated in {generated:.1f} s" if generated is not None else "cached"
    print(f"population: {population} ({args.count:,} people, {made}); machine: {machine()}",
          flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="disburse-bench-verify."))
    with Stopwatch() as started:
        registry = start_registry(population, workdir, timeout=args.timeout)
    print(f"registry: {registry.base_url}, {registry.records:,} records, started in "
          f"{started.seconds:.1f} s", flush=True)
    try:
        url, key_dir, ids, insert_seconds = prepare_database(population, workdir)
        print(f"database: {args.count:,} beneficiaries encrypted and inserted in "
              f"{insert_seconds:.1f} s (not measured)", flush=True)
        if args.profile:
            profile(url, key_dir, registry.base_url, args.count)
            return
        common = ["--registry", registry.base_url, "--workdir", str(workdir)]
        results = [r for r in (
            _child("baseline", args, [*common, "--ids", str(ids)], workdir),
            _child("baseline-one-call", args, [*common, "--ids", str(ids)], workdir),
            _child("verify", args, [*common, "--url", url, "--key-dir", str(key_dir)],
                   workdir),
        ) if r is not None]
        baseline = next((r for r in results if "per chunk" in r.name), None)
        print_table(results, baseline)
        setup = {"generated_seconds": generated, "registry_start_seconds": started.seconds,
                 "insert_seconds": insert_seconds}
        print(f"machine at the end: {machine()}")
        print(f"\nrecorded in {_record(args, setup, results)}")
    finally:
        registry.stop()
        if args.keep:
            print(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (the ``--step`` family is for the child processes)."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                     description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deceased-share", type=float, default=0.01)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per step, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--profile", action="store_true",
                        help="profile verify in-process with cProfile instead")
    child = parser.add_argument_group("child process (internal)")
    child.add_argument("--step", choices=("baseline", "baseline-one-call", "verify"))
    child.add_argument("--registry")
    child.add_argument("--ids")
    child.add_argument("--url")
    child.add_argument("--key-dir")
    child.add_argument("--workdir")
    child.add_argument("--result")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point: parent mode by default, one step with ``--step``."""
    args = parse_args(argv)
    if args.step:
        run_step(args)
    else:
        run_all(args)


if __name__ == "__main__":
    main()
