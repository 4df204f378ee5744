"""Import a 1,000,000-row pension list into SQLite and PostgreSQL, against raw baselines.

Run: ``python -m benchmarks.bench_import [--rows 1000000] [--backend sqlite|postgresql|both]
[--keep] [--profile]``

The list (Vietnamese template, CSV UTF-8 with BOM, nearly every row valid) is generated once
from ``beneficiaries.synth`` and cached under ``benchmarks/out/``; generation is not measured.
Each step below runs in a child process of its own, so its peak RSS is its own:

* ``read baseline``: ``pandas.read_csv(dtype=str, keep_default_na=False)`` of the whole file
  and one trivial pass over every row: the floor for reading the list.
* ``write baseline``: the same number of pre-built 26-column tuples written in one
  transaction by a bare ``executemany`` INSERT (SQLite) or a bare ``COPY`` (PostgreSQL) into a
  table with a primary key only: the floor for writing the rows.
* ``import``: ``import_list(..., accept_valid=True)`` in one unit of work, then commit, into a
  freshly migrated database (migration and keyring set-up are not measured).

The ratio printed for an import is its seconds over (read baseline + write baseline) on the
same backend. The issue's targets are printed as met or not; timings are never asserted.
PostgreSQL is a throwaway cluster started like ``.ci/run`` does, or the server of
``DISBURSE_BENCH_PG_URL`` (a SQLAlchemy URL of a database the user may create databases from).
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import os
import pstats
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg

from benchmarks.common import (
    OUT_DIR,
    PG_URL_ENV,
    BenchmarkError,
    PostgresServer,
    StepResult,
    Stopwatch,
    audit_with_keyring,
    create_database,
    drop_database,
    libpq_url,
    machine,
    mib,
    peak_rss_bytes,
    run_child,
)
from beneficiaries.bulk import INSERT_COLUMNS
from beneficiaries.columns import headers
from beneficiaries.service import ImportOptions, import_list
from beneficiaries.synth import DEFAULT_TODAY, generate_population
from beneficiaries.synth.lists import csv_cells
from beneficiaries.synth.names import seeded_rng
from beneficiaries.synth.rows import Programme, RowFactory, fits
from disburse.core.db import make_engine, make_session_factory
from disburse.core.keyring import Keyring
from disburse.core.uow import unit_of_work

MODULE = "benchmarks.bench_import"
PROGRAMME = Programme.PENSION
#: Business date of the import and reference date of the population (ages, deaths).
TODAY: date = DEFAULT_TODAY
TARGET_SECONDS = 60.0
TARGET_PEAK_MIB = 2048.0
BACKENDS = ("sqlite", "postgresql")
#: Baseline table: the beneficiaries insert columns, typed per backend.
_BYTES = {"citizen_id_enc", "account_enc"}
_INTS = {"monthly_amount", "coefficient_x100", "source_import_id", "source_row",
         "last_seen_import_id", "version"}
_TIMES = {"created_at", "updated_at"}


# --- the input list -------------------------------------------------------------------------


def list_path(rows: int, seed: int) -> Path:
    """Return the cache path of the generated list for ``rows`` and ``seed``."""
    return OUT_DIR / f"{PROGRAMME.value}_vi_{rows}_seed{seed}.csv"


def _list_cells(rows: int, seed: int) -> Iterator[list[str]]:
    """Yield ``rows`` Vietnamese CSV rows of living people old enough for a pension."""
    factory = RowFactory(PROGRAMME, seed, seeded_rng(f"{seed}:bench-import"), TODAY)
    people = generate_population(rows * 3, seed=seed, deceased_share=0.0, today=TODAY)
    made = 0
    for person in people:
        if made == rows:
            return
        if fits(PROGRAMME, person, TODAY):
            made += 1
            yield csv_cells(factory.row(person), "vi")
    raise BenchmarkError(f"the population ran out after {made} pension rows")


def ensure_list(rows: int, seed: int) -> tuple[Path, float | None]:
    """Return the cached list, generating it first if needed (with the seconds it took)."""
    path = list_path(rows, seed)
    if path.exists():
        return path, None
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    # Excel's "CSV UTF-8" carries a BOM, as the Vietnamese lists staff upload do.
    with Stopwatch() as watch, partial.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(headers("vi"))
        writer.writerows(_list_cells(rows, seed))
    partial.replace(path)
    return path, watch.seconds


# --- child steps ----------------------------------------------------------------------------


def _finish(name: str, watch: Stopwatch, rows: int, **detail: Any) -> StepResult:
    return StepResult(name, watch.seconds, watch.cpu_seconds, rows, mib(peak_rss_bytes()),
                      detail)


def step_read(path: Path) -> StepResult:
    """Read the whole list with pandas (text only) and touch every row once."""
    with Stopwatch() as watch:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        filled = 0
        for values in frame.itertuples(index=False, name=None):
            filled += bool(values[0])
    return _finish("read baseline (pandas)", watch, len(frame), filled=filled)


def _baseline_value(column: str, number: int, now: datetime) -> Any:
    """A plausible value for ``column`` of row ``number``: unique where the real one is."""
    if column in _BYTES:
        return number.to_bytes(8, "big") * 5  # about the size of an AES-GCM ciphertext
    if column in _INTS:
        return 5_000_000 + number if column == "monthly_amount" else number
    if column in _TIMES:
        return now
    if column == "date_of_birth":
        return date(1950, 1, 1)
    if column.endswith("_idx"):
        return f"{number:064x}"  # a blind index is 64 hex characters
    return f"{column[:6]}-{number}"


def baseline_rows(count: int) -> list[tuple[Any, ...]]:
    """Build ``count`` tuples with one value per beneficiaries insert column."""
    now = datetime.now(UTC)
    return [tuple(_baseline_value(c, n, now) for c in INSERT_COLUMNS) for n in range(count)]


def _baseline_ddl(backend: str) -> str:
    types = {"sqlite": {"bytes": "BLOB", "int": "INTEGER", "time": "TEXT", "date": "TEXT",
                        "text": "TEXT", "key": "INTEGER PRIMARY KEY"},
             "postgresql": {"bytes": "BYTEA", "int": "BIGINT", "time": "TIMESTAMPTZ",
                            "date": "DATE", "text": "TEXT", "key": "BIGSERIAL PRIMARY KEY"}}
    names = types[backend]

    def kind(column: str) -> str:
        if column in _BYTES:
            return "bytes"
        if column in _INTS:
            return "int"
        if column in _TIMES:
            return "time"
        return "date" if column == "date_of_birth" else "text"

    columns = ", ".join(f"{c} {names[kind(c)]}" for c in INSERT_COLUMNS)
    return f"CREATE TABLE baseline (id {names['key']}, {columns})"


def step_write_sqlite(count: int, workdir: Path) -> StepResult:
    """Bare ``executemany`` of pre-built tuples into a fresh SQLite file, one transaction."""
    rows = baseline_rows(count)
    database = workdir / f"baseline-{uuid.uuid4().hex[:8]}.sqlite3"
    connection = sqlite3.connect(database, isolation_level=None)
    # The service's own pragmas (disburse.core.db): WAL and synchronous=NORMAL.
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(_baseline_ddl("sqlite"))
    marks = ", ".join("?" for _ in INSERT_COLUMNS)
    statement = f"INSERT INTO baseline ({', '.join(INSERT_COLUMNS)}) VALUES ({marks})"
    with Stopwatch() as watch:
        connection.execute("BEGIN")
        connection.executemany(statement, rows)
        connection.execute("COMMIT")
    connection.close()
    return _finish("write baseline sqlite (executemany)", watch, count)


def step_write_postgresql(count: int, admin_url: str, keep: bool) -> StepResult:
    """Bare ``COPY ... FROM STDIN`` of pre-built tuples into a fresh database, one transaction."""
    rows = baseline_rows(count)
    url = create_database(admin_url, "bench_baseline")
    try:
        with psycopg.connect(libpq_url(url)) as connection:
            connection.execute(_baseline_ddl("postgresql"))
            connection.commit()
            with Stopwatch() as watch:
                with connection.cursor() as cursor, cursor.copy(
                    f"COPY baseline ({', '.join(INSERT_COLUMNS)}) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
                connection.commit()
    finally:
        if not keep:
            drop_database(admin_url, url)
    return _finish("write baseline postgresql (COPY)", watch, count)


def _migrate(url: str) -> None:
    from alembic import command

    from disburse.entry.migrate import alembic_config

    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    engine.dispose()


def _count_beneficiaries(url: str) -> int:
    from sqlalchemy import func, select

    from beneficiaries.models import Beneficiary

    engine = make_engine(url)
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(Beneficiary)).scalar_one()
    engine.dispose()
    return int(total)


def run_import(url: str, path: Path, key_dir: Path) -> tuple[Stopwatch, dict[str, Any]]:
    """Import ``path`` with ``accept_valid`` in one unit of work; return its timing and counts."""
    keyring = Keyring.init(key_dir)
    audit_with_keyring(key_dir)
    factory = make_session_factory(make_engine(url))
    options = ImportOptions(accept_valid=True)
    with Stopwatch() as watch, unit_of_work(factory) as session:
        report = import_list(session, keyring, path, programme=PROGRAMME.value,
                             actor="benchmark", today=TODAY, options=options)
    return watch, {"outcome": report.outcome, **vars(report.counts)}


def _import_url(backend: str, workdir: Path, admin_url: str | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'import-{uuid.uuid4().hex[:8]}.sqlite3'}"
    if admin_url is None:
        raise BenchmarkError("a PostgreSQL import needs --url")
    return create_database(admin_url, "bench_import")


def step_import(backend: str, path: Path, workdir: Path, admin_url: str | None,
                keep: bool) -> StepResult:
    """Migrate a fresh database (not measured), then measure the whole import and commit."""
    url = _import_url(backend, workdir, admin_url)
    try:
        _migrate(url)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        watch, counts = run_import(url, path, workdir / f"keys-{uuid.uuid4().hex[:8]}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        stored = _count_beneficiaries(url)
    finally:
        if backend == "postgresql" and admin_url is not None and not keep:
            drop_database(admin_url, url)
    # The validation worker is a forked child: its CPU and its peak RSS (which counts the
    # pages it shares with this process, so the sum with ours is an upper bound).
    worker_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    worker_mib = after.ru_maxrss / 1024 if worker_cpu > 0 else 0.0
    return _finish(f"import {backend}", watch, counts["rows"], backend=backend,
                   counts=counts, stored=stored, worker_cpu_seconds=worker_cpu,
                   worker_peak_rss_mib=worker_mib)


def run_step(args: argparse.Namespace) -> None:
    """Child mode: run one step and save its result to ``args.result``."""
    workdir, path = Path(args.workdir), Path(args.list) if args.list else Path()
    if args.step == "read":
        result = step_read(path)
    elif args.step == "write-sqlite":
        result = step_write_sqlite(args.rows, workdir)
    elif args.step == "write-postgresql":
        result = step_write_postgresql(args.rows, args.url, args.keep)
    else:
        result = step_import(args.step.removeprefix("import-"), path, workdir, args.url,
                             args.keep)
    result.save(Path(args.result))


# --- the parent: orchestrate, print, record -----------------------------------------------


def _child(step: str, args: argparse.Namespace, path: Path, workdir: Path,
           url: str | None = None) -> StepResult | None:
    argv = ["--step", step, "--rows", str(args.rows), "--list", str(path),
            "--workdir", str(workdir)] + (["--url", url] if url else []) + (
            ["--keep"] if args.keep else [])
    print(f"  running {step} ...", flush=True)
    try:
        return run_child(MODULE, argv, workdir=workdir, timeout=args.timeout)
    except BenchmarkError as error:
        print(f"  {step} FAILED: {error}", file=sys.stderr, flush=True)
        return None


def _backend_steps(backend: str, args: argparse.Namespace, path: Path, workdir: Path,
                   url: str | None) -> list[StepResult | None]:
    return [_child(f"write-{backend}", args, path, workdir, url),
            _child(f"import-{backend}", args, path, workdir, url)]


def _postgresql_steps(args: argparse.Namespace, path: Path, workdir: Path
                      ) -> list[StepResult | None]:
    given = os.environ.get(PG_URL_ENV)
    if given:
        return _backend_steps("postgresql", args, path, workdir, given)
    try:
        with PostgresServer(keep=args.keep) as server:
            print(f"  PostgreSQL started on 127.0.0.1:{server.port} ({server.root})")
            return _backend_steps("postgresql", args, path, workdir, server.url)
    except BenchmarkError as error:
        print(f"  PostgreSQL unavailable: {error}", file=sys.stderr)
        return [None, None]


def _ratio(result: StepResult, read: StepResult | None, write: StepResult | None
           ) -> float | None:
    if read is None or write is None:
        return None
    return result.seconds / (read.seconds + write.seconds)


def _targets(result: StepResult) -> str:
    fast = "met" if result.seconds < TARGET_SECONDS else "NOT met"
    small = "met" if result.peak_rss_mib < TARGET_PEAK_MIB else "NOT met"
    return (f"{result.name}: {result.seconds:.1f} s (target < {TARGET_SECONDS:.0f} s: {fast}), "
            f"peak {result.peak_rss_mib:.0f} MiB (target < {TARGET_PEAK_MIB:.0f} MiB: {small})")


def print_table(read: StepResult | None, pairs: dict[str, list[StepResult | None]]) -> None:
    """Print every step with its throughput, peak RSS and, for imports, the ratio."""
    print(f"\n{'step':<38}{'seconds':>9}{'CPU s':>8}{'rows/s':>10}{'peak MiB':>10}"
          f"{'ratio':>7}")
    rows: list[tuple[StepResult, float | None]] = [(read, None)] if read else []
    for write, imported in pairs.values():
        rows += [(r, _ratio(r, read, write) if r is imported else None)
                 for r in (write, imported) if r is not None]
    for result, ratio in rows:
        shown = f"{ratio:.1f}" if ratio is not None else ""
        print(f"{result.name:<38}{result.seconds:>9.2f}{result.cpu_seconds:>8.2f}"
              f"{result.rows_per_second:>10,.0f}{result.peak_rss_mib:>10.0f}{shown:>7}")
    print()
    for _, imported in pairs.values():
        if imported is not None:
            print(_targets(imported))
            print(f"  counts: {imported.detail['counts']}; rows stored: "
                  f"{imported.detail['stored']}")
            worker_cpu = imported.detail.get("worker_cpu_seconds", 0.0)
            print(f"  validation worker: {worker_cpu:.2f} CPU s, peak "
                  f"{imported.detail.get('worker_peak_rss_mib', 0.0):.0f} MiB; import CPU "
                  f"in total {imported.cpu_seconds + worker_cpu:.2f} s")


def _record(args: argparse.Namespace, read: StepResult | None,
            pairs: dict[str, list[StepResult | None]]) -> Path:
    steps = [read, *(r for pair in pairs.values() for r in pair)]
    document = {
        "rows": args.rows, "seed": args.seed, "machine_at_end": machine(),
        "steps": [{**vars(s), "rows_per_second": s.rows_per_second} for s in steps if s],
        "ratios": {b: _ratio(p[1], read, p[0]) for b, p in pairs.items() if p[1]},
    }
    target = OUT_DIR / f"import-{args.rows}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    target.write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    return target


def profile(args: argparse.Namespace, path: Path) -> None:
    """Run the SQLite import in this process under cProfile and print the hotspots."""
    workdir = Path(tempfile.mkdtemp(prefix="disburse-bench-profile."))
    url = f"sqlite:///{workdir / 'profile.sqlite3'}"
    _migrate(url)
    # CPU time, not wall time: other work on a shared machine must not skew the shares.
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    watch, counts = run_import(url, path, workdir / "keys")
    profiler.disable()
    stats_path = OUT_DIR / f"profile-import-{args.rows}.pstats"
    profiler.dump_stats(stats_path)
    print(f"profiled import: {watch.seconds:.1f} s wall, {watch.cpu_seconds:.1f} s CPU "
          f"(with profiler overhead), counts {counts}")
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(30)
    print(f"stats saved to {stats_path}")
    shutil.rmtree(workdir, ignore_errors=True)


def run_all(args: argparse.Namespace) -> None:
    """Parent mode: generate (cached), run each step in a child, print and record."""
    path, generated = ensure_list(args.rows, args.seed)
    made = f"generated in {generated:.1f} s" if generated is not None else "cached"
    print(f"list: {path} ({args.rows:,} rows, {made}); machine: {machine()}")
    if args.profile:
        profile(args, path)
        return
    workdir = Path(tempfile.mkdtemp(prefix="disburse-bench-import."))
    read = _child("read", args, path, workdir)
    pairs: dict[str, list[StepResult | None]] = {}
    if args.backend in ("sqlite", "both"):
        pairs["sqlite"] = _backend_steps("sqlite", args, path, workdir, None)
    if args.backend in ("postgresql", "both"):
        pairs["postgresql"] = _postgresql_steps(args, path, workdir)
    print_table(read, pairs)
    print(f"machine at the end: {machine()}")
    print(f"\nrecorded in {_record(args, read, pairs)}")
    if args.keep:
        print(f"kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (the ``--step`` family is for the child processes)."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split(
        "\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory, databases and PostgreSQL data directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per step, seconds")
    parser.add_argument("--profile", action="store_true",
                        help="profile the SQLite import in-process with cProfile instead")
    child = parser.add_argument_group("child process (internal)")
    child.add_argument("--step", choices=("read", "write-sqlite", "write-postgresql",
                                          "import-sqlite", "import-postgresql"))
    child.add_argument("--list")
    child.add_argument("--workdir")
    child.add_argument("--url")
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
