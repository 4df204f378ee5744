"""Fixtures that start the reference population registry (``disburse.entry.popdb``) as a process.

The registry runs as a real child process on 127.0.0.1, started the way an operator would
(``python -m disburse.entry.popdb serve``); the fixtures wait for its "listening" line and stop
it at teardown.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
POPDB_TOKEN = "popdb-test-token"
_LISTENING = re.compile(r"popdb listening on http://127\.0\.0\.1:(\d+) \((\d+) records\)")


@dataclass
class PopdbProcess:
    """A running registry process and how to reach it."""

    process: subprocess.Popen[str]
    port: int
    records: int
    log: Path
    token: str = POPDB_TOKEN

    @property
    def base_url(self) -> str:
        """The registry's root URL."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL if it lingers)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def run_popdb(args: Sequence[str], log: Path) -> subprocess.Popen[str]:
    """Start ``python -m disburse.entry.popdb ARGS`` with stdout piped and stderr to ``log``."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    with log.open("w", encoding="utf-8") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "disburse.entry.popdb", *args],
            stdout=subprocess.PIPE, stderr=err, text=True, encoding="utf-8", env=env,
            cwd=REPO_ROOT,
        )


def start_popdb(
    data: Path, workdir: Path, *, port: int = 0, faults: bool = True,
    extra: Sequence[str] = (), timeout: float = 20.0,
) -> PopdbProcess:
    """Start a registry serving ``data`` and wait until it listens."""
    log = workdir / f"popdb-{port or 'any'}-{os.urandom(3).hex()}.log"
    args = ["serve", "--data", str(data), "--port", str(port), "--token", POPDB_TOKEN,
            "--db", str(workdir / f"popdb-{os.urandom(3).hex()}.sqlite"), *extra]
    process = run_popdb([*args, "--faults"] if faults else args, log)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else ""
    match = _LISTENING.search(line)
    if match is None:
        process.kill()
        process.wait(timeout=5)
        raise RuntimeError(f"popdb did not start: {line!r}\n{log.read_text(encoding='utf-8')}")
    return PopdbProcess(process, int(match.group(1)), int(match.group(2)), log)


@dataclass
class PopdbLauncher:
    """Starts registry processes on demand and stops every one of them at teardown."""

    workdir: Path
    started: list[PopdbProcess] = field(default_factory=list)

    def start(self, data: Path, *, port: int = 0, faults: bool = True) -> PopdbProcess:
        """Start a registry serving the CSV ``data`` (on ``port``, or a free one when 0)."""
        server = start_popdb(data, self.workdir, port=port, faults=faults)
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        """Stop every process this launcher started."""
        for server in self.started:
            server.stop()


@pytest.fixture(scope="session")
def popdb_token() -> str:
    """The bearer token every test registry is started with."""
    return POPDB_TOKEN


@pytest.fixture
def popdb_launcher(tmp_path: Path) -> Iterator[PopdbLauncher]:
    """Start registries within one test (e.g. to stop and restart one)."""
    launcher = PopdbLauncher(tmp_path)
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="module")
def popdb_module_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PopdbLauncher]:
    """Start registries shared by the tests of one module."""
    launcher = PopdbLauncher(tmp_path_factory.mktemp("popdb"))
    yield launcher
    launcher.stop_all()
