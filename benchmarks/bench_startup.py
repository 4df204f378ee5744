"""Start-up time of the ``disburse`` command line, against a bare Python interpreter.

Run: ``python -m benchmarks.bench_startup [--runs 10]``

Set-up (not measured): a fresh SQLite database in a temporary directory is migrated and a
keyring made, so that the light commands have something to read. Each command below then runs
``--runs`` times, each time in a fresh process, measured from outside (``os.wait4``):

* ``python -c pass``: the raw baseline, an interpreter that starts and exits;
* ``disburse --help``: the command list (no command module, no app);
* ``disburse users list``, ``disburse db current``, ``disburse batch list``: light commands
  (the app is created, one small query runs).

Printed per command: the median wall and CPU seconds, the largest peak RSS and the ratio of the
median wall time to the baseline's. Timings are never asserted (the test
``tests/unit/test_cli_startup.py`` checks which modules load instead).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import (
    BenchmarkError,
    ProcessUsage,
    StepResult,
    machine,
    print_steps,
    run_measured,
    save_record,
)

MODULE = "benchmarks.bench_startup"
#: The light commands measured besides ``--help``.
LIGHT_COMMANDS = (("users", "list"), ("db", "current"), ("batch", "list"))


def disburse_command() -> list[str]:
    """Return how to run ``disburse``: the console script beside this interpreter if any."""
    script = Path(sys.executable).with_name("disburse")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from disburse.entry.cli.main import main; main()"]


def fresh_environment(root: Path) -> dict[str, str]:
    """Return an environment whose database, logs and keyring live under ``root``, set up."""
    env = {**os.environ, "DISBURSE_DATA_DIR": str(root / "var"),
           "DISBURSE_LOG_DIR": str(root / "log"), "DISBURSE_KEY_DIR": str(root / "keys")}
    env.pop("DISBURSE_DATABASE_URL", None)
    for setup in (("db", "upgrade"), ("keys", "init")):
        done = subprocess.run([*disburse_command(), *setup], env=env, capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise BenchmarkError(f"disburse {' '.join(setup)}: {done.stderr.strip()}")
    return env


def measure(name: str, command: list[str], runs: int, env: dict[str, str]) -> StepResult:
    """Run ``command`` ``runs`` times; return the medians (wall, CPU) and the largest peak."""
    usages: list[ProcessUsage] = []
    for _ in range(runs):
        usage = run_measured(command, env=env, quiet=True)
        if usage.returncode != 0:
            raise BenchmarkError(f"{name}: exit {usage.returncode}")
        usages.append(usage)
    walls = [u.seconds for u in usages]
    return StepResult(name, statistics.median(walls),
                      statistics.median(u.cpu_seconds for u in usages), 1,
                      max(u.peak_rss_mib for u in usages),
                      {"runs": runs, "min_seconds": min(walls), "max_seconds": max(walls)})


def run(runs: int) -> list[StepResult]:
    """Measure the baseline, ``--help`` and the light commands; return them, baseline first."""
    root = Path(tempfile.mkdtemp(prefix="disburse-bench-startup."))
    try:
        env = fresh_environment(root)
        disburse = disburse_command()
        steps = [("python -c pass", [sys.executable, "-c", "pass"]),
                 ("disburse --help", [*disburse, "--help"])]
        steps += [(f"disburse {' '.join(c)}", [*disburse, *c]) for c in LIGHT_COMMANDS]
        return [measure(name, command, runs, env) for name, command in steps]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: measure, print the table and record it under ``benchmarks/results``."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per command (median shown)")
    args = parser.parse_args(argv)
    print(f"start-up, {args.runs} runs per command; machine: {machine()}")
    results = run(args.runs)
    print_steps(results, results[0], unit="runs")
    document = {"runs": args.runs, "machine_at_end": machine(),
                "steps": [vars(r) for r in results],
                "ratios": {r.name: r.seconds / results[0].seconds for r in results[1:]}}
    print(f"\nrecorded in {save_record('startup', document)}")


if __name__ == "__main__":
    main()
