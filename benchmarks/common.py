"""Helpers shared by the benchmarks: timing, peak RSS, child steps and a throwaway PostgreSQL.

Each measured step runs in a child process of its own, so that the peak resident set size
reported by ``getrusage`` belongs to that step alone. A child writes its result as JSON to a
file named by the parent; nothing is parsed out of its stdout.

This module imports no database or application code at the top: the parent that starts the
children stays small, and a child's peak RSS (which starts from its parent's size when forked)
is not inflated by it.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

#: Generated inputs are cached here (git-ignored), keyed by their parameters.
OUT_DIR = Path(__file__).resolve().parent / "out"
#: Records of whole runs (``python -m benchmarks.run``) are written here.
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: libpq-style base URL of an existing server to use instead of starting one.
PG_URL_ENV = "DISBURSE_BENCH_PG_URL"
_MIB = 1024 * 1024


class BenchmarkError(RuntimeError):
    """A benchmark step or its set-up failed; the message carries the child's stderr tail."""


def peak_rss_bytes() -> int:
    """Return this process's own peak resident set size in bytes.

    On Linux this is ``VmHWM`` of the process's address space: ``ru_maxrss`` is not, because
    a child started by ``subprocess`` inherits its parent's high-water mark, so every step
    would report at least the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for row in status:
                if row.startswith("VmHWM:"):
                    return int(row.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def audit_with_keyring(key_dir: Path) -> None:
    """Key the audit trail of this process's sessions with the keyring in ``key_dir``.

    The app's session factory puts its keyring's key source on its own sessions; a benchmark
    makes its sessions outside the app, and without this they would look for the user's
    keyring (and stop with "run `disburse keys init`" on a fresh machine).
    """
    from disburse.core import audit

    audit.set_default_key_source(audit.KeyringKeySource(key_dir))


def mib(size: int) -> float:
    """Convert bytes to MiB."""
    return size / _MIB


class Stopwatch:
    """Wall-clock and CPU timer for a ``with`` block.

    ``seconds`` is wall time (``time.perf_counter``); ``cpu_seconds`` is this process's user +
    system CPU time (``time.process_time``), which other load on the machine barely moves.
    A database server's own CPU is in neither.
    """

    def __init__(self) -> None:
        """Start unstarted: both figures are 0 until the block ends."""
        self.seconds = self.cpu_seconds = 0.0
        self._start = self._cpu_start = 0.0

    def __enter__(self) -> Stopwatch:
        self._start, self._cpu_start = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.seconds = time.perf_counter() - self._start
        self.cpu_seconds = time.process_time() - self._cpu_start


@dataclass
class StepResult:
    """What one measured step reports.

    Attributes:
        name: Step name as printed in the table.
        seconds: Wall-clock seconds of the measured part only.
        cpu_seconds: CPU seconds (user + system) of the child during the measured part.
        rows: Rows the step handled.
        peak_rss_mib: Peak RSS of the whole child process, MiB.
        detail: Step-specific figures (import counts, backend, ...).
    """

    name: str
    seconds: float
    cpu_seconds: float
    rows: int
    peak_rss_mib: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        """Throughput of the measured part."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def save(self, path: Path) -> None:
        """Write the result as JSON to ``path``."""
        path.write_text(json.dumps(asdict(self), default=str), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> StepResult:
        """Read a result written by ``save``."""
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def run_child(module: str, args: list[str], *, workdir: Path, timeout: float) -> StepResult:
    """Run ``python -m module args --result FILE`` in a fresh process and load its result.

    Raises:
        BenchmarkError: the child exited non-zero or timed out (stderr tail included).
    """
    result_path = workdir / f"result-{uuid.uuid4().hex[:8]}.json"
    command = [sys.executable, "-m", module, *args, "--result", str(result_path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"{' '.join(args)}: no result within {timeout:.0f} s") from None
    if done.returncode != 0 or not result_path.exists():
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise BenchmarkError(f"{' '.join(args)}: exit {done.returncode}\n{tail}")
    return StepResult.load(result_path)


@dataclass(frozen=True)
class ProcessUsage:
    """What one finished child process used, as the kernel counted it.

    Attributes:
        seconds: Wall-clock seconds from start to exit.
        cpu_seconds: User + system CPU of the child and of the children it waited for.
        peak_rss_mib: The largest peak RSS among the child and its waited-for children, MiB.
        returncode: The exit status (negative: killed by that signal).
    """

    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    returncode: int


def run_measured(command: Sequence[str], *, env: dict[str, str] | None = None,
                 cwd: Path | None = None, quiet: bool = False) -> ProcessUsage:
    """Run ``command`` to its end and return its wall time, CPU seconds and peak RSS.

    ``os.wait4`` gives the usage of this child alone (with the descendants it reaped), so the
    figures hold even when the caller has run other children before. With ``quiet`` the
    child's output is discarded; otherwise it goes to this process's stdout and stderr.
    """
    sink = subprocess.DEVNULL if quiet else None
    start = time.perf_counter()
    child = subprocess.Popen(list(command), env=env, cwd=cwd, stdout=sink, stderr=sink)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    peak = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    return ProcessUsage(seconds, usage.ru_utime + usage.ru_stime, mib(peak), child.returncode)


def git_commit() -> str:
    """Return the short commit the figures were measured on (``-dirty`` with local edits)."""
    done = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                          text=True, check=False, cwd=Path(__file__).resolve().parent)
    return done.stdout.strip() or "unknown"


def machine() -> dict[str, Any]:
    """Describe where (and on which code) the figures were measured."""
    return {"nproc": os.cpu_count(), "python": platform.python_version(), "commit": git_commit(),
            "platform": platform.platform(), "at": datetime.now(UTC).isoformat(),
            # Other work on the machine inflates wall times; CPU seconds are the steadier figure.
            "loadavg_1m": round(os.getloadavg()[0], 2)}


def print_steps(results: Sequence[StepResult], baseline: StepResult | None, *,
                unit: str = "rows") -> None:
    """Print each step's seconds, CPU seconds, throughput, peak RSS and ratio to ``baseline``.

    The ratio is the step's wall seconds over the baseline's (blank for the baseline itself).
    """
    print(f"\n{'step':<40}{'seconds':>9}{'CPU s':>8}{unit + '/s':>12}{'peak MiB':>10}"
          f"{'ratio':>7}")
    for result in results:
        ratio = ("" if baseline is None or result is baseline or baseline.seconds <= 0
                 else f"{result.seconds / baseline.seconds:.1f}")
        print(f"{result.name:<40}{result.seconds:>9.3f}{result.cpu_seconds:>8.3f}"
              f"{result.rows_per_second:>12,.1f}{result.peak_rss_mib:>10.0f}{ratio:>7}")


def save_record(kind: str, document: dict[str, Any]) -> Path:
    """Write ``document`` as JSON to ``RESULTS_DIR/<kind>-<UTC time>.json``; return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    target = RESULTS_DIR / f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    target.write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    return target


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and the server refuse to run as root: drop to the postgres user as CI does.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


class PostgresServer:
    """A throwaway PostgreSQL cluster on a loopback port in a temporary directory.

    Started the way ``.ci/run`` starts one (``initdb`` with trust auth, ``pg_ctl start``), but
    with the server's default durability settings (``fsync`` stays on). Use as a context
    manager; ``keep`` leaves the (stopped) data directory in place.
    """

    def __init__(self, *, keep: bool = False) -> None:
        """Prepare, but do not start, a cluster."""
        self.keep = keep
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="disburse-bench-pg."))
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Create the cluster and start the server; wait until it accepts connections.

        Raises:
            BenchmarkError: ``initdb`` or ``pg_ctl`` is missing or failed.
        """
        if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
            raise BenchmarkError("initdb/pg_ctl not on PATH: install PostgreSQL 15 or set "
                                 f"{PG_URL_ENV}")
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        data = str(self.root / "data")
        self._run(["initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--locale=C.UTF-8"])
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"
        self._run(["pg_ctl", "-D", data, "-o", options, "-l", str(self.root / "server.log"),
                   "-w", "start"])

    def stop(self) -> None:
        """Stop the server (fast mode) and remove its directory unless ``keep``."""
        data = str(self.root / "data")
        if (self.root / "data" / "postmaster.pid").exists():
            subprocess.run(_as_postgres(["pg_ctl", "-D", data, "-m", "fast", "stop"]),
                           capture_output=True, check=False)
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(_as_postgres(command), capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise BenchmarkError(f"{command[0]} failed: {done.stderr.strip() or done.stdout}")


def create_database(admin_url: str, prefix: str) -> str:
    """Create a new, empty database on the server of ``admin_url``; return its URL."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from disburse.core.db import make_engine

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    """Drop the database of ``url`` (forcing out any leftover connection)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from disburse.core.db import make_engine

    name = make_url(url).database
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def libpq_url(url: str) -> str:
    """Turn a SQLAlchemy PostgreSQL URL into one that psycopg accepts."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
