"""Run every benchmark at one size and keep one record of the run (``make bench``).

Run: ``python -m benchmarks.run [--size 10k|100k|1m] [--only NAME ...] [--backend sqlite|both]``

Each benchmark module runs as it does on its own (``python -m benchmarks.bench_<name>``, which
measures its steps in child processes and prints its table with raw baselines and ratios);
this harness starts them one after another, measures each whole run from outside (wall
seconds, CPU seconds of it and its children, peak RSS, through ``benchmarks.common``), prints a
summary and writes one JSON record to ``benchmarks/results/run-<size>-<time>.json`` holding the
summary and the records the benchmarks wrote themselves. The default size finishes in a few
minutes on a 2-core machine; PostgreSQL (``--backend both``) needs ``initdb`` or
``DISBURSE_BENCH_PG_URL``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.common import OUT_DIR, RESULTS_DIR, machine, run_measured, save_record

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}


@dataclass(frozen=True)
class Benchmark:
    """One benchmark module and how to ask it for ``count`` items."""

    name: str
    module: str
    arguments: Callable[[int, str], list[str]]


BENCHMARKS = (
    Benchmark("startup", "benchmarks.bench_startup", lambda count, backend: ["--runs", "10"]),
    Benchmark("import", "benchmarks.bench_import",
              lambda count, backend: ["--rows", str(count), "--backend", backend]),
    Benchmark("verify", "benchmarks.bench_verify", lambda count, backend: ["--count", str(count)]),
    Benchmark("batch_files", "benchmarks.bench_batch_files",
              lambda count, backend: ["--count", str(count)]),
    Benchmark("pain001_writer", "benchmarks.bench_pain001_writer",
              lambda count, backend: ["--count", str(count)]),
    Benchmark("reconcile", "benchmarks.bench_reconcile",
              lambda count, backend: ["--count", str(count)]),
)


def _new_records(since: float) -> list[dict[str, Any]]:
    """The JSON records benchmarks wrote (under ``out/`` or ``results/``) after ``since``."""
    found = []
    for folder in (OUT_DIR, RESULTS_DIR):
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            if path.stat().st_mtime >= since and not path.name.startswith("run-"):
                found.append({"file": path.name,
                              "record": json.loads(path.read_text(encoding="utf-8"))})
    return found


def run_one(benchmark: Benchmark, count: int, backend: str) -> dict[str, Any]:
    """Run one benchmark module to its end; return its outside figures and its records."""
    command = [sys.executable, "-m", benchmark.module, *benchmark.arguments(count, backend)]
    print(f"\n=== {benchmark.name}: {' '.join(command[1:])}", flush=True)
    since = time.time() - 1
    usage = run_measured(command)
    return {"name": benchmark.name, "command": command[1:], "returncode": usage.returncode,
            "seconds": usage.seconds, "cpu_seconds": usage.cpu_seconds,
            "peak_rss_mib": usage.peak_rss_mib, "records": _new_records(since)}


def print_summary(runs: list[dict[str, Any]]) -> None:
    """Print one line per benchmark: outcome, wall and CPU seconds, peak RSS."""
    print(f"\n{'benchmark':<18}{'outcome':>9}{'seconds':>10}{'CPU s':>9}{'peak MiB':>10}")
    for run in runs:
        outcome = "ok" if run["returncode"] == 0 else f"exit {run['returncode']}"
        print(f"{run['name']:<18}{outcome:>9}{run['seconds']:>10.1f}{run['cpu_seconds']:>9.1f}"
              f"{run['peak_rss_mib']:>10.0f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run",
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="10k",
                        help="items per benchmark (rows, people, instructions, entries)")
    parser.add_argument("--only", nargs="+", choices=[b.name for b in BENCHMARKS],
                        help="run only these benchmarks")
    parser.add_argument("--backend", choices=("sqlite", "both"), default="sqlite",
                        help="database of the import benchmark (both: PostgreSQL too)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks, print the summary, record it; exit 1 if one failed."""
    args = parse_args(argv)
    count = SIZES[args.size]
    chosen = [b for b in BENCHMARKS if not args.only or b.name in args.only]
    at_start = machine()
    print(f"benchmarks at size {args.size} ({count:,}): {[b.name for b in chosen]}; "
          f"machine: {at_start}")
    runs = [run_one(benchmark, count, args.backend) for benchmark in chosen]
    print_summary(runs)
    record = save_record(f"run-{args.size}", {
        "size": args.size, "count": count, "backend": args.backend,
        "machine_at_start": at_start, "machine_at_end": machine(), "benchmarks": runs})
    print(f"\nrecorded in {record}")
    return 0 if all(run["returncode"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
