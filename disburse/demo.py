"""The end-to-end demo run by ``make demo``, on the embedded SQLite default.

It sets up a fresh machine (schema, keyring, users), generates a synthetic population and the
month's beneficiary lists, starts the reference population registry as a real process on a
loopback port, imports the lists and verifies every beneficiary against the registry. Each
step is a real ``disburse`` command, printed before it runs.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

DISBURSE = str(Path(sys.executable).parent / "disburse")
PROGRAMMES = ("pension", "social_protection", "revolutionary", "unemployment")


def _run(*args: str, stdin: str | None = None, check: bool = True) -> int:
    print(f"\n$ disburse {' '.join(args)}", flush=True)
    return subprocess.run([DISBURSE, *args], input=stdin, text=True, check=check).returncode


def _setup(demo_dir: Path) -> None:
    _run("db", "upgrade")
    if not (Path(os.environ["DISBURSE_KEY_DIR"]) / "keyring.json").exists():
        _run("keys", "init")
    listed = subprocess.run([DISBURSE, "users", "list"], capture_output=True, text=True,
                            check=True).stdout
    for name, role in (("demo.preparer", "preparer"), ("demo.approver", "approver"),
                       ("demo.auditor", "auditor")):
        if f"{name}\t" not in listed:
            _run("users", "add", name, "--role", role, "--password-stdin",
                 stdin=secrets.token_urlsafe(18) + "\n")


def _start_registry(population: Path, demo_dir: Path, token: str
                    ) -> tuple[subprocess.Popen[str], str]:
    print("\n$ disburse popdb serve --data population.csv --port 0 (background)", flush=True)
    process = subprocess.Popen(
        [DISBURSE, "popdb", "serve", "--data", str(population), "--port", "0", "--token", token,
         "--db", str(demo_dir / "popdb.sqlite3")],
        stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    print(line.strip(), flush=True)
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if match is None:
        process.kill()
        raise SystemExit("the population registry did not start")
    return process, f"http://127.0.0.1:{match.group(1)}"


def main() -> None:
    """Run the demo against a database and keyring under ``var/demo``."""
    demo_dir = Path("var/demo").resolve()
    demo_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DISBURSE_DATA_DIR", str(demo_dir))
    os.environ.setdefault("DISBURSE_KEY_DIR", str(demo_dir / "keys"))
    _setup(demo_dir)
    population, lists = demo_dir / "population.csv", demo_dir / "lists"
    _run("synth", "population", "--count", "20000", "--out", str(population), "--seed", "2026")
    _run("synth", "lists", "--population", str(population), "--out", str(lists),
         "--seed", "2026")
    token = secrets.token_urlsafe(24)
    registry, url = _start_registry(population, demo_dir, token)
    os.environ.update(DISBURSE_REGISTRY_URL=url, DISBURSE_REGISTRY_TOKEN=token)
    try:
        for programme in PROGRAMMES:
            # all-or-nothing first: the synthetic lists carry defects, so staff see the
            # rejection report; then the valid rows are accepted and the rest reported.
            if _run("beneficiaries", "import", str(lists / f"{programme}_2026-11.csv"),
                    "--program", programme, "--actor", "demo.preparer", check=False) != 0:
                _run("beneficiaries", "import", str(lists / f"{programme}_2026-11.csv"),
                     "--program", programme, "--actor", "demo.preparer", "--accept-valid",
                     check=False)
        _run("verify", "--actor", "demo.nightly")
        _run("beneficiaries", "list", "--status", "suspended", "--limit", "5")
    finally:
        registry.terminate()
        registry.wait(timeout=10)
    _run("audit", "verify")


if __name__ == "__main__":
    main()
